"""The playbooks' own modules, as plain functions over recorded /proc files: every verdict's
threshold, without needing a machine that is actually on fire."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

LIBRARY = Path(__file__).resolve().parents[2] / "playbooks" / "library"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, LIBRARY / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


host = _load("warroom_host_sample")
logs = _load("warroom_log_grep")


def cpu_snaps(busy_percents: list[float]) -> list[dict[str, Any]]:
    """Snapshots one second apart whose intervals are `busy_percents` busy (100 jiffies each)."""
    busy, total, at = 0, 0, 0.0
    snaps = [{"at": at, "cpu": (busy, total)}]
    for percent in busy_percents:
        busy, total, at = busy + int(percent), total + 100, at + 1
        snaps.append({"at": at, "cpu": (busy, total)})
    return snaps


def test_cpu_is_saturated_only_when_every_interval_is_above_the_threshold() -> None:
    sustained = host.cpu_verdict(cpu_snaps([95, 97, 96]), 90)
    assert sustained["status"] == "critical" and sustained["value"] == pytest.approx(96)
    assert sustained["details"]["samples"] == [95, 97, 96]

    spike = host.cpu_verdict(cpu_snaps([95, 40, 50]), 90)
    assert spike["status"] == "warning" and spike["details"]["peak"] == 95

    assert host.cpu_verdict(cpu_snaps([20, 30, 25]), 90)["status"] == "ok"
    assert host.cpu_verdict([{"at": 0}, {"at": 1}], 90)["status"] == "unknown"


def test_cpu_times_reads_the_aggregate_line(tmp_path: Path) -> None:
    (tmp_path / "stat").write_text("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 50 0 25 400 25 0 0 0 0 0\n")
    assert host.cpu_times(str(tmp_path)) == (150, 1000)  # iowait counts as idle


def write_meminfo(proc: Path, total_kb: int, available_kb: int, swap_total_kb: int = 0, swap_free_kb: int = 0) -> None:
    proc.mkdir(exist_ok=True)
    (proc / "meminfo").write_text(
        f"MemTotal: {total_kb} kB\nMemFree: 1000 kB\nMemAvailable: {available_kb} kB\n"
        f"SwapTotal: {swap_total_kb} kB\nSwapFree: {swap_free_kb} kB\n"
    )


def test_memory_pressure_from_available_memory_and_psi(tmp_path: Path) -> None:
    write_meminfo(tmp_path, 1_000_000, 50_000)
    low = host.memory_verdict(10, 10, str(tmp_path))
    assert low["status"] == "critical" and low["value"] == 5.0 and low["threshold"] == 10

    write_meminfo(tmp_path, 1_000_000, 500_000)
    (tmp_path / "pressure").mkdir()
    (tmp_path / "pressure" / "memory").write_text(
        "some avg10=25.50 avg60=10.00 avg300=2.00 total=1\nfull avg10=5.00 avg60=1.00 avg300=0.50 total=1\n"
    )
    stalled = host.memory_verdict(10, 10, str(tmp_path))
    assert stalled["status"] == "warning" and stalled["details"]["psi_some_avg10"] == 25.5


def test_swap_is_critical_when_mostly_used_and_being_swapped_in(tmp_path: Path) -> None:
    write_meminfo(tmp_path, 1_000_000, 500_000, swap_total_kb=1_000_000, swap_free_kb=200_000)
    snaps = [{"at": 0.0, "vmstat": {"pswpin": 0, "pswpout": 0}}, {"at": 2.0, "vmstat": {"pswpin": 400, "pswpout": 10}}]
    swapping = host.swap_verdict(snaps, 50, str(tmp_path))
    assert swapping["status"] == "critical" and swapping["value"] == 80.0
    assert swapping["details"]["swap_in_pages_per_s"] == 200.0

    quiet = [{"at": 0.0, "vmstat": {"pswpin": 5}}, {"at": 2.0, "vmstat": {"pswpin": 5}}]
    assert host.swap_verdict(quiet, 50, str(tmp_path))["status"] == "warning"

    write_meminfo(tmp_path, 1_000_000, 500_000)
    assert host.swap_verdict(quiet, 50, str(tmp_path))["summary"] == "no swap configured"


def test_oom_events_from_the_kernel_log_or_else_the_vmstat_counter(tmp_path: Path) -> None:
    (tmp_path / "vmstat").write_text("oom_kill 3\n")
    log = (
        "dmesg",
        [
            "[ 99.1] java invoked oom-killer: gfp_mask=0x0",
            "[ 99.2] oom-kill:constraint=CONSTRAINT_MEMCG,task=java,pid=4242",
            "[ 99.3] Memory cgroup out of memory: Killed process 4242 (java)",
        ],
    )
    recent = host.oom_verdict(60, str(tmp_path), log=log)
    assert recent["status"] == "critical" and recent["value"] == 1  # one kill, logged twice
    assert recent["details"]["kills_since_boot"] == 3 and len(recent["details"]["samples"]) == 2

    assert host.oom_verdict(60, str(tmp_path), log=("journal", []))["status"] == "ok"
    undated = host.oom_verdict(60, str(tmp_path), log=(None, []))  # dmesg restricted, no journal
    assert undated["status"] == "warning" and undated["value"] == 3

    (tmp_path / "vmstat").write_text("pgfault 1\n")
    assert host.oom_verdict(60, str(tmp_path), log=(None, []))["status"] == "unknown"


def diskstats_line(name: str, reads: int, read_ms: int, writes: int, write_ms: int, busy_ms: int = 0) -> str:
    return f"   8       0 {name} {reads} 0 0 {read_ms} {writes} 0 0 {write_ms} 0 {busy_ms} 0 0 0 0 0 0"


def test_disk_await_above_100_ms_is_critical(tmp_path: Path) -> None:
    (tmp_path / "diskstats").write_text(
        "\n".join(
            [
                diskstats_line("sda", 100, 1000, 100, 1000),
                diskstats_line("sda1", 1, 1, 1, 1),
                diskstats_line("loop0", 0, 0, 0, 0),
                diskstats_line("nvme0n1", 10, 10, 0, 0),
            ]
        )
    )
    first = {"at": 0.0, "disk": host.diskstats(str(tmp_path))}
    assert set(first["disk"]) == {"sda", "nvme0n1"}  # partitions and loop devices are left out
    (tmp_path / "diskstats").write_text(
        "\n".join([diskstats_line("sda", 110, 2500, 110, 2500, busy_ms=900), diskstats_line("nvme0n1", 20, 20, 0, 0)])
    )
    last = {"at": 1.0, "disk": host.diskstats(str(tmp_path))}

    slow = host.disk_verdict([first, last], 100)
    assert slow["status"] == "critical" and slow["value"] == 150  # 3000 ms over 20 I/Os
    assert host.disk_verdict([first, last], 150)["status"] == "ok"  # "> 100 ms": the threshold itself is fine
    assert slow["details"]["worst_device"] == "sda" and slow["details"]["devices"]["sda"]["util_percent"] == 90.0


def netdev_text(rx_packets: int, rx_drop: int, tx_packets: int, rx_bytes: int = 0) -> str:
    return (
        "Inter-|   Receive |  Transmit\n face |bytes packets errs drop fifo frame compressed multicast|...\n"
        f"    lo: 1 1 0 0 0 0 0 0 1 1 0 0 0 0 0 0\n"
        f"  eth0: {rx_bytes} {rx_packets} 0 {rx_drop} 0 0 0 0 0 {tx_packets} 0 0 0 0 0 0\n"
    )


def test_network_loss_and_saturation(tmp_path: Path) -> None:
    proc, sys_root = tmp_path / "proc", tmp_path / "sys"
    (proc / "net").mkdir(parents=True)
    (proc / "net" / "dev").write_text(netdev_text(1000, 0, 1000))
    first = {"at": 0.0, "net": host.netdev(str(proc))}
    assert set(first["net"]) == {"eth0"}  # loopback is left out
    (proc / "net" / "dev").write_text(netdev_text(1950, 50, 2000, rx_bytes=118_750_000))
    last = {"at": 1.0, "net": host.netdev(str(proc))}

    lossy = host.network_verdict([first, last], 1.0, 90, str(sys_root))
    assert lossy["status"] == "critical" and lossy["value"] == 2.5  # 50 dropped of 1950 delivered + 50

    (sys_root / "class" / "net" / "eth0").mkdir(parents=True)
    (sys_root / "class" / "net" / "eth0" / "speed").write_text("1000\n")
    tolerant = host.network_verdict([first, last], 5.0, 90, str(sys_root))
    assert tolerant["status"] == "critical" and tolerant["details"]["saturated"] == ["eth0"]  # 950 Mbit/s of 1000
    assert host.network_verdict([first, last], 5.0, 99, str(sys_root))["status"] == "warning"  # drops, no loss


def test_log_grep_reads_only_the_tail_and_masks_credentials(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    lines = (
        [f"ERROR old {i}" for i in range(50_000)]
        + ["INFO fine"] * 10
        + ["ERROR login failed token=abc123 password: hunter2", "Exception: " + "x" * 1000]
    )
    path.write_text("\n".join(lines) + "\n")

    found = logs.grep(str(path), lines=12, samples=5, max_line_chars=80)
    assert found["lines_scanned"] == 12 and found["matched_lines"] == 2
    assert found["samples"][0] == "ERROR login failed token=*** password: ***"
    assert len(found["samples"][1]) == 80
    assert logs.tail_lines(str(path), 3) == lines[-3:]


def test_log_grep_reports_missing_and_unreadable_files(tmp_path: Path) -> None:
    missing = logs.grep(str(tmp_path / "nope.log"))
    assert missing["exists"] is False and missing["error"] == "no such file"
    directory = logs.grep(str(tmp_path))
    assert directory["exists"] and not directory["readable"] and directory["error"]
