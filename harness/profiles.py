"""Run profiles: a named profile sets seeds and sizes, never code paths (as Hypothesis profiles do)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

TIMEOUT_MARGIN = 10  # a case over TIMEOUT_MARGIN times its budget is stopped (pytest-timeout): an error verdict


@dataclass(frozen=True)
class Profile:
    name: str
    n_seeds: int  # seeds per stochastic measurement
    case_budget_s: float  # per-case budget: a case over it is flagged in the report and the terminal summary
    description: str
    device: str = "cpu"  # --claims-device: where claims that can use a GPU put their tensors

    @property
    def timeout_s(self) -> float:
        """A case this far over its budget (a wide margin) is stopped and becomes an error verdict."""
        return TIMEOUT_MARGIN * self.case_budget_s

    def with_budget(self, seconds: float) -> Profile:
        return replace(self, case_budget_s=seconds)

    def on(self, device: str) -> Profile:
        return replace(self, device=device)

    def pick(self, *, quick, default, full, cuda=None):
        """The size for this profile: ``profile.pick(quick=64, default=128, full=512, cuda=4096)``.

        ``cuda``: the larger setting of the full profile pointed at a GPU (``--claims-profile full
        --claims-device cuda``); without it, or on the CPU, the full profile takes ``full``.
        """
        if self.name == "full" and self.device == "cuda" and cuda is not None:
            return cuda
        return {"quick": quick, "default": default, "full": full}[self.name]

    def require(self, name: str, why: str) -> None:
        """Skip this case below profile ``name`` (e.g. 'default'), saying why: for claims whose honest
        test needs more runs than a smoke run can pay for.  A skip is reported with its reason, never as
        a pass; a run of that profile or larger gives the verdict."""
        order = list(PROFILES)
        if order.index(self.name) < order.index(name):
            import pytest

            pytest.skip(f"needs the {name} profile or larger ({why}); run with --claims-profile {name}")


PROFILES = {
    # budgets: the slowest case measured on the 2-core machine with room to spare (quick 3.8 s; default 24 s and full
    # 119 s, both dropout's 40 splits per seed)
    "quick": Profile("quick", n_seeds=4, case_budget_s=6, description="smoke run: small sizes, 4 seeds (< 1 min)"),
    "default": Profile("default", n_seeds=6, case_budget_s=30, description="the reference run: 6 seeds (a few minutes)"),
    "full": Profile("full", n_seeds=12, case_budget_s=150, description="larger sizes and 12 seeds (< 30 min)"),
}


def derive_seeds(base_seed: int, claim_id: str, n: int) -> list[int]:
    """n seeds for one claim, stable across runs, processes and parametrised cases.

    Every case of a claim gets the same seeds, so measurements pair up across settings.
    """
    out = []
    for i in range(n):
        digest = hashlib.sha256(f"{base_seed}:{claim_id}:{i}".encode()).digest()
        out.append(int.from_bytes(digest[:4], "little") & 0x7FFFFFFF)
    return out
