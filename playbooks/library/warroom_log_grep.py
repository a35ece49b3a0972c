#!/usr/bin/python
"""Ansible module: the seed's `grep -i "error\\|exception\\|fatal"` over the last N lines of a log file.

Read-only. Reads backwards from the end of the file in blocks, so a multi-gigabyte log costs only
the tail asked for. Returns counts, the decision tree's log hints (OOM, DB connection, timeout)
and a few recent matching lines, truncated and with obvious credentials masked.
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: warroom_log_grep
short_description: Count error/exception/fatal lines in the tail of a log file
options:
  path: {type: str, required: true}
  lines: {type: int, default: 1000, description: how many lines from the end to scan}
  samples: {type: int, default: 5, description: how many of the most recent matching lines to return}
  max_line_chars: {type: int, default: 300}
"""

import os
import re

MATCH = re.compile(r"error|exception|fatal", re.IGNORECASE)
KEYWORDS = ("error", "exception", "fatal")
HINTS = {
    "oom": re.compile(r"out ?of ?memory|\bOOM|oom-?kill|cannot allocate memory|MemoryError", re.IGNORECASE),
    "db_connection": re.compile(
        r"connection (refused|reset)|could not connect|too many (connections|clients)|"
        r"connection pool|pool exhausted|database .*unavailable",
        re.IGNORECASE,
    ),
    "timeout": re.compile(r"timed? ?out|timeout|deadline exceeded", re.IGNORECASE),
}
_SECRET = re.compile(
    r"(?i)(password|passwd|pwd|secret|token|api[_-]?key|authorization)"
    r"(\s*[=:]\s*|\"\s*:\s*\")(bearer\s+)?[^\s\"',;&]+"
)
_BLOCK = 64 * 1024
_MAX_BYTES = 64 * 1024 * 1024


def tail_lines(path, count, max_bytes=_MAX_BYTES):
    """The last `count` lines of `path` (at most `max_bytes` read), oldest first."""
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        position = handle.tell()
        chunks, newlines, read = [], 0, 0
        while position > 0 and newlines <= count and read < max_bytes:
            size = min(_BLOCK, position)
            position -= size
            handle.seek(position)
            chunk = handle.read(size)
            chunks.append(chunk)
            newlines += chunk.count(b"\n")
            read += size
    data = b"".join(reversed(chunks))
    lines = data.decode("utf-8", errors="replace").splitlines()
    return lines[-count:] if count else []


def mask(line):
    return _SECRET.sub(lambda m: f"{m.group(1)}{m.group(2)}***", line)


def grep(path, lines=1000, samples=5, max_line_chars=300):
    # The file goes out as `file`: exit_json would add stat() fields to a result key named `path`.
    result = {
        "file": path,
        "exists": os.path.exists(path),
        "readable": False,
        "lines_scanned": 0,
        "matched_lines": 0,
        "counts": {k: 0 for k in KEYWORDS},
        "hints": {k: 0 for k in HINTS},
        "samples": [],
        "error": None,
    }
    if not result["exists"]:
        result["error"] = "no such file"
        return result
    try:
        tail = tail_lines(path, lines)
    except OSError as exc:
        result["error"] = exc.strerror or str(exc)
        return result
    result["readable"] = True
    result["lines_scanned"] = len(tail)
    matched = [line for line in tail if MATCH.search(line)]
    result["matched_lines"] = len(matched)
    for line in matched:
        lowered = line.lower()
        for keyword in KEYWORDS:
            if keyword in lowered:
                result["counts"][keyword] += 1
        for hint, pattern in HINTS.items():
            if pattern.search(line):
                result["hints"][hint] += 1
    result["samples"] = [mask(line)[:max_line_chars] for line in matched[-samples:]] if samples else []
    return result


def main():
    from ansible.module_utils.basic import AnsibleModule

    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="str", required=True),
            lines=dict(type="int", default=1000),
            samples=dict(type="int", default=5),
            max_line_chars=dict(type="int", default=300),
        ),
        supports_check_mode=True,
    )
    p = module.params
    module.exit_json(changed=False, **grep(p["path"], p["lines"], p["samples"], p["max_line_chars"]))


if __name__ == "__main__":
    main()
