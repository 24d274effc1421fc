"""--claims-device: the full profile's larger settings on a GPU, and a clear error where there is none."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.lab import initialisation
from harness.profiles import PROFILES


def test_the_cuda_setting_is_taken_only_by_the_full_profile_on_cuda():
    sizes = dict(quick=64, default=128, full=256, cuda=2048)
    assert PROFILES["full"].on("cuda").pick(**sizes) == 2048
    assert PROFILES["full"].on("cpu").pick(**sizes) == 256
    assert PROFILES["default"].on("cuda").pick(**sizes) == 128  # smaller profiles keep their sizes on any device
    assert PROFILES["full"].on("cuda").pick(quick=1, default=2, full=3) == 3  # no cuda size: the full one


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_asking_for_cuda_without_a_gpu_is_a_usage_error(project):
    result = project.write().run("--claims-device", "cuda")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*--claims-device cuda: this machine has no CUDA device*"])


def test_device_aware_measurements_draw_on_the_cpu_and_compute_on_the_device():
    """The same seed gives the same numbers through the device parameter (here the CPU; on a GPU the
    draws are still made on the CPU, so only floating-point summation order can differ)."""
    a = initialisation.relu_second_moments(32, 5, ("he", "fan-in"), seed=3)
    b = initialisation.relu_second_moments(32, 5, ("he", "fan-in"), seed=3, device="cpu")
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_on_cuda_the_measurement_matches_the_cpu_to_rounding():
    a = initialisation.relu_second_moments(64, 10, ("he", "fan-in"), seed=3)
    b = initialisation.relu_second_moments(64, 10, ("he", "fan-in"), seed=3, device="cuda")
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-9)
