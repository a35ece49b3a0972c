"""What payload compression (warroom/compression.py) saves in bytes and costs in CPU, per payload.

    python bench/compression_bench.py [--rounds 2000]

For the payloads an open incident writes most (its start input with the runbook, a phase's input
with the state), prints the stored size with and without compression, and the time to compress and
decompress one against the time the data converter already spends turning it into JSON (the
baseline, measured in the same run). The memory it saves per open incident is measured by
`bench/reliability_bench.py --memory --memory-kinds warroom-uncompressed,warroom`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def best_of(rounds: int, call: Callable[[], Any]) -> float:
    """Microseconds per call: the best of five batches of `rounds` (the least disturbed)."""
    times = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(rounds):
            call()
        times.append((time.perf_counter() - started) / rounds)
    return min(times) * 1e6


def samples() -> dict[str, Any]:
    from warroom.enums import Severity
    from warroom.models import IncidentInput, IncidentState, PhaseInput
    from warroom.runbook import load_runbook

    runbook = load_runbook()
    start = IncidentInput(
        incident_id="order-api-7731",
        service="order-api",
        summary="Order API returning 503s",
        runbook=runbook,
        severity=Severity.P2,
        declared=True,
        declared_by="alice",
        commander="alice",
    )
    state = IncidentState(
        incident_id="order-api-7731",
        service="order-api",
        summary="Order API returning 503s",
        opened_at=datetime(2026, 12, 7, 9, 30, tzinfo=UTC),
    )
    phase = PhaseInput(parent_workflow_id="incident-order-api-7731", state=state, runbook=runbook)
    return {"incident start input": start, "phase input": phase}


async def main(rounds: int) -> None:
    from warroom.client import DATA_CONVERTER
    from warroom.compression import CompressionCodec, decode_one

    codec = CompressionCodec()
    converter = DATA_CONVERTER.payload_converter
    print(f"payload compression, best of 5 × {rounds} rounds each")
    for name, value in samples().items():
        [plain] = converter.to_payloads([value])
        packed = codec.encode_one(plain)
        to_json = best_of(rounds, lambda value=value: converter.to_payloads([value]))
        compress = best_of(rounds, lambda plain=plain: codec.encode_one(plain))
        inflate = best_of(rounds, lambda packed=packed: decode_one(packed))
        print(
            f"  {name:<22}: {plain.ByteSize():>6} bytes → {packed.ByteSize():>5} stored "
            f"({plain.ByteSize() / packed.ByteSize():.1f}x smaller)   to JSON {to_json:6.1f} µs (baseline)   "
            f"compress {compress:6.1f} µs ({compress / to_json:.2f}x)   decompress {inflate:6.1f} µs "
            f"({inflate / to_json:.2f}x)"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2000, help="calls per batch (default 2000)")
    asyncio.run(main(parser.parse_args().rounds))
