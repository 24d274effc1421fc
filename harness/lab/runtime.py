"""Process set-up shared by every claim: one thread and deterministic kernels.

Small-model training and linear algebra run fastest and steadiest on one thread on a shared
2-core machine, so every worker starts with one torch thread and one BLAS thread.  Throughput
claims ask for all threads with :func:`all_threads` and run alone (marker ``exclusive``, see
:mod:`harness.plugin.exclusive`).
"""

from __future__ import annotations

import contextlib
import os
import sys

_BLAS_LIMIT = None


def configure_threads_and_determinism(threads: int = 1) -> None:
    global _BLAS_LIMIT
    # cuBLAS is deterministic only with a fixed workspace (torch raises otherwise under deterministic algorithms)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    # SciPy ships its own OpenBLAS, loaded on first use (e.g. by scikit-learn); threadpoolctl only
    # limits libraries already loaded, so load them first or their threads fight on a busy machine.
    import scipy.linalg  # noqa: F401
    import sklearn.utils  # noqa: F401
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads)
    _deterministic(torch)
    if _BLAS_LIMIT is None:
        _BLAS_LIMIT = threadpool_limits(limits=threads)


def _deterministic(torch) -> None:
    """torch.use_deterministic_algorithms(True) without its import of the inductor's config (about 1.4 s of
    CPU per process for a compiler no claim uses; the flag it sets there only matters to compiled code).  Falls
    back to the public call where a release moves the underlying switch."""
    switch = getattr(torch._C, "_set_deterministic_algorithms", None)
    if switch is None or "torch._inductor.config" in sys.modules:
        torch.use_deterministic_algorithms(True)
        return
    try:
        switch(True, warn_only=False)
    except TypeError:  # a release changed its signature
        torch.use_deterministic_algorithms(True)


@contextlib.contextmanager
def all_threads():
    """Every core for the duration (throughput measurements only); restores one thread after."""
    import torch
    from threadpoolctl import threadpool_limits

    n = os.cpu_count() or 1
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        with threadpool_limits(limits=n):
            yield n
    finally:
        torch.set_num_threads(before)


@contextlib.contextmanager
def unfilled_allocations():
    """New tensors keep their memory as allocated for the duration, instead of the NaN fill that deterministic mode
    gives every one (``torch.utils.deterministic.fill_uninitialized_memory``).  The fill is a safety net against code
    that reads memory it never wrote; a loop whose kernels write every element they allocate computes the same values
    without it, minus a pass over each new tensor (about a tenth of the CPU of the MNIST-1D CNN's training steps)."""
    import torch

    before = torch.utils.deterministic.fill_uninitialized_memory
    torch.utils.deterministic.fill_uninitialized_memory = False
    try:
        yield
    finally:
        torch.utils.deterministic.fill_uninitialized_memory = before
