"""Hardware: matmul throughput on the GPU vs the CPU, and the CPU's own parallel speed-up."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from harness.evidence import assert_supported
from harness.lab import runtime, timing


def matmul_fn(n: int, device: str, seed: int):
    g = torch.Generator(device="cpu").manual_seed(seed)
    a = torch.randn(n, n, generator=g).to(device)
    b = torch.randn(n, n, generator=g).to(device)
    return lambda: torch.mm(a, b)


# Other processes using more than this many cores during the timing spoil a 2-core speed-up (0.20-0.37 did;
# quiet runs show 0.00-0.08): the case skips, stating the load (catalogue: design.max_foreign_load_cores).
MAX_FOREIGN_CORES = 0.1


@pytest.mark.claim("matmul-parallelises")
@pytest.mark.exclusive
@pytest.mark.parametrize("n", [512, 1024, 2048], ids=lambda n: f"n{n}")
def test_matmul_speeds_up_on_all_cores(n, evidence, profile):
    sizes = profile.pick(quick=(), default=(512, 1024), full=(512, 1024, 2048))
    if not sizes:  # catalogue: design.sizes.quick
        pytest.skip(
            f"the {profile.name} profile's {len(evidence.seeds)} alternating repeats cannot judge a 2-core speed-up on a shared "
            "machine (one quick run measured 0.57 octave [0.16, 1.00] at n = 1024 on a quiet machine, the one before 0.93): "
            "run the default profile"
        )
    if n not in sizes:
        pytest.skip(f"size {n} is not in the {profile.name} profile's sizes {sizes}")
    if (os.cpu_count() or 1) == 1:
        pytest.skip("one CPU core: no parallel speed-up to measure")
    fn = matmul_fn(n, "cpu", evidence.seeds[0])
    placebo_fn = matmul_fn(n, "cpu", evidence.placebo_seeds[0])  # the contrast (one thread) again, on other matrices
    with runtime.all_threads() as cores:
        calls = timing.calls_for(fn, min_seconds=0.1)  # one timed block lasts >= 0.1 s on all threads
    one_s, all_s, placebo_s = [], [], []
    best_of = profile.pick(quick=2, default=2, full=3)  # timed blocks per repeat and condition: the fastest counts
    with timing.ForeignLoad() as load:
        for _ in evidence.seeds:  # each seed is one alternating repeat; a warm-up call follows every switch
            one_s.append(timing.best_per_call(fn, calls, best_of))
            with runtime.all_threads():
                all_s.append(timing.best_per_call(fn, calls, best_of))
            placebo_s.append(timing.best_per_call(placebo_fn, calls, best_of))  # an independent one-thread block
    one_s, all_s, placebo_s = np.array(one_s), np.array(all_s), np.array(placebo_s)
    evidence.record("cores used by other processes during the measurement", [load.cores], unit="cores", per="run")
    if load.cores > MAX_FOREIGN_CORES:
        pytest.skip(
            f"machine busy: other processes used {load.cores:.2f} of {cores} cores during the measurement, "
            "so a parallel speed-up cannot be measured; rerun on an idle machine"
        )
    flop = 2 * n**3
    peak = timing.cpu_peak_gflops(cores)
    evidence.record("GFLOPS, one thread", flop / one_s / 1e9, unit="GFLOPS", setting={"n": n})
    evidence.record(f"GFLOPS, {cores} threads", flop / all_s / 1e9, unit="GFLOPS", setting={"n": n})
    evidence.record("timing summary, one thread (pytest-benchmark stats)", timing.summary(one_s), unit="s", per="statistic")
    evidence.record(f"timing summary, {cores} threads (pytest-benchmark stats)", timing.summary(all_s), unit="s", per="statistic")
    share = float(np.median(flop / all_s / 1e9) / peak["gflops"])
    evidence.note(
        f"Theoretical float32 peak: {peak['gflops']:.0f} GFLOPS = {peak['basis']}. Achieved (median, all threads): "
        f"{np.median(flop / all_s / 1e9):.1f} GFLOPS = {100 * share:.0f}% of peak. Ideal speed-up {cores}x; "
        f"measured {np.median(one_s / all_s):.2f}x."
        + (
            " Achieved exceeds the estimate: the clock in /proc/cpuinfo "
            "is below the boost clock (virtual machines do not expose it), so the true peak is higher."
            if share > 1
            else ""
        )
    )
    evidence.record("timing summary, one thread again (placebo block)", timing.summary(placebo_s), unit="s", per="statistic")
    evidence.paired(
        "parallel-speedup",
        np.log2(1 / all_s),
        np.log2(1 / one_s),
        placebo=np.log2(1 / placebo_s),
        label=f"n = {n}",
        names=(f"{cores} threads", "1 thread"),
    )
    assert_supported(evidence)


@pytest.mark.claim("gpu-matmul-beats-cpu")
@pytest.mark.exclusive
@pytest.mark.parametrize("n", [1024, 2048, 4096, 8192], ids=lambda n: f"n{n}")
@pytest.mark.device
def test_gpu_matmul_beats_cpu(n, evidence, profile):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device on this machine (torch.cuda.is_available() is False)")
    gpu = matmul_fn(n, "cuda", evidence.seeds[0])
    cpu = matmul_fn(n, "cpu", evidence.seeds[0])
    cpu_again = matmul_fn(n, "cpu", evidence.placebo_seeds[0])  # the contrast (CPU) again, an independent block per repeat
    with runtime.all_threads() as cores:
        t = timing.alternate(
            {"gpu": gpu, "cpu": cpu, "cpu placebo": cpu_again}, repeats=len(evidence.seeds), warmup=2, sync=torch.cuda.synchronize
        )
    flop = 2 * n**3
    evidence.record(f"GFLOPS, {torch.cuda.get_device_name(0)}", flop / t["gpu"] / 1e9, unit="GFLOPS", setting={"n": n})
    evidence.record(f"GFLOPS, CPU ({cores} threads)", flop / t["cpu"] / 1e9, unit="GFLOPS", setting={"n": n})
    evidence.record("GPU timing summary (pytest-benchmark stats)", timing.summary(t["gpu"]), unit="s", per="statistic")
    evidence.paired(
        "gpu-speedup",
        np.log10(1 / t["gpu"]),
        np.log10(1 / t["cpu"]),
        placebo=np.log10(1 / t["cpu placebo"]),
        label=f"n = {n}",
        names=("GPU", "CPU"),
    )
    assert_supported(evidence)


# Published measurements (Le et al. 2012; Coates et al. 2013): a 1-billion-parameter network trained on CPUs and on GPUs
CPU_CLUSTER_MACHINES, CPU_CLUSTER_DAYS = 1000, 3.0  # Le et al. 2012 (ICML): 1,000 machines, 16,000 cores, three days
GPU_CLUSTER_MACHINES, GPU_CLUSTER_DAYS = 3, 2.0  # Coates et al. 2013 (ICML): 'just 3 machines in a couple of days'


@pytest.mark.claim("gpu-matmul-beats-cpu")
def test_gpu_beats_cpu_in_published_measurements(evidence):
    # throughput per machine, GPU server over CPU server: (work / (machines x days)) for the same amount of work
    ratio = (CPU_CLUSTER_MACHINES * CPU_CLUSTER_DAYS) / (GPU_CLUSTER_MACHINES * GPU_CLUSTER_DAYS)
    evidence.record(
        "throughput per machine, GPU server / CPU server (published, not measured here)",
        [ratio],
        unit="x",
        per="setting",
        setting={"CPU": "Le et al. 2012: 1,000 machines x 3 days", "GPU": "Coates et al. 2013: 3 machines x 2 days"},
    )
    evidence.bound(
        "published-speedup", [np.log10(ratio)], [0.0], label="cited, not measured here", names=("GPU servers", "CPU servers (itself)")
    )
    evidence.note(
        f"Cited, not measured here: Le et al. 2012 trained a 1-billion-connection network on {CPU_CLUSTER_MACHINES} CPU machines "
        f"(16,000 cores) for {CPU_CLUSTER_DAYS:.0f} days; Coates et al. 2013 trained 1-billion-parameter networks on "
        f"{GPU_CLUSTER_MACHINES} GPU servers in 'a couple of days' (taken as {GPU_CLUSTER_DAYS:.0f}): {ratio:.0f}x the throughput "
        "per machine. Whole training systems, not matmul alone; the GPU case of this claim measures matmul where a CUDA device exists "
        "(--claims-device cuda)."
    )
    assert_supported(evidence)
