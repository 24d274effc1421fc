"""Side-by-side timing: conditions alternate within one run, so machine load hits them alike."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np


def alternate(
    conditions: dict[str, Callable[[], None]],
    repeats: int,
    warmup: int = 1,
    sync: Callable[[], None] = lambda: None,
    clock: Callable[[], float] = time.perf_counter,
    rewarm: int = 0,
) -> dict[str, np.ndarray]:
    """Seconds per call for each condition, (repeats,) each, measured in interleaved rounds.

    ``rewarm``: untimed calls of a condition right before each of its timed calls, so that no call is
    timed with its data evicted from the caches by the condition that ran before it (a large call
    evicts a small one's inputs; the small call then pays for reloading them, a fixed cost that bends
    a fitted exponent).

    ``sync`` runs after each call inside the timed region (e.g. torch.cuda.synchronize).
    ``clock=time.thread_time`` counts only this thread's CPU time: for single-threaded work on a
    shared machine it leaves out the time other processes hold the core (never for multi-threaded
    or GPU work, whose time is spent elsewhere).
    """
    for fn in conditions.values():
        for _ in range(warmup):
            fn()
        sync()
    out = {name: [] for name in conditions}
    for _ in range(repeats):
        for name, fn in conditions.items():
            for _ in range(rewarm):
                fn()
            sync()
            t0 = clock()
            fn()
            sync()
            out[name].append(clock() - t0)
    return {k: np.array(v) for k, v in out.items()}


def thread_time_alternate(
    conditions: dict[str, Callable[[], None]], repeats: int, warmup: int = 1, rewarm: int = 0
) -> dict[str, np.ndarray]:
    """:func:`alternate` on this thread's CPU clock (single-threaded work on a shared machine): seconds, (repeats,) each."""
    return alternate(conditions, repeats, warmup=warmup, clock=time.thread_time, rewarm=rewarm)


def per_call(fn: Callable[[], None], calls: int, sync: Callable[[], None] = lambda: None) -> float:
    """Seconds per call over ``calls`` back-to-back calls, after one untimed warm-up call.

    The warm-up absorbs the cost of waking a thread pool after the thread count changed.
    """
    fn()
    sync()
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    sync()
    return (time.perf_counter() - t0) / calls


def best_per_call(fn: Callable[[], None], calls: int, blocks: int, sync: Callable[[], None] = lambda: None) -> float:
    """Seconds per call of the fastest of ``blocks`` timed blocks of ``calls`` back-to-back calls, after one
    untimed warm-up call.  The fastest block is the least disturbed by whatever else shares the machine
    (Python's ``timeit`` takes the minimum for the same reason)."""
    fn()
    sync()
    best = float("inf")
    for _ in range(blocks):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        sync()
        best = min(best, (time.perf_counter() - t0) / calls)
    return best


def calls_for(fn: Callable[[], None], min_seconds: float) -> int:
    """How many back-to-back calls make a timed block of at least ``min_seconds``."""
    return max(1, int(np.ceil(min_seconds / max(per_call(fn, 1), 1e-9))))


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
    return {
        "gflops": cores * ghz * flop_per_cycle,
        "cores": cores,
        "ghz": ghz,
        "flop_per_cycle": flop_per_cycle,
        "basis": f"{cores} core(s) x {ghz:.2f} GHz x {flop_per_cycle} FLOP/cycle ({basis})",
    }


class ForeignLoad:
    """Cores used by *other* processes while a block runs: /proc/stat busy time minus our own CPU time.

    ``with ForeignLoad() as load: ...`` then ``load.cores`` (0.0 on an idle machine; nan where
    /proc/stat is missing).  A throughput measurement taken while another process holds a core
    says nothing about parallel speed-up.
    """

    def __enter__(self):
        self._t0, self._busy0, self._own0 = time.perf_counter(), _busy_seconds(), _own_cpu_seconds()
        return self

    def __exit__(self, *exc):
        wall = time.perf_counter() - self._t0
        busy, own = _busy_seconds(), _own_cpu_seconds()
        self.cores = (
            float("nan") if busy is None or self._busy0 is None else max(0.0, ((busy - self._busy0) - (own - self._own0)) / max(wall, 1e-9))
        )
        return False


def _busy_seconds() -> float | None:
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return None
    user, nice, system, idle, iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system
