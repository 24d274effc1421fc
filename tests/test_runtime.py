"""The process set-up every claim relies on: one thread and deterministic kernels, set cheaply."""

import subprocess
import sys


def test_setup_turns_on_deterministic_algorithms_without_the_compiler():
    # A fresh interpreter: the flag and the import are process-wide.
    code = (
        "import sys, torch; from harness.lab import runtime; runtime.configure_threads_and_determinism(1); "
        "print(torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(), "
        "torch.get_num_threads(), 'torch._inductor.config' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", "False", "1", "False"]
