"""The machine and software a run used, recorded with its results."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path


def environment(device: str = "cpu") -> dict:
    import numpy
    import scipy

    try:
        import torch

        torch_version, threads = torch.__version__, torch.get_num_threads()
        cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:  # the report CLI can run without torch
        torch_version, threads, cuda = None, None, None
    return {
        "python": platform.python_version(),
        "torch": torch_version,
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "platform": platform.platform(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "threads": threads,
        "cuda_device": cuda,
        "device": device,
        "git_commit": git_commit(),
    }


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, cwd=Path(__file__).parent)
        commit = out.stdout.strip() if out.returncode == 0 else None
        if commit:
            dirty = subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                capture_output=True,
                text=True,
                timeout=5,
                cwd=Path(__file__).parent,
            ).stdout.strip()
            return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return None
