"""What a claim's result depends on, as one hash: rerun only the claims whose fingerprint changed.

A claim's fingerprint covers its catalogue entry (every field, prose included), its test module,
every ``harness`` module the test module imports (followed transitively, so a change to a shared lab
module reaches every claim that uses it), the judging code (judge, statistics, evidence, citations),
the reference table for citational claims, the profile and base seed, and the versions of Python,
torch, numpy and scipy.  ``pytest claims/ --claims-changed`` reruns the claims whose fingerprint
differs from the one recorded in the existing report and keeps the rest.
"""

from __future__ import annotations

import ast
import hashlib
import json
import platform
from functools import cache
from pathlib import Path

from harness.catalogue import Claim

HARNESS = Path(__file__).resolve().parents[1]  # the harness package
JUDGING = ("judge.py", "stats.py", "evidence.py", "citations.py", "verdicts.py", "catalogue.py")


@cache
def _harness_imports(path: Path) -> tuple[Path, ...]:
    """The files of the ``harness`` modules that ``path`` imports (directly)."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError):
        return ()
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "harness":
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            names |= {a.name for a in node.names if a.name.split(".")[0] == "harness"}
    out = []
    for name in sorted(names - {"harness"}):
        rel = Path(*name.split(".")[1:])
        for candidate in (HARNESS / rel.with_suffix(".py"), HARNESS / rel / "__init__.py"):
            if candidate.is_file():
                out.append(candidate)
                break
    return tuple(out)


def dependencies(test_module: Path) -> list[Path]:
    """The test module, every harness module it reaches through imports, and the judging code."""
    seen, todo = {test_module.resolve()}, [test_module.resolve()]
    while todo:
        for dep in _harness_imports(todo.pop()):
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    seen |= {HARNESS / name for name in JUDGING}
    return sorted(seen)


def versions() -> dict[str, str | None]:
    import numpy
    import scipy

    try:
        import torch

        torch_version = torch.__version__
    except ImportError:
        torch_version = None
    return {"python": platform.python_version(), "torch": torch_version, "numpy": numpy.__version__, "scipy": scipy.__version__}


def fingerprint(claim: Claim, claims_dir: Path, profile: str, seed: int, references: Path | None = None) -> str:
    """sha256 over everything the claim's result depends on (see the module's docstring)."""
    h = hashlib.sha256()
    h.update(json.dumps({"claim": claim.to_dict(), "profile": profile, "seed": seed, "versions": versions()}, sort_keys=True).encode())
    module = claims_dir / claim.test_module
    files = dependencies(module) if module.exists() else []
    if claim.kind == "citational" and references is not None and references.exists():
        files.append(references)
    for f in files:
        h.update(f"{f.parent.name}/{f.name}".encode())  # not the absolute path: the same in every checkout
        h.update(f.read_bytes())
    return h.hexdigest()
