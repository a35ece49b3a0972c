#!/usr/bin/python
"""Ansible module: the seed's infrastructure checks on one host, each a verdict with its number.

Read-only (it only reads /proc, /sys and the kernel log) and safe in check mode. The sampled checks
(cpu, swap, disk, network) share one sampling window, so asking for all of them costs one window,
not four. The functions below take a `proc` root so tests can feed them recorded /proc files.
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: warroom_host_sample
short_description: CPU, memory, swap, OOM, disk await and network-error verdicts from /proc
options:
  checks: {type: list, elements: str, required: true, description: subset of cpu memory swap oom disk network}
  sample_seconds: {type: float, default: 3, description: length of the sampling window}
  cpu_threshold_percent: {type: float, default: 90}
  memory_available_min_percent: {type: float, default: 10}
  memory_psi_max: {type: float, default: 10, description: PSI memory "some avg10" above this is a warning}
  swap_used_max_percent: {type: float, default: 50}
  oom_lookback_minutes: {type: int, default: 60}
  disk_await_max_ms: {type: float, default: 100}
  network_loss_max_percent: {type: float, default: 1}
  network_utilization_max_percent: {type: float, default: 90}
"""

import os
import re
import subprocess
import time

SAMPLED = ("cpu", "swap", "disk", "network")
ALL_CHECKS = ("cpu", "memory", "swap", "oom", "disk", "network")
_PARTITION = re.compile(r"^((sd|vd|xvd|hd)[a-z]+\d+|(nvme\d+n\d+|mmcblk\d+)p\d+)$")
_VIRTUAL_DISK = re.compile(r"^(loop|ram|zram|sr|fd|nbd)\d*")
_OOM_KILL = re.compile(r"Killed process \d+|oom-kill:")
_DMESG_TS = re.compile(r"^\[\s*(\d+(?:\.\d+)?)\]")


def _read(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return None


def verdict(check, status, value, threshold, unit, summary, **details):
    return {
        "check": check,
        "status": status,
        "value": None if value is None else round(float(value), 2),
        "threshold": threshold,
        "unit": unit,
        "summary": summary,
        "details": details,
    }


# --- counters ------------------------------------------------------------------------------------


def cpu_times(proc="/proc"):
    """(busy, total) jiffies of the aggregate `cpu` line; iowait counts as idle, as top does."""
    text = _read(os.path.join(proc, "stat")) or ""
    for line in text.splitlines():
        if line.startswith("cpu "):
            fields = [int(x) for x in line.split()[1:]]
            fields = fields[:8]  # guest time is already inside user/nice
            idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
            total = sum(fields)
            return total - idle, total
    return None


def vmstat(proc="/proc"):
    out = {}
    for line in (_read(os.path.join(proc, "vmstat")) or "").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            out[parts[0]] = int(parts[1])
    return out


def diskstats(proc="/proc"):
    """name -> (ios completed, ms spent on them) for whole disks (no partitions, no loop/ram)."""
    out = {}
    for line in (_read(os.path.join(proc, "diskstats")) or "").splitlines():
        parts = line.split()
        if len(parts) < 11:
            continue
        name = parts[2]
        if _VIRTUAL_DISK.match(name) or _PARTITION.match(name):
            continue
        reads, read_ms, writes, write_ms = int(parts[3]), int(parts[6]), int(parts[7]), int(parts[10])
        busy_ms = int(parts[12]) if len(parts) > 12 else 0
        out[name] = (reads + writes, read_ms + write_ms, busy_ms)
    return out


def netdev(proc="/proc"):
    """iface -> dict of byte, packet, error and drop counters (loopback excluded)."""
    out = {}
    for line in (_read(os.path.join(proc, "net", "dev")) or "").splitlines()[2:]:
        if ":" not in line:
            continue
        name, data = line.split(":", 1)
        name = name.strip()
        values = data.split()
        if name == "lo" or len(values) < 16:
            continue
        v = [int(x) for x in values]
        out[name] = {
            "rx_bytes": v[0],
            "rx_packets": v[1],
            "rx_errs": v[2],
            "rx_drop": v[3],
            "tx_bytes": v[8],
            "tx_packets": v[9],
            "tx_errs": v[10],
            "tx_drop": v[11],
        }
    return out


def link_speed_mbps(name, sys_root="/sys"):
    text = _read(os.path.join(sys_root, "class", "net", name, "speed"))
    try:
        speed = int(text.strip()) if text else -1
    except ValueError:
        speed = -1
    return speed if speed > 0 else None


def snapshot(checks, proc="/proc"):
    snap = {"at": time.monotonic()}
    if "cpu" in checks:
        snap["cpu"] = cpu_times(proc)
    if "swap" in checks:
        snap["vmstat"] = vmstat(proc)
    if "disk" in checks:
        snap["disk"] = diskstats(proc)
    if "network" in checks:
        snap["net"] = netdev(proc)
    return snap


def sample(checks, seconds, proc="/proc"):
    """Snapshots every second (at least two) over `seconds`; CPU keeps each interval."""
    step = min(1.0, max(seconds, 0.05))
    snaps = [snapshot(checks, proc)]
    deadline = snaps[0]["at"] + seconds
    while True:
        time.sleep(max(0.0, min(step, deadline - time.monotonic())))
        snaps.append(snapshot(checks, proc))
        if snaps[-1]["at"] >= deadline - 0.01:
            return snaps


# --- verdicts -------------------------------------------------------------------------------------


def cpu_verdict(snaps, threshold, proc="/proc"):
    busy = []
    for a, b in zip(snaps, snaps[1:]):
        if a.get("cpu") and b.get("cpu"):
            total = b["cpu"][1] - a["cpu"][1]
            if total > 0:
                busy.append(100.0 * (b["cpu"][0] - a["cpu"][0]) / total)
    if not busy:
        return verdict("cpu", "unknown", None, threshold, "percent", "/proc/stat unreadable")
    average = sum(busy) / len(busy)
    window = snaps[-1]["at"] - snaps[0]["at"]
    if min(busy) > threshold:
        status, summary = (
            "critical",
            f"CPU saturated: {average:.0f}% busy, above {threshold:g}% for all of {window:.0f}s",
        )
    elif max(busy) > threshold:
        status, summary = "warning", f"CPU spikes above {threshold:g}% (peak {max(busy):.0f}%), not sustained"
    else:
        status, summary = "ok", f"CPU {average:.0f}% busy (peak {max(busy):.0f}%)"
    load = (_read(os.path.join(proc, "loadavg")) or "").split()[:3]
    return verdict(
        "cpu",
        status,
        average,
        threshold,
        "percent",
        summary,
        samples=[round(x, 1) for x in busy],
        peak=round(max(busy), 1),
        window_seconds=round(window, 2),
        cores=os.cpu_count() or 0,
        load=[float(x) for x in load] if len(load) == 3 else [],
    )


def meminfo(proc="/proc"):
    out = {}
    for line in (_read(os.path.join(proc, "meminfo")) or "").splitlines():
        parts = line.replace(":", " ").split()
        if len(parts) >= 2 and parts[1].isdigit():
            out[parts[0]] = int(parts[1])
    return out


def psi_memory(proc="/proc"):
    text = _read(os.path.join(proc, "pressure", "memory"))
    if not text:
        return None
    for line in text.splitlines():
        if line.startswith("some "):
            for field in line.split()[1:]:
                key, _, value = field.partition("=")
                if key == "avg10":
                    return float(value)
    return None


def memory_verdict(min_available_percent, psi_max, proc="/proc"):
    info = meminfo(proc)
    total = info.get("MemTotal")
    available = info.get("MemAvailable", info.get("MemFree"))
    if not total or available is None:
        return verdict(
            "memory", "unknown", None, min_available_percent, "percent available", "/proc/meminfo unreadable"
        )
    percent = 100.0 * available / total
    psi = psi_memory(proc)
    if percent < min_available_percent:
        status, summary = "critical", f"memory pressure: only {percent:.1f}% available (< {min_available_percent:g}%)"
    elif psi is not None and psi > psi_max:
        status, summary = (
            "warning",
            f"memory stalls: PSI some avg10 {psi:.1f}% (> {psi_max:g}%), {percent:.0f}% available",
        )
    else:
        status, summary = "ok", f"{percent:.0f}% of memory available"
    return verdict(
        "memory",
        status,
        percent,
        min_available_percent,
        "percent available",
        summary,
        total_mb=total // 1024,
        available_mb=available // 1024,
        psi_some_avg10=psi,
    )


def swap_verdict(snaps, max_used_percent, proc="/proc"):
    info = meminfo(proc)
    total, free = info.get("SwapTotal", 0), info.get("SwapFree", 0)
    first, last = snaps[0].get("vmstat", {}), snaps[-1].get("vmstat", {})
    window = max(snaps[-1]["at"] - snaps[0]["at"], 1e-6)
    swap_in = (last.get("pswpin", 0) - first.get("pswpin", 0)) / window
    swap_out = (last.get("pswpout", 0) - first.get("pswpout", 0)) / window
    if not total:
        return verdict(
            "swap",
            "ok",
            0,
            max_used_percent,
            "percent used",
            "no swap configured",
            total_mb=0,
            used_mb=0,
            swap_in_pages_per_s=0.0,
            swap_out_pages_per_s=0.0,
        )
    used = 100.0 * (total - free) / total
    if used > max_used_percent and swap_in > 0:
        status, summary = "critical", f"swapping: {used:.0f}% of swap used and {swap_in:.0f} pages/s swapped in"
    elif used > max_used_percent:
        status, summary = "warning", f"{used:.0f}% of swap used (> {max_used_percent:g}%), no swap-in during the window"
    else:
        status, summary = "ok", f"{used:.0f}% of swap used"
    return verdict(
        "swap",
        status,
        used,
        max_used_percent,
        "percent used",
        summary,
        total_mb=total // 1024,
        used_mb=(total - free) // 1024,
        swap_in_pages_per_s=round(swap_in, 1),
        swap_out_pages_per_s=round(swap_out, 1),
    )


def kernel_log(lookback_minutes, proc="/proc"):
    """(source, lines of the last `lookback_minutes`) from dmesg or the journal; (None, []) if neither is readable."""
    try:
        out = subprocess.run(["dmesg"], capture_output=True, text=True, timeout=10, errors="replace")
        if out.returncode == 0 and out.stdout:
            uptime = float((_read(os.path.join(proc, "uptime")) or "0").split()[0])
            since = uptime - 60 * lookback_minutes
            lines = []
            for line in out.stdout.splitlines():
                match = _DMESG_TS.match(line)
                if match and float(match.group(1)) >= since:
                    lines.append(line)
            return "dmesg", lines
    except (OSError, subprocess.SubprocessError, ValueError):
        pass
    try:
        out = subprocess.run(
            ["journalctl", "-k", "-q", "--no-pager", "--since", f"-{int(lookback_minutes)}min"],
            capture_output=True,
            text=True,
            timeout=20,
            errors="replace",
        )
        if out.returncode == 0:
            return "journal", out.stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        pass
    return None, []


def oom_verdict(lookback_minutes, proc="/proc", log=None):
    since_boot = vmstat(proc).get("oom_kill")
    source, lines = log if log is not None else kernel_log(lookback_minutes, proc)
    kills = [line for line in lines if _OOM_KILL.search(line)]
    recent = None
    if source is not None:  # one kill logs "oom-kill:..." and "Killed process N"; count a kill once
        recent = len([line for line in kills if "Killed process" in line]) or len(kills)
    samples = [line[:200] for line in kills[-3:]]
    if recent:
        status, summary = "critical", f"{recent} OOM kill(s) in the last {lookback_minutes} min"
        value = recent
    elif source is not None:
        status, summary, value = "ok", f"no OOM kill in the last {lookback_minutes} min", 0
    elif since_boot:
        status, value = "warning", since_boot
        summary = f"{since_boot} OOM kill(s) since boot; kernel log unreadable to date them"
    elif since_boot == 0:
        status, summary, value = "ok", "no OOM kill since boot", 0
    else:
        status, summary, value = "unknown", "neither the kernel log nor /proc/vmstat oom_kill is readable", None
    return verdict(
        "oom",
        status,
        value,
        0,
        "events",
        summary,
        recent_events=recent,
        kills_since_boot=since_boot,
        log_source=source,
        lookback_minutes=lookback_minutes,
        samples=samples,
    )


def disk_verdict(snaps, max_await_ms):
    first, last = snaps[0].get("disk", {}), snaps[-1].get("disk", {})
    window_ms = max((snaps[-1]["at"] - snaps[0]["at"]) * 1000, 1e-3)
    devices = {}
    for name, (ios, ms, busy) in last.items():
        if name not in first:
            continue
        d_ios, d_ms, d_busy = ios - first[name][0], ms - first[name][1], busy - first[name][2]
        devices[name] = {
            "await_ms": round(d_ms / d_ios, 2) if d_ios > 0 else 0.0,
            "iops": round(d_ios * 1000 / window_ms, 1),
            "util_percent": round(min(100.0, 100.0 * d_busy / window_ms), 1),
        }
    if not devices:
        return verdict("disk", "unknown", None, max_await_ms, "ms", "no block device in /proc/diskstats")
    worst = max(devices, key=lambda n: devices[n]["await_ms"])
    value = devices[worst]["await_ms"]
    if value > max_await_ms:
        status, summary = "critical", f"disk I/O slow: {worst} await {value:.0f} ms (> {max_await_ms:g} ms)"
    elif not any(d["iops"] for d in devices.values()):
        status, summary = "ok", "no disk I/O during the window"
    else:
        status, summary = "ok", f"worst disk await {value:.1f} ms ({worst})"
    return verdict("disk", status, value, max_await_ms, "ms", summary, worst_device=worst, devices=devices)


def network_verdict(snaps, max_loss_percent, max_utilization_percent, sys_root="/sys"):
    first, last = snaps[0].get("net", {}), snaps[-1].get("net", {})
    window = max(snaps[-1]["at"] - snaps[0]["at"], 1e-6)
    interfaces = {}
    for name, now in last.items():
        before = first.get(name)
        if before is None:
            continue
        delta = {key: now[key] - before[key] for key in now}
        packets = delta["rx_packets"] + delta["tx_packets"]
        lost = delta["rx_errs"] + delta["tx_errs"] + delta["rx_drop"] + delta["tx_drop"]
        speed = link_speed_mbps(name, sys_root)
        rx_bps, tx_bps = delta["rx_bytes"] * 8 / window, delta["tx_bytes"] * 8 / window
        interfaces[name] = {
            "loss_percent": round(100.0 * lost / (packets + lost), 3) if packets + lost else 0.0,
            "errors_in_window": delta["rx_errs"] + delta["tx_errs"],
            "drops_in_window": delta["rx_drop"] + delta["tx_drop"],
            "errors_since_boot": now["rx_errs"] + now["tx_errs"],
            "drops_since_boot": now["rx_drop"] + now["tx_drop"],
            "rx_mbps": round(rx_bps / 1e6, 3),
            "tx_mbps": round(tx_bps / 1e6, 3),
            "speed_mbps": speed,
            "utilization_percent": round(100.0 * max(rx_bps, tx_bps) / (speed * 1e6), 1) if speed else None,
        }
    if not interfaces:
        return verdict("network", "unknown", None, max_loss_percent, "percent lost", "no interface in /proc/net/dev")
    worst = max(
        interfaces, key=lambda n: (interfaces[n]["loss_percent"], interfaces[n]["rx_mbps"] + interfaces[n]["tx_mbps"])
    )
    loss = interfaces[worst]["loss_percent"]
    saturated = [n for n, i in interfaces.items() if (i["utilization_percent"] or 0) > max_utilization_percent]
    if loss > max_loss_percent:
        status, summary = "critical", f"packet loss on {worst}: {loss:.2f}% of packets errored or dropped"
    elif saturated:
        status, summary = "critical", f"bandwidth saturated on {', '.join(saturated)} (> {max_utilization_percent:g}%)"
    elif any(i["errors_in_window"] or i["drops_in_window"] for i in interfaces.values()):
        status, summary = "warning", f"some errors or drops during the window (worst {worst}: {loss:.3f}%)"
    else:
        status, summary = "ok", "no network errors or drops during the window"
    return verdict(
        "network",
        status,
        loss,
        max_loss_percent,
        "percent lost",
        summary,
        worst_interface=worst,
        saturated=saturated,
        interfaces=interfaces,
    )


def run_checks(params, proc="/proc", sys_root="/sys"):
    checks = [c for c in ALL_CHECKS if c in params["checks"]]
    sampled = [c for c in checks if c in SAMPLED]
    snaps = sample(sampled, params["sample_seconds"], proc) if sampled else []
    out = {}
    for check in checks:
        if check == "cpu":
            out[check] = cpu_verdict(snaps, params["cpu_threshold_percent"], proc)
        elif check == "memory":
            out[check] = memory_verdict(params["memory_available_min_percent"], params["memory_psi_max"], proc)
        elif check == "swap":
            out[check] = swap_verdict(snaps, params["swap_used_max_percent"], proc)
        elif check == "oom":
            out[check] = oom_verdict(params["oom_lookback_minutes"], proc)
        elif check == "disk":
            out[check] = disk_verdict(snaps, params["disk_await_max_ms"])
        elif check == "network":
            out[check] = network_verdict(
                snaps, params["network_loss_max_percent"], params["network_utilization_max_percent"], sys_root
            )
    return out


def main():
    from ansible.module_utils.basic import AnsibleModule

    module = AnsibleModule(
        argument_spec=dict(
            checks=dict(type="list", elements="str", required=True, choices=list(ALL_CHECKS)),
            sample_seconds=dict(type="float", default=3.0),
            cpu_threshold_percent=dict(type="float", default=90.0),
            memory_available_min_percent=dict(type="float", default=10.0),
            memory_psi_max=dict(type="float", default=10.0),
            swap_used_max_percent=dict(type="float", default=50.0),
            oom_lookback_minutes=dict(type="int", default=60),
            disk_await_max_ms=dict(type="float", default=100.0),
            network_loss_max_percent=dict(type="float", default=1.0),
            network_utilization_max_percent=dict(type="float", default=90.0),
        ),
        supports_check_mode=True,
    )
    module.exit_json(changed=False, checks=run_checks(module.params))


if __name__ == "__main__":
    main()
