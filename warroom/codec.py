"""Optional payload encryption: AES-256-GCM with a key ring, so Temporal stores only ciphertext.

Keys come from WARROOM_CODEC_KEYS as `id:base64key,id2:base64key` — the first encrypts, all
decrypt, so a key rotates by putting the new one first and keeping the old ones until the
histories that used them are past retention. The key id travels in each payload's metadata
(never the key). Failure messages and stack traces are encoded too, so an exception text with
incident details is not left in clear. The Web UI reads encrypted incidents through the codec
server (`codec_app`), which it calls from the operator's browser.
"""

# No `from __future__ import annotations`: FastAPI reads the codec handlers' annotations at runtime.

import base64
import os
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes, PayloadCodec

from warroom.compression import ChainCodec, CompressionCodec, CompressionError

if TYPE_CHECKING:  # the codec server is optional: clients and workers never import FastAPI
    from fastapi import FastAPI

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
NONCE_BYTES = 12


class CodecError(Exception):
    """A payload cannot be decrypted (unknown key id, tampered data) or the key ring is malformed."""


def parse_key_ring(text: str) -> dict[str, bytes]:
    """`id:base64key,...` → ordered {id: 32-byte key}; the first entry is the one that encrypts."""
    ring: dict[str, bytes] = {}
    for entry in filter(None, (part.strip() for part in text.split(","))):
        key_id, sep, encoded = entry.partition(":")
        if not sep or not key_id:
            raise CodecError("WARROOM_CODEC_KEYS entries are id:base64key")
        try:
            key = base64.b64decode(encoded, validate=True)
        except ValueError:
            raise CodecError(f"key {key_id!r} is not base64") from None
        if len(key) != 32:
            raise CodecError(f"key {key_id!r} must be 32 bytes (AES-256), got {len(key)}")
        ring[key_id] = key
    if not ring:
        raise CodecError("WARROOM_CODEC_KEYS is empty")
    return ring


class EncryptionCodec(PayloadCodec):
    def __init__(self, keys: dict[str, bytes]) -> None:
        if not keys:
            raise CodecError("an encryption codec needs at least one key")
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self._current = next(iter(keys))

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        cipher = self._ciphers[self._current]
        out = []
        for payload in payloads:
            nonce = os.urandom(NONCE_BYTES)
            data = nonce + cipher.encrypt(nonce, payload.SerializeToString(), self._current.encode())
            out.append(Payload(metadata={"encoding": ENCODING, KEY_ID: self._current.encode()}, data=data))
        return out

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for payload in payloads:
            if payload.metadata.get("encoding") != ENCODING:
                out.append(payload)  # written before encryption was turned on
                continue
            key_id = payload.metadata.get(KEY_ID, b"").decode("utf-8", "replace")  # never a 500 on junk bytes
            cipher = self._ciphers.get(key_id)
            if cipher is None:
                raise CodecError(f"payload encrypted with unknown key id {key_id!r}; add it to WARROOM_CODEC_KEYS")
            nonce, sealed = payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:]
            try:
                plain = cipher.decrypt(nonce, sealed, key_id.encode())
            except Exception:
                raise CodecError(
                    f"payload under key {key_id!r} failed authentication (tampered or wrong key)"
                ) from None
            out.append(Payload.FromString(plain))
        return out


def encrypted_converter(base: DataConverter, keys: dict[str, bytes]) -> DataConverter:
    """`base` (the pydantic converter) plus encryption of payloads and failure attributes; a codec
    `base` already has (compression) runs first, as encrypted bytes do not compress."""
    import dataclasses

    codec: PayloadCodec = EncryptionCodec(keys)
    if base.payload_codec is not None:
        codec = ChainCodec([base.payload_codec, codec])
    return dataclasses.replace(
        base, payload_codec=codec, failure_converter_class=DefaultFailureConverterWithEncodedAttributes
    )


def new_key() -> str:
    """A fresh base64 AES-256 key, for `warroom codec-key`."""
    return base64.b64encode(os.urandom(32)).decode()


BODY_LIMIT = 16 * 1024 * 1024
"""Bytes of one codec request: a Payloads message (Temporal caps a payload at 2 MB by default)."""
BODY_TIMEOUT = 30.0


def codec_app(
    keys: dict[str, bytes] | None,
    token: str | None,
    allowed_origins: Iterable[str] = ("http://127.0.0.1:8233", "http://localhost:8233"),
    body_limit: int = BODY_LIMIT,
    body_timeout: float = BODY_TIMEOUT,
) -> "FastAPI":
    """The Temporal remote codec protocol (POST /encode, /decode) for the Web UI and `temporal --codec-endpoint`:
    compression (warroom/compression.py), then encryption under `keys` when given.

    The UI calls it from the operator's browser with CORS; `token`, when set, must arrive as
    `Authorization: Bearer <token>` (the UI's "pass access token" codec setting). Whatever the
    body, the answer is 2xx or a 4xx with the reason: over `body_limit` 413, not all there within
    `body_timeout` 408, not Payloads JSON (invalid UTF-8 included) or not decryptable 422.
    """
    import asyncio
    import hmac

    from fastapi import FastAPI, Header, HTTPException, Request
    from fastapi.middleware.cors import CORSMiddleware
    from google.protobuf import json_format
    from starlette.requests import ClientDisconnect
    from temporalio.api.common.v1 import Payloads

    from warroom.http_framing import RejectAmbiguousFraming

    codec: PayloadCodec = CompressionCodec()
    if keys is not None:
        codec = ChainCodec([codec, EncryptionCodec(keys)])
    app = FastAPI(title="warroom codec server", docs_url=None, redoc_url=None)
    app.add_middleware(RejectAmbiguousFraming)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(allowed_origins),
        allow_methods=["POST"],
        allow_headers=["content-type", "x-namespace", "authorization"],
    )

    def check(authorization: str | None) -> None:
        if token is None:
            return
        given = (authorization or "").removeprefix("Bearer ").strip()
        if not given:
            raise HTTPException(401, "missing bearer token")
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise HTTPException(403, "wrong token")

    async def read(request: Request) -> bytes:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > body_limit:
            raise HTTPException(413, f"body over {body_limit} bytes")
        body = bytearray()
        try:
            async with asyncio.timeout(body_timeout):
                async for chunk in request.stream():
                    body += chunk
                    if len(body) > body_limit:
                        raise HTTPException(413, f"body over {body_limit} bytes")
        except TimeoutError:
            raise HTTPException(408, f"body not complete within {body_timeout:g}s", {"Connection": "close"}) from None
        except ClientDisconnect:
            raise HTTPException(400, "the sender disconnected before the body was complete") from None
        return bytes(body)

    async def apply(request: Request, decode: bool) -> dict[str, Any]:
        try:
            payloads = json_format.Parse(await read(request), Payloads())
        except (json_format.ParseError, UnicodeDecodeError) as exc:  # Parse decodes bytes as UTF-8 itself
            raise HTTPException(422, f"body is not Temporal Payloads JSON: {str(exc)[:300]}") from None
        try:
            result = await (codec.decode(payloads.payloads) if decode else codec.encode(payloads.payloads))
        except (CodecError, CompressionError) as exc:
            raise HTTPException(422, str(exc)) from None
        return json_format.MessageToDict(Payloads(payloads=result))

    @app.post("/decode")
    async def decode(request: Request, authorization: str | None = Header(None)) -> dict[str, Any]:
        check(authorization)
        return await apply(request, decode=True)

    @app.post("/encode")
    async def encode(request: Request, authorization: str | None = Header(None)) -> dict[str, Any]:
        check(authorization)
        return await apply(request, decode=False)

    return app
