"""Side-by-side timing: conditions alternate within one run, so machine load hits them alike."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Callable

import numpy as np


def alternate(conditions: dict[str, Callable[[], None]], repeats: int, warmup: int = 1,
              sync: Callable[[], None] = lambda: None) -> dict[str, np.ndarray]:
    """Seconds per call for each condition, (repeats,) each, measured in interleaved rounds.

    ``sync`` runs after each call inside the timed region (e.g. torch.cuda.synchronize).
    """
    for fn in conditions.values():
        for _ in range(warmup):
            fn()
        sync()
    out = {name: [] for name in conditions}
    for _ in range(repeats):
        for name, fn in conditions.items():
            t0 = time.perf_counter()
            fn()
            sync()
            out[name].append(time.perf_counter() - t0)
    return {k: np.array(v) for k, v in out.items()}


def summary(seconds: np.ndarray) -> dict:
    """pytest-benchmark's statistics for one timing sample (min, median, IQR, ...), in seconds."""
    from pytest_benchmark.stats import Stats

    s = Stats()
    for t in seconds:
        s.update(float(t))
    return {k: float(getattr(s, k)) for k in ("min", "max", "mean", "median", "stddev", "iqr", "ops")}


def cpu_peak_gflops(threads: int | None = None) -> dict:
    """Theoretical float32 peak from /proc/cpuinfo: cores x clock x FLOP/cycle (an estimate, with its basis).

    FLOP/cycle per core: two FMA pipes of the widest vector unit the flags show (AVX-512 counts as
    512-bit on Intel, as 256-bit double-pumped on AMD Zen 4), times 2 for the multiply-add.
    """
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    flags = set(re.search(r"^flags\s*:(.*)$", text, re.M).group(1).split()) if "flags" in text else set()
    vendor = (re.search(r"^vendor_id\s*:\s*(\S+)", text, re.M) or [None, ""])[1]
    mhz_values = [float(m) for m in re.findall(r"^cpu MHz\s*:\s*([\d.]+)", text, re.M)]
    max_khz = Path("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
    ghz = int(max_khz.read_text()) / 1e6 if max_khz.exists() else (max(mhz_values) / 1000 if mhz_values else float("nan"))
    if "avx512f" in flags and vendor != "AuthenticAMD":
        lanes, basis = 16, "AVX-512, 2 FMA pipes"
    elif "avx512f" in flags or ("avx2" in flags and "fma" in flags):
        lanes, basis = 8, "256-bit FMA, 2 pipes" + (" (Zen 4 runs AVX-512 as 2x256)" if "avx512f" in flags else "")
    elif "avx" in flags:
        lanes, basis = 8, "AVX without FMA: 1 add + 1 mul pipe"
    else:
        lanes, basis = 4, "SSE"
    flop_per_cycle = lanes * 2 * 2 if "fma" in flags or "avx512f" in flags else lanes * 2
    cores = threads or os.cpu_count() or 1
    return {"gflops": cores * ghz * flop_per_cycle, "cores": cores, "ghz": ghz, "flop_per_cycle": flop_per_cycle,
            "basis": f"{cores} core(s) x {ghz:.2f} GHz x {flop_per_cycle} FLOP/cycle ({basis})"}
