"""Connect to Temporal the same way everywhere: worker, CLI and tests share the data converter."""

from __future__ import annotations

import dataclasses

from temporalio.client import Client, TLSConfig
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.runtime import Runtime

from warroom.compression import CompressionCodec
from warroom.errors import ConnectionFailed
from warroom.failures import with_refusals
from warroom.settings import Settings
from warroom.telemetry import tracing


def _pydantic(compress: bool) -> DataConverter:
    return dataclasses.replace(pydantic_data_converter, payload_codec=CompressionCodec(compress=compress))


DATA_CONVERTER = with_refusals(_pydantic(compress=True))
"""Pydantic payloads, the large ones compressed (warroom/compression.py), and refused updates
without a stack trace (warroom/failures.py): the worker, the CLI, the intake and the tests'
Temporal environments all use it."""


def data_converter(settings: Settings) -> DataConverter:
    """DATA_CONVERTER as configured: compression off with WARROOM_PAYLOAD_COMPRESSION=false (it still
    reads compressed payloads), then encryption with WARROOM_CODEC_KEYS when set."""
    converter = _pydantic(compress=settings.payload_compression)
    if settings.codec_keys is not None:
        from warroom.codec import encrypted_converter, parse_key_ring

        converter = encrypted_converter(converter, parse_key_ring(settings.codec_keys.get_secret_value()))
    return with_refusals(converter)


async def connect(
    settings: Settings, identity: str | None = None, wait: float = 0.0, runtime: Runtime | None = None
) -> Client:
    """Connect with warroom's data converter; `wait` seconds of retries cover a server still starting.
    `runtime`: the worker's, whose telemetry serves the SDK's metrics (warroom/telemetry/endpoint.py)."""
    import asyncio
    import time

    deadline = time.monotonic() + wait
    while True:
        try:
            return await _connect(settings, identity, runtime)
        except ConnectionFailed:
            if time.monotonic() >= deadline:
                raise
            await asyncio.sleep(0.5)


async def _connect(settings: Settings, identity: str | None = None, runtime: Runtime | None = None) -> Client:
    tls: TLSConfig | bool = False
    if settings.uses_tls:
        tls = TLSConfig(
            client_cert=settings.temporal_tls_cert.read_bytes() if settings.temporal_tls_cert else None,
            client_private_key=settings.temporal_tls_key.read_bytes() if settings.temporal_tls_key else None,
            server_root_ca_cert=settings.temporal_tls_ca.read_bytes() if settings.temporal_tls_ca else None,
        )
    converter = data_converter(settings)
    try:
        return await Client.connect(
            settings.temporal_address,
            namespace=settings.temporal_namespace,
            data_converter=converter,
            tls=tls,
            api_key=settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None,
            identity=identity,
            runtime=runtime,
            interceptors=tracing.interceptors(),  # none unless OTEL_* turned traces on
        )
    except RuntimeError as exc:
        raise ConnectionFailed(
            f"cannot reach Temporal at {settings.temporal_address} (namespace {settings.temporal_namespace}): {exc}. "
            "Is `make run` (or your Temporal cluster) up? Set WARROOM_TEMPORAL_ADDRESS to point elsewhere."
        ) from None
