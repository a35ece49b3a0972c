"""Large payloads are stored zlib-compressed in Temporal's `binary/zlib` format; small ones stay
readable; everything reads back, through the SDK, the audit's replay and the codec server."""

from __future__ import annotations

import base64
import json
import os
import zlib
from pathlib import Path

import httpx
import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload
from temporalio.api.sdk.v1 import WorkflowDefinition, WorkflowInteractionDefinition, WorkflowMetadata
from temporalio.testing import WorkflowEnvironment

from tests.helpers import assert_eventually, incident_input, running_worker, state_of
from tests.history_scan import payload_encodings
from warroom.audit import audit_rows, incident_histories, verify
from warroom.client import DATA_CONVERTER, data_converter
from warroom.codec import EncryptionCodec, codec_app, encrypted_converter, new_key, parse_key_ring
from warroom.compression import (
    COMPRESS_OVER,
    DECOMPRESSED_LIMIT,
    ENCODING,
    ChainCodec,
    CompressionCodec,
    CompressionError,
    decode_one,
)
from warroom.enums import Phase, Severity
from warroom.settings import Settings

CONVERTER = DATA_CONVERTER.payload_converter


def big_json() -> Payload:
    """A JSON payload like an incident's state: repetitive keys, well over COMPRESS_OVER."""
    timeline = [{"kind": "alert", "text": f"order-api 503 rate {i}%", "by": "alertmanager"} for i in range(60)]
    return CONVERTER.to_payloads([{"service": "order-api", "timeline": timeline}])[0]


async def test_a_large_payload_is_compressed_and_reads_back_the_same() -> None:
    plain = big_json()
    [packed] = await CompressionCodec().encode([plain])
    assert packed.metadata["encoding"] == ENCODING
    assert len(packed.data) * 3 < plain.ByteSize(), (len(packed.data), plain.ByteSize())
    assert Payload.FromString(zlib.decompress(packed.data)) == plain, "the features spec: zlib of the inner Payload"
    assert await CompressionCodec().decode([packed]) == [plain]


async def test_small_dense_and_sdk_payloads_stay_as_they_are() -> None:
    small = CONVERTER.to_payloads([{"by": "alice", "step_id": "rollback-1"}])[0]
    dense = Payload(metadata={"encoding": b"json/plain"}, data=os.urandom(4 * COMPRESS_OVER))
    handlers = [
        WorkflowInteractionDefinition(name=f"update_{i}", description="approve or deny a step " * 5) for i in range(20)
    ]
    metadata = CONVERTER.to_payloads([WorkflowMetadata(definition=WorkflowDefinition(update_definitions=handlers))])[0]
    assert metadata.metadata["encoding"] == b"json/protobuf" and metadata.ByteSize() > 2 * COMPRESS_OVER
    assert await CompressionCodec().encode([small, dense, metadata]) == [small, dense, metadata]
    assert small.metadata["encoding"] == b"json/plain"  # the Web UI shows it without a codec server
    # and reads a workflow's handlers (the `__temporal_workflow_metadata` query) to offer "Send an Update"


async def test_with_compression_off_nothing_is_compressed_but_compressed_payloads_still_read() -> None:
    plain = big_json()
    [packed] = await CompressionCodec().encode([plain])
    off = CompressionCodec(compress=False)
    assert await off.encode([plain]) == [plain]
    assert await off.decode([packed]) == [plain]


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"not zlib at all", "not valid zlib"),
        (zlib.compress(b"x" * (DECOMPRESSED_LIMIT + 1)), "expands past"),
        (zlib.compress(big_json().SerializeToString())[:-12], "truncated"),
        (zlib.compress(b"\xff" * 64), "does not hold a Payload"),
    ],
    ids=["junk", "bomb", "truncated", "not-a-payload"],
)
def test_a_broken_compressed_payload_is_refused_with_its_reason(data: bytes, reason: str) -> None:
    with pytest.raises(CompressionError, match=reason):
        decode_one(Payload(metadata={"encoding": ENCODING}, data=data))


async def test_with_encryption_the_payload_is_compressed_first_then_sealed() -> None:
    keys = parse_key_ring(f"k1:{new_key()}")
    converter = encrypted_converter(DATA_CONVERTER, keys)
    assert converter.payload_codec is not None
    plain = big_json()
    [sealed] = await converter.payload_codec.encode([plain])
    assert sealed.metadata["encoding"] == b"binary/encrypted"
    assert len(sealed.data) * 3 < plain.ByteSize(), "encrypted bytes do not compress: compression ran first"
    [inner] = await EncryptionCodec(keys).decode([sealed])
    assert inner.metadata["encoding"] == ENCODING
    assert await converter.payload_codec.decode([sealed]) == [plain]
    assert await ChainCodec([CompressionCodec(), EncryptionCodec(keys)]).decode([sealed]) == [plain]


def test_settings_turn_compression_off_and_an_empty_key_ring_means_none() -> None:
    settings = Settings(payload_compression=False, codec_keys="")
    assert settings.codec_keys is None, "docker-compose passes ${WARROOM_CODEC_KEYS:-} when unset"
    codec = data_converter(settings).payload_codec
    assert isinstance(codec, CompressionCodec) and not codec.compress


async def test_the_codec_server_shows_compressed_payloads_without_keys_and_refuses_a_bomb() -> None:
    plain = big_json()
    [packed] = await CompressionCodec().encode([plain])
    app = codec_app(None, token=None)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://codec") as http:
        body = json.dumps({"payloads": [json_format.MessageToDict(packed)]})
        answer = await http.post("/decode", content=body)
        assert answer.status_code == 200, answer.text
        shown = json_format.ParseDict(answer.json()["payloads"][0], Payload())
        assert shown == plain
        bomb = Payload(metadata={"encoding": ENCODING}, data=zlib.compress(b"\0" * (DECOMPRESSED_LIMIT + 1)))
        refused = await http.post("/decode", content=json.dumps({"payloads": [json_format.MessageToDict(bomb)]}))
        assert refused.status_code == 422 and "expands past" in refused.json()["detail"], refused.text
        encoded = await http.post("/encode", content=json.dumps({"payloads": [json_format.MessageToDict(plain)]}))
        assert base64.b64decode(encoded.json()["payloads"][0]["metadata"]["encoding"]) == ENCODING


async def test_an_incident_stores_its_large_payloads_compressed_and_reads_and_replays_them(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    client = dev_env.client  # DATA_CONVERTER: what every warroom process writes with by default
    async with running_worker(client, tmp_path) as harness:
        handle = await harness.start(
            incident_input(declared=True, declared_by="alice", severity=Severity.P2, commander="alice")
        )

        async def commanding() -> None:
            assert (await state_of(handle)).phase == Phase.COMMAND

        await assert_eventually(commanding)
        histories = await incident_histories(client, handle.id)
        start = histories[0].events[0].workflow_execution_started_event_attributes.input.payloads[0]
        assert start.metadata["encoding"] == ENCODING, "the start input carries the runbook: over 1 KiB"
        inflated = decode_one(start).ByteSize()
        encodings = [e for h in histories for e in payload_encodings(h)]
        compressed = encodings.count(ENCODING)
        print(
            f"\n[compression] start input {start.ByteSize()} bytes stored for {inflated} "
            f"({inflated / start.ByteSize():.1f}x); {compressed} of {len(encodings)} payloads compressed"
        )
        assert inflated > 2 * start.ByteSize()
        assert b"json/plain" in encodings, "small payloads stay readable"
        assert (await state_of(handle)).commander == "alice"  # queries answer through the codec
        rows = await audit_rows(histories, client.data_converter)
        assert rows[0].event == "workflow_execution_started"
        assert "Order API returning 503s" in rows[0].summary, "the audit reads the compressed start input"
        checks = await verify(histories)  # `warroom audit --verify`'s default converter
        assert checks and all(check.ok for check in checks), [c.problem for c in checks if not c.ok]
