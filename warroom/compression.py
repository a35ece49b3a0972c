"""Payload compression: the incidents' large payloads (runbook, state) stored zlib-compressed.

Why: a worker keeps a cached run's history payloads in memory, more than one copy of each
(bench/payload_memory_bench.py), and an incident's largest payloads, its start input and each
phase's, carry the runbook and the state; JSON like that shrinks about 3x
(bench/compression_bench.py). Histories shrink with it. The format is Temporal's own `binary/zlib`
(the Go SDK's ZlibCodec, the features repo's spec): the inner Payload serialized, then zlib. Only
payloads over COMPRESS_OVER bytes that come out smaller are compressed, so small ones (update
arguments, ids) stay readable in the Web UI without the codec server. Decoding is always on:
histories written before, or with compression off, read the same.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

ENCODING = b"binary/zlib"
COMPRESS_OVER = 1024
"""Bytes of a serialized payload above which it is compressed: below, the saving is a few bytes
and the payload would no longer read as JSON in the Web UI."""
COMPRESSED_ENCODING = b"json/plain"
"""Only warroom's own JSON is compressed. The SDK's protobuf payloads stay as they are: the Web UI
reads a workflow's handler list (the `__temporal_workflow_metadata` query, `json/protobuf`) to
offer "Send an Update", and must do so without a codec server."""
LEVEL = 6
DECOMPRESSED_LIMIT = 8 * 1024 * 1024
"""Bytes one payload may decompress to: four times Temporal's default 2 MB payload limit, so a
crafted payload sent to the codec server cannot expand without bound (a zip bomb)."""


class CompressionError(Exception):
    """A `binary/zlib` payload that is not valid zlib, expands past DECOMPRESSED_LIMIT, or is no Payload."""


class CompressionCodec(PayloadCodec):
    """zlib over payloads larger than `over` bytes; `compress=False` only decompresses (a rollout
    where some processes cannot read compressed payloads yet, see the README)."""

    def __init__(self, compress: bool = True, over: int = COMPRESS_OVER) -> None:
        self.compress = compress
        self.over = over

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encode_one(payload) for payload in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [decode_one(payload) for payload in payloads]

    def encode_one(self, payload: Payload) -> Payload:
        if not self.compress or payload.metadata.get("encoding") != COMPRESSED_ENCODING:
            return payload
        plain = payload.SerializeToString()
        if len(plain) <= self.over:
            return payload
        packed = zlib.compress(plain, LEVEL)
        if len(packed) >= len(plain):
            return payload  # already dense (encrypted upstream, random bytes): leave it
        return Payload(metadata={"encoding": ENCODING}, data=packed)


def decode_one(payload: Payload) -> Payload:
    if payload.metadata.get("encoding") != ENCODING:
        return payload
    inflater = zlib.decompressobj()
    try:
        plain = inflater.decompress(payload.data, DECOMPRESSED_LIMIT)
    except zlib.error as exc:
        raise CompressionError(f"a binary/zlib payload is not valid zlib: {exc}") from None
    if inflater.unconsumed_tail:
        raise CompressionError(f"a binary/zlib payload expands past {DECOMPRESSED_LIMIT} bytes")
    if not inflater.eof:
        raise CompressionError("a binary/zlib payload is truncated")
    try:
        return Payload.FromString(plain)
    except Exception:  # protobuf's DecodeError
        raise CompressionError("a binary/zlib payload does not hold a Payload") from None


class ChainCodec(PayloadCodec):
    """Codecs applied in order on encode and in reverse on decode: compress, then encrypt."""

    def __init__(self, codecs: Sequence[PayloadCodec]) -> None:
        self.codecs = list(codecs)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = list(payloads)
        for codec in self.codecs:
            out = await codec.encode(out)
        return out

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = list(payloads)
        for codec in reversed(self.codecs):
            out = await codec.decode(out)
        return out
