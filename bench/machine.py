"""What the benchmarks report about the machine they ran on (shared by bench/*.py)."""

from __future__ import annotations

import platform
from pathlib import Path


def _proc_field(path: str, prefix: str) -> str | None:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_model() -> str:
    return _proc_field("/proc/cpuinfo", "model name") or platform.processor() or platform.machine()


def mem_gib() -> float | None:
    kib = _proc_field("/proc/meminfo", "MemTotal")
    return round(int(kib.split()[0]) / 1024 / 1024, 1) if kib else None
