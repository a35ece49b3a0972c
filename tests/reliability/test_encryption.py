"""With WARROOM_CODEC_KEYS set, the Temporal server stores only ciphertext; the codec server lets
operators read it; keys rotate without losing old incidents."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import httpx
import pytest
from google.protobuf import json_format
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from tests.helpers import assert_eventually, incident_input, running_worker, state_of
from tests.history_scan import payload_encodings
from warroom.codec import ENCODING, CodecError, EncryptionCodec, codec_app, encrypted_converter, new_key, parse_key_ring
from warroom.enums import Phase, Severity

MARKER = "customer-acme-ledger-7731"
K1, K2 = new_key(), new_key()


async def test_the_server_stores_only_ciphertext(dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    target = dev_env.client.service_client.config.target_host
    keys = parse_key_ring(f"k1:{K1}")
    secure = await Client.connect(target, data_converter=encrypted_converter(pydantic_data_converter, keys))
    async with running_worker(secure, tmp_path) as harness:
        handle = await harness.start(
            incident_input(
                summary=f"ledger errors for {MARKER}",
                declared=True,
                declared_by="alice",
                severity=Severity.P2,
                commander="alice",
            )
        )

        async def commanding() -> None:
            assert (await state_of(handle)).phase == Phase.COMMAND

        await assert_eventually(commanding)
        assert MARKER in (await state_of(handle)).summary  # readable with the keys

        raw = await dev_env.client.get_workflow_handle(handle.id).fetch_history()  # no codec: what the server has
        children = [await dev_env.client.get_workflow_handle(f"{handle.id}--declare").fetch_history()]
        assert all(MARKER not in h.to_json() for h in [raw, *children])
        encodings = [encoding for h in [raw, *children] for encoding in payload_encodings(h)]
        assert encodings and set(encodings) == {ENCODING}, "every payload the converter wrote is ciphertext"
        print(f"\n[encryption] {len(encodings)} payloads stored, all ciphertext; the incident text in clear 0 times")


async def test_a_rotated_ring_still_reads_old_payloads_and_an_unknown_key_fails() -> None:
    old = EncryptionCodec(parse_key_ring(f"k1:{K1}"))
    sealed = await old.encode([pydantic_data_converter.payload_converter.to_payloads([{"summary": MARKER}])[0]])
    rotated = EncryptionCodec(parse_key_ring(f"k2:{K2},k1:{K1}"))
    assert (await rotated.decode(sealed))[0].data == b'{"summary":"customer-acme-ledger-7731"}'
    assert (await rotated.encode(sealed))[0].metadata["encryption-key-id"] == b"k2"
    with pytest.raises(CodecError, match="unknown key id 'k1'"):
        await EncryptionCodec(parse_key_ring(f"k2:{K2}")).decode(sealed)
    tampered = sealed[0].__class__()
    tampered.CopyFrom(sealed[0])
    tampered.data = tampered.data[:-1] + bytes([tampered.data[-1] ^ 1])
    with pytest.raises(CodecError, match="failed authentication"):
        await rotated.decode([tampered])


@pytest.mark.parametrize("ring", ["", "k1", "k1:notbase64!", f"k1:{base64.b64encode(b'short').decode()}"])
def test_a_malformed_key_ring_is_refused(ring: str) -> None:
    with pytest.raises(CodecError):
        parse_key_ring(ring)


async def test_the_codec_server_decodes_for_the_web_ui_behind_its_token() -> None:
    codec = EncryptionCodec(parse_key_ring(f"k1:{K1}"))
    sealed = await codec.encode([pydantic_data_converter.payload_converter.to_payloads([MARKER])[0]])
    body = json.dumps({"payloads": [json_format.MessageToDict(p) for p in sealed]})
    app = codec_app(parse_key_ring(f"k1:{K1}"), token="s3cret")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://codec") as http:
        assert (await http.post("/decode", content=body)).status_code == 401
        assert (await http.post("/decode", content=body, headers={"Authorization": "Bearer wrong"})).status_code == 403
        answer = await http.post("/decode", content=body, headers={"Authorization": "Bearer s3cret"})
        assert answer.status_code == 200
        data = base64.b64decode(answer.json()["payloads"][0]["data"])
        assert data == json.dumps(MARKER).encode()
        assert (
            await http.post("/decode", content="{not json", headers={"Authorization": "Bearer s3cret"})
        ).status_code == 422
