"""Evidence: what a claim test measured, recorded before the verdict is asserted.

A test receives an :class:`Evidence` through the ``evidence`` fixture, records its measurements
(values per seed and setting, with units), series for plots and notes, asks the judge through
``paired``/``bound``/``family`` (thresholds come from the catalogue, never from the test), and
ends with ``assert_supported(evidence)``.  The plugin serialises it into the pytest report, so it
survives pytest-xdist and reaches the JSON results even when the assertion fails.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from harness import judge as J
from harness.catalogue import Claim, Hypothesis
from harness.profiles import Profile


def _floats(values) -> list:
    """Nested lists of plain floats (numpy and torch scalars become floats; NaN/inf become None)."""
    if isinstance(values, dict):
        return {str(k): _floats(v) for k, v in values.items()}
    if hasattr(values, "tolist"):
        values = values.tolist()
    if isinstance(values, (list, tuple)):
        return [_floats(v) for v in values]
    if isinstance(values, bool) or values is None or isinstance(values, str):
        return values
    v = float(values)
    return v if math.isfinite(v) else None


@dataclass
class Evidence:
    claim: Claim
    seeds: list[int]
    profile: Profile
    case: str = ""  # parametrised case id, '' for an unparametrised test
    params: dict = field(default_factory=dict)
    measurements: list[dict] = field(default_factory=list)
    series: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    judgements: list[J.Judgement] = field(default_factory=list)
    asserted: bool = False
    placebo_seeds: list[int] = field(default_factory=list)  # independent seeds for the paired placebo (same count)
    tunings: list[dict] = field(default_factory=list)  # choices made on a declared grid (see tuned)

    # -- recording -----------------------------------------------------------------------------
    def record(self, name: str, values, *, unit: str = "", setting: dict | None = None, per: str = "seed") -> None:
        """Values of one condition: a list with one entry per seed (``per='seed'``) or per setting."""
        self.measurements.append({"name": name, "unit": unit, "per": per, "setting": _floats(setting or {}), "values": _floats(values)})

    def plot(
        self, title: str, x, lines: dict, *, xlabel: str, ylabel: str, log_y: bool = False, log_x: bool = False, kind: str = "line"
    ) -> None:
        """A figure for the report.  ``lines`` maps a label to y values: a list (one line) or a list
        of per-seed lists (drawn as the mean with a min-max band).  The report draws; tests only record."""
        self.series.append(
            {
                "title": title,
                "x": _floats(x),
                "lines": _floats(lines),
                "xlabel": xlabel,
                "ylabel": ylabel,
                "log_y": log_y,
                "log_x": log_x,
                "kind": kind,
            }
        )

    def note(self, text: str) -> None:
        self.notes.append(str(text))

    def tuned(
        self,
        name: str,
        grid,
        chosen,
        *,
        scores=None,
        setting: dict | None = None,
        edge_ok: str = "",
        flat_within: float | None = None,
        ties_within: float | None = None,
    ) -> dict:
        """Record a choice made on a declared grid (a learning rate, a width, an SVM's (C, gamma)).

        ``grid``: the declared values in increasing order, numbers or tuples (one coordinate per axis);
        ``chosen``: the value picked, or a list with one pick per seed; ``scores``: optional mean score
        per grid point, for the report.  A pick on the first or last value of an axis with two or more
        values means the grid is too narrow there (the best value may lie outside it): the case then
        ends as an error that says so, whatever was measured.  Per-seed picks: the grid is too narrow
        when more than half of them lie on an edge; fewer are shown, not fatal (the most frequent
        pick is reported as the best).  ``edge_ok`` gives the
        reason an axis end cannot be widened (the largest tree is the unlimited one); it is shown in
        the report and is never a reason for a learning rate.  ``flat_within``: with ``scores``, a grid whose
        scores all lie within this distance of each other has no best value (nothing on it does better than
        anything else, e.g. a net that stays at chance at every rate): its pick is recorded as flat, not
        judged for the edge.  ``ties_within``: with ``scores``, a pick on an edge whose score an inner value
        of the grid matches within this distance is no edge (the optimum is reached inside the grid too,
        e.g. several rates at 100 % validation accuracy).
        """
        t = tuning(name, grid, chosen, scores=scores, setting=setting, edge_ok=edge_ok, flat_within=flat_within, ties_within=ties_within)
        self.tunings.append(t)
        return t

    # -- judging ------------------------------------------------------------------------------
    def hypothesis(self, name: str) -> Hypothesis:
        try:
            return self.claim.hypotheses[name]
        except KeyError:
            declared = ", ".join(self.claim.hypotheses) or "none"
            raise J.JudgeError(
                f"claim '{self.claim.id}' declares no hypothesis '{name}' in {self.claim.catalogue_file}; declared: {declared}"
            ) from None

    def _keep(self, j: J.Judgement) -> J.Judgement:
        self.judgements.append(j)
        return j

    def paired(
        self, hypothesis: str, treatment, contrast, *, placebo, label: str = "", names: tuple[str, str] = ("treatment", "contrast")
    ) -> J.Judgement:
        """Judge ``treatment`` against ``contrast`` per seed (each one value per seed of ``self.seeds``).

        ``placebo``: the contrast condition measured again, at the same budget, on ``self.placebo_seeds``
        (one value per placebo seed).  The same rule applied to it against ``contrast`` must not come
        out supported, or the judgement is an error: a rule that finds an effect of a condition on
        itself cannot tell the claim's effect from seed noise.
        """
        hyp = self.hypothesis(hypothesis)
        return self._keep(
            J.judge_paired(hyp, self.claim.alpha, treatment, contrast, placebo=placebo, label=label, names=names, seed=self.seeds[0])
        )

    def bound(self, hypothesis: str, values, contrast, *, label: str = "", names: tuple[str, str] = ("values", "contrast")) -> J.Judgement:
        """Judge ``values`` (one per seed, or one number for a deterministic measurement) against the
        hypothesis's bound; the same rule applied to ``contrast`` (a condition that must not pass it)
        is the control, and a rule that passes both is an error."""
        return self._keep(
            J.judge_bound(self.hypothesis(hypothesis), self.claim.alpha, values, contrast, label=label, names=names, seed=self.seeds[0])
        )

    def family(
        self, hypothesis: str, settings: dict, contrast: dict, *, label: str = "", names: tuple[str, str] = ("values", "contrast")
    ) -> J.Judgement:
        """Judge a bound in every setting: ``settings`` maps a setting's label to its per-seed values;
        p-values are Holm-corrected across settings and the scope says where the bound holds.
        ``contrast`` has the same settings and must not pass the rule."""
        return self._keep(
            J.judge_family(self.hypothesis(hypothesis), self.claim.alpha, settings, contrast, label=label, names=names, seed=self.seeds[0])
        )

    def verdict(self) -> tuple[str, str]:
        """The case's verdict and reason from every judgement so far (sanity checks never count as evidence).
        A tuned choice on the edge of its grid makes the case an error: the contrast was not fair."""
        edges = [t for t in self.tunings if t["at_edge"] and not t["edge_ok"]]
        if edges:
            return J.ERROR, "; ".join(t["reason"] for t in edges)
        return J.combine(self.judgements)

    def to_dict(self) -> dict:
        verdict, reason = self.verdict() if self.judgements or self.tunings else (None, "")
        return {
            "claim": self.claim.id,
            "case": self.case,
            "params": _floats({k: str(v) if not isinstance(v, (int, float)) else v for k, v in self.params.items()}),
            "seeds": list(self.seeds),
            "profile": self.profile.name,
            "verdict": verdict,
            "reason": reason,
            "asserted": self.asserted,
            "measurements": self.measurements,
            "series": self.series,
            "notes": self.notes,
            "judgements": [j.to_dict() for j in self.judgements],
            "tuned": self.tunings,
        }


def _label(value) -> str:
    if isinstance(value, (tuple, list)):
        return "(" + ", ".join(_label(v) for v in value) + ")"
    return f"{value:g}" if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)


def tuning(
    name: str,
    grid,
    chosen,
    *,
    scores=None,
    setting: dict | None = None,
    edge_ok: str = "",
    flat_within: float | None = None,
    ties_within: float | None = None,
) -> dict:
    """The record of one tuned choice, with whether it lies on its grid's edge (see Evidence.tuned)."""
    grid = [tuple(g) if isinstance(g, (tuple, list)) else g for g in (grid.tolist() if hasattr(grid, "tolist") else grid)]
    if not grid:
        raise J.JudgeError(f"tuned '{name}': the grid is empty")
    multi = isinstance(grid[0], tuple)
    if hasattr(chosen, "tolist"):
        chosen = chosen.tolist()
    per_seed = isinstance(chosen, list) and (not multi or (chosen and isinstance(chosen[0], (tuple, list))))
    picks = [tuple(c) if isinstance(c, (tuple, list)) else c for c in (chosen if per_seed else [chosen])]
    for p in picks:
        if p not in grid:
            raise J.JudgeError(f"tuned '{name}': the chosen value {_label(p)} is not on its declared grid {[_label(g) for g in grid]}")
    axes = [list(dict.fromkeys(g[k] for g in grid)) for k in range(len(grid[0]))] if multi else [list(dict.fromkeys(grid))]

    def edge_axes(p) -> list[int]:
        coords = p if multi else (p,)
        return [k for k, (v, ax) in enumerate(zip(coords, axes)) if len(ax) >= 2 and v in (ax[0], ax[-1])]

    modal = max(dict.fromkeys(picks), key=picks.count)  # the most frequent pick; ties go to the first one
    flat = False
    if flat_within is not None:
        if scores is None:
            raise J.JudgeError(f"tuned '{name}': flat_within needs the grid's scores")
        vals = np.asarray(scores, dtype=float).ravel()
        flat = bool(np.all(np.isfinite(vals)) and vals.max() - vals.min() <= flat_within)
    edge_picks = sum(bool(edge_axes(p)) for p in picks)
    if flat:
        at = []
    elif per_seed:  # one pick per seed (or split): too narrow when most picks sit on an edge
        at = sorted({k for p in picks for k in edge_axes(p)}) if edge_picks > len(picks) / 2 else []
    else:
        at = edge_axes(modal)
    tied_inside = False
    if at and not per_seed and ties_within is not None:  # an edge pick whose score an inner value matches: the optimum reaches inside
        if scores is None:
            raise J.JudgeError(f"tuned '{name}': ties_within needs the grid's scores")
        vals = np.asarray(scores, dtype=float).ravel()
        best = vals[grid.index(modal)]
        inner = [i for i, g in enumerate(grid) if not edge_axes(g)]
        tied_inside = bool(inner) and bool(np.any(np.abs(vals[inner] - best) <= ties_within))
        at = [] if tied_inside else at
    reason = ""
    if at and per_seed:
        reason = (
            f"tuned '{name}': {edge_picks} of {len(picks)} picks lie on the edge of its declared grid "
            f"{[_label(g) for g in grid]}: widen the grid (the best value may lie outside it)"
        )
    elif at:
        coords = modal if multi else (modal,)
        where = ", ".join(f"axis {k + 1} at its {'lowest' if coords[k] == axes[k][0] else 'highest'} value" for k in at)
        reason = (
            f"tuned '{name}': the best value {_label(modal)} lies on the edge of its declared grid "
            f"{[_label(g) for g in grid]} ({where}): widen the grid (the best value may lie outside it)"
        )
    return {
        "name": name,
        "grid": _floats([list(g) if multi else g for g in grid]),
        "chosen": _floats([list(p) if multi else p for p in picks]),
        "per_seed": per_seed,
        "best": _floats(list(modal) if multi else modal),
        "at_edge": bool(at),
        "flat": flat,
        "tied_inside": tied_inside,
        "seeds_at_edge": edge_picks,
        "edge_ok": str(edge_ok),
        "reason": reason,
        "scores": _floats(scores) if scores is not None else None,
        "setting": _floats(setting or {}),
    }


class ClaimNotSupported(AssertionError):
    """Raised by :func:`assert_supported` when the case is measured not supported (or errs); the plugin
    reads the verdict from the evidence.  A case declared refuted is a strict xfail on this exception."""


class ClaimInconclusive(AssertionError):
    """Raised by :func:`assert_supported` when the case is inconclusive.  It is not what a declared
    refutation expects: a refutation must be measured, so an inconclusive case fails the run."""


def assert_supported(evidence: Evidence) -> None:
    """The one assertion a claim test ends with.  Fails with measured vs required values."""
    __tracebackhide__ = True
    evidence.asserted = True
    verdict, reason = evidence.verdict()
    if verdict in (J.SUPPORTED, J.NOT_MEASURED):  # not measured: sanity checks only, all passed
        return
    c = evidence.claim
    lines = [f"claim '{c.id}' is {verdict.upper()} in case [{evidence.case or '-'}]: {reason}", ""]
    for j in evidence.judgements:
        rel = ">=" if j.direction == "greater" else "<="
        lines.append(
            f"  {j.hypothesis}{' (' + j.label + ')' if j.label else ''}: measured {j.effect:.4g} {j.unit} "
            f"[CI {j.ci[0]:.4g}, {j.ci[1]:.4g}], p = {j.p:.3g}; required {rel} {j.threshold:g} at alpha "
            f"{j.alpha} ({j.comparison}) -> {j.verdict}" + (f"; about {j.seeds_needed} seeds would settle it" if j.seeds_needed else "")
        )
    lines += [
        "",
        f"  seeds: {evidence.seeds} (profile {evidence.profile.name})",
        f'  source: {c.sources[0].document}: "{c.sources[0].quote[:160]}"',
        "  next: look at the per-seed values in reports/index.html#"
        + c.id
        + "; more seeds (--claims-profile full) narrow the interval. Never loosen the threshold to pass.",
    ]
    raise (ClaimInconclusive if verdict == J.INCONCLUSIVE else ClaimNotSupported)("\n".join(lines))
