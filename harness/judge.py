"""The judge: the one place where a measurement meets its threshold.

Every rule returns a :class:`Judgement` (it never asserts), and every rule is checked against a
control that could fail:

- paired: a *placebo*.  The contrast condition is measured again with independent seeds (A'), in
  the same run and at the same budget, and the rule is applied to A' against A (both ways round,
  each way at alpha / 2: a placebo has no direction, so its two one-sided tests together keep the
  registered alpha as the control's false-alarm rate; at alpha each, it fired on 2 alpha of pure noise).
  A rule that finds an effect of a condition on itself cannot tell signal from seed noise: the
  judgement becomes an *error* that shows both numbers.  The swapped comparison (contrast against
  treatment) is kept as an internal sanity check only.
- bound and family: the same rule applied to a contrast condition (which must not pass it).

Verdict rules, for a hypothesis with direction 'greater' (mirror them for 'less'):
- paired:  d = treatment - contrast per seed; supported when the one-sided test of mean(d) > 0 has
  p < alpha and mean(d) >= threshold (the minimum effect); not supported when mean(d) <= 0, or when
  mean(d) is significantly below the minimum effect (one-sided test of mean(d) < threshold, p < alpha:
  the effect is real but demonstrably too small for the claim); inconclusive otherwise.
- bound:   values against a bound; supported when mean(values) - threshold > 0 with p < alpha;
  not supported when the mean lies on the wrong side of the bound; inconclusive otherwise.
- family:  a bound judged per setting, p-values Holm-corrected across the settings; the family is
  supported when every setting is; its ``scope`` lists the settings where the bound holds.

A hypothesis whose ``role`` is 'sanity' checks our code or a library, not the claim: it is judged
the same way, but :func:`combine` never counts it as evidence (a broken one is an error).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from harness import stats
from harness.catalogue import Hypothesis
from harness.verdicts import ERROR, INCONCLUSIVE, NOT_MEASURED, NOT_SUPPORTED, SUPPORTED


class JudgeError(ValueError):
    """The measurements handed to the judge cannot be judged (wrong shape, NaN, unknown rule)."""


@dataclass
class Judgement:
    hypothesis: str
    comparison: str
    direction: str
    threshold: float
    unit: str
    alpha: float
    verdict: str
    reason: str
    n: int
    effect: float  # paired: mean(treatment - contrast); bound: mean(values)
    ci: tuple[float, float]  # bootstrap interval of `effect`, confidence 1 - 2*alpha
    p: float
    label: str = ""  # which comparison, e.g. 'sigmoid + Xavier'
    p_adjusted: float | None = None
    values: dict[str, list[float]] = field(default_factory=dict)  # per seed, by condition
    control: dict | None = None  # bound/family: the rule applied to the contrast condition, as a dict
    placebo: dict | None = None  # paired: the contrast condition against itself on independent seeds, as a dict
    swap_check: str = ""  # paired: the swapped comparison's verdict (an internal sanity check)
    role: str = "evidence"  # 'evidence' or 'sanity' (checks our code, never counts as evidence)
    detectable: float | None = None  # the smallest effect these seeds detect at alpha with 80 % power (unit of `effect`)
    seeds_needed: int | None = None  # inconclusive: roughly how many seeds would settle it (None: over 1000)
    settings: list[dict] = field(default_factory=list)  # family: one judgement per setting
    scope: str = ""  # family: where the bound holds, in words

    def to_dict(self) -> dict:
        d = asdict(self)
        d["ci"] = list(self.ci)
        return d


def _as_sample(name: str, values, hypothesis: str) -> np.ndarray:
    x = np.asarray(values, dtype=float)
    if x.ndim != 1 or x.size == 0:
        raise JudgeError(f"hypothesis '{hypothesis}': '{name}' must be a non-empty list of numbers (one per seed), got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise JudgeError(
            f"hypothesis '{hypothesis}': '{name}' has non-finite values {x.tolist()}; map divergence to a finite worst value before judging"
        )
    return x


def _decide(effect_mean: float, p: float, hyp: Hypothesis, alpha: float, *, paired: bool, p_below: float = 0.0) -> tuple[str, str]:
    """Verdict and reason from the mean, the p-value and the hypothesis's threshold.

    ``p_below`` is the one-sided p-value of the evidence against the claim: paired, 'the effect is
    smaller than the minimum effect'; bound, 'the mean lies on the wrong side of the bound'.  A bound
    is *not supported* only when its mean is significantly on the wrong side: a mean just short of the
    bound whose interval still reaches past it is inconclusive, as a paired effect just short of its
    minimum is (a refutation must be measured, like a confirmation)."""
    sign = 1.0 if hyp.direction == "greater" else -1.0
    if paired:
        signed, minimum = sign * effect_mean, abs(hyp.threshold)
        if signed <= 0:
            return NOT_SUPPORTED, f"effect {effect_mean:+.4g} {hyp.unit} points the wrong way"
        if signed < minimum and p_below < alpha:
            return NOT_SUPPORTED, (
                f"|effect| {abs(effect_mean):.4g} {hyp.unit} is significantly below the minimum "
                f"effect {minimum:g} (p = {p_below:.3g} < {alpha})"
            )
        if p >= alpha:
            return INCONCLUSIVE, f"direction right but not significant (p = {p:.3g} >= alpha = {alpha})"
        if signed < minimum:
            return INCONCLUSIVE, f"significant, but |effect| {abs(effect_mean):.4g} < minimum effect {minimum:g} {hyp.unit}"
        return SUPPORTED, f"effect {effect_mean:+.4g} {hyp.unit} beyond minimum {sign * minimum:+g}, p = {p:.3g} < {alpha}"
    margin = sign * (effect_mean - hyp.threshold)
    rel = ">" if hyp.direction == "greater" else "<"
    if margin <= 0 and p_below < alpha:
        return NOT_SUPPORTED, (
            f"mean {effect_mean:.4g} {hyp.unit} is not {rel} bound {hyp.threshold:g}, significantly (p = {p_below:.3g} < {alpha})"
        )
    if margin <= 0:
        return INCONCLUSIVE, (
            f"mean {effect_mean:.4g} {hyp.unit} is not {rel} bound {hyp.threshold:g}, but not significantly (p = {p_below:.3g} >= {alpha})"
        )
    if p >= alpha:
        return INCONCLUSIVE, f"mean {effect_mean:.4g} {rel} {hyp.threshold:g} but not significant (p = {p:.3g} >= {alpha})"
    return SUPPORTED, f"mean {effect_mean:.4g} {hyp.unit} {rel} bound {hyp.threshold:g}, p = {p:.3g} < {alpha}"


def _core(
    x: np.ndarray,
    hyp: Hypothesis,
    alpha: float,
    *,
    paired: bool,
    seed: int,
    label: str,
    values: dict[str, list[float]],
    p_override: float | None = None,
) -> Judgement:
    shifted = x if paired else x - hyp.threshold
    p = stats.one_sided_p(shifted, hyp.direction, hyp.test)
    p_used = p if p_override is None else p_override
    effect = float(np.mean(x))
    opposite = "less" if hyp.direction == "greater" else "greater"
    if paired:  # is the effect significantly smaller than the minimum effect?
        sign = 1.0 if hyp.direction == "greater" else -1.0
        p_below = stats.one_sided_p(x - sign * abs(hyp.threshold), opposite, hyp.test)
    elif not stats.has_spread(shifted):  # a deterministic value has no sampling error: at or past the bound is decided
        p_below = 0.0
    else:  # is the mean significantly on the wrong side of the bound?
        p_below = stats.one_sided_p(shifted, opposite, hyp.test)
    verdict, reason = _decide(effect, p_used, hyp, alpha, paired=paired, p_below=p_below)
    sd = float(np.std(x, ddof=1)) if x.size > 1 else 0.0
    detectable = stats.detectable_effect(sd, int(x.size), alpha)
    seeds_needed = None
    if verdict == INCONCLUSIVE:  # the gap to the nearest decision boundary: 0 (significance) or the threshold
        sign = 1.0 if hyp.direction == "greater" else -1.0
        signed = sign * effect
        gap = (signed if signed >= abs(hyp.threshold) else abs(hyp.threshold) - signed) if paired else abs(effect - hyp.threshold)
        seeds_needed = stats.seeds_to_detect(sd, gap, alpha)
    return Judgement(
        hypothesis=hyp.name,
        comparison=hyp.comparison,
        direction=hyp.direction,
        threshold=hyp.threshold,
        unit=hyp.unit,
        alpha=alpha,
        verdict=verdict,
        reason=reason,
        n=int(x.size),
        effect=effect,
        ci=stats.bootstrap_ci(x, 1 - 2 * alpha, seed=seed),
        p=p,
        label=label,
        p_adjusted=p_override,
        values=values,
        detectable=detectable if np.isfinite(detectable) else None,
        seeds_needed=seeds_needed,
    )


def _with_control(main: Judgement, control: Judgement, what: str) -> Judgement:
    main.control = control.to_dict() | {"swap": what}
    if main.verdict == SUPPORTED and control.verdict == SUPPORTED:
        main.verdict = ERROR
        main.reason = (
            f"negative control accepted ({what}): the rule cannot tell the conditions apart; "
            f"check the threshold's sign and direction. Original: {main.reason}"
        )
    return main


def _placebo(
    main: Judgement, hyp: Hypothesis, alpha: float, c: np.ndarray, placebo: np.ndarray, seed: int, label: str, name: str
) -> Judgement:
    """Judge the contrast against its rerun on independent seeds, both ways round at alpha / 2 each (one two-sided
    control at the registered alpha); a supported placebo is an error."""
    half = alpha / 2
    forward = _core(
        placebo - c, hyp, half, paired=True, seed=seed, label=label, values={f"{name} (placebo seeds)": placebo.tolist(), name: c.tolist()}
    )
    backward = _core(
        c - placebo, hyp, half, paired=True, seed=seed, label=label, values={name: c.tolist(), f"{name} (placebo seeds)": placebo.tolist()}
    )
    sign = 1.0 if hyp.direction == "greater" else -1.0
    shown = forward if sign * forward.effect >= sign * backward.effect else backward
    main.placebo = shown.to_dict() | {"what": f"{name} against {name} on independent seeds"}
    if SUPPORTED in (forward.verdict, backward.verdict):
        main.reason = (
            f"placebo accepted: {name} measured again on independent seeds differs from itself by {shown.effect:+.4g} {hyp.unit} "
            f"(p = {shown.p:.3g}), so the rule cannot tell this effect ({main.effect:+.4g} {hyp.unit}) from seed noise; "
            f"more seeds or a larger minimum effect are needed. Original: {main.reason}"
        )
        main.verdict = ERROR
    return main


def judge_paired(
    hyp: Hypothesis,
    alpha: float,
    treatment,
    contrast,
    *,
    placebo,
    label: str = "",
    names: tuple[str, str] = ("treatment", "contrast"),
    seed: int = 0,
) -> Judgement:
    """Paired comparison per seed: ``treatment[i]`` and ``contrast[i]`` share seed i.

    ``placebo``: the contrast condition measured again on independent seeds (same length, same
    budget); the rule applied to it against ``contrast`` must not come out supported.  A contrast
    with no randomness at all gives a placebo equal to it (effect 0, never supported).
    """
    if hyp.comparison != "paired":
        raise JudgeError(f"hypothesis '{hyp.name}' is declared '{hyp.comparison}', not 'paired'")
    t, c = _as_sample(names[0], treatment, hyp.name), _as_sample(names[1], contrast, hyp.name)
    if placebo is None:
        raise JudgeError(
            f"hypothesis '{hyp.name}': a paired judgement needs a placebo (the contrast '{names[1]}' measured again on "
            "evidence.placebo_seeds)"
        )
    pl = _as_sample(f"{names[1]} (placebo)", placebo, hyp.name)
    if t.shape != c.shape or pl.shape != c.shape:
        raise JudgeError(
            f"hypothesis '{hyp.name}': paired samples differ in length ({t.size} treatment, {c.size} contrast, {pl.size} placebo)"
        )
    values = {names[0]: t.tolist(), names[1]: c.tolist()}
    main = _core(t - c, hyp, alpha, paired=True, seed=seed, label=label, values=values)
    main.role = hyp.role
    swapped = _core(c - t, hyp, alpha, paired=True, seed=seed, label=label, values={})
    main.swap_check = swapped.verdict
    if main.verdict == SUPPORTED and swapped.verdict == SUPPORTED:  # cannot happen unless the rule is broken
        main.verdict, main.reason = ERROR, f"the rule accepts both orders of {names[0]} and {names[1]}: {main.reason}"
    return _placebo(main, hyp, alpha, c, pl, seed, label, names[1])


def judge_bound(
    hyp: Hypothesis, alpha: float, values, contrast, *, label: str = "", names: tuple[str, str] = ("values", "contrast"), seed: int = 0
) -> Judgement:
    """Values against the hypothesis's bound; the same rule applied to ``contrast`` is the control."""
    if hyp.comparison != "bound":
        raise JudgeError(f"hypothesis '{hyp.name}' is declared '{hyp.comparison}', not 'bound'")
    x, c = _as_sample(names[0], values, hyp.name), _as_sample(names[1], contrast, hyp.name)
    main = _core(x, hyp, alpha, paired=False, seed=seed, label=label, values={names[0]: x.tolist()})
    main.role = hyp.role
    control = _core(c, hyp, alpha, paired=False, seed=seed, label=label, values={names[1]: c.tolist()})
    return _with_control(main, control, f"rule applied to {names[1]}")


def _family(hyp: Hypothesis, alpha: float, settings: dict[str, np.ndarray], seed: int, label: str, name: str) -> Judgement:
    keys = list(settings)
    raw = [stats.one_sided_p(settings[k] - hyp.threshold, hyp.direction, hyp.test) for k in keys]
    adjusted = stats.holm(raw)
    parts = [
        _core(settings[k], hyp, alpha, paired=False, seed=seed, label=str(k), values={name: settings[k].tolist()}, p_override=float(pa))
        for k, pa in zip(keys, adjusted)
    ]
    held = [k for k, j in zip(keys, parts) if j.verdict == SUPPORTED]
    leading = 0
    for j in parts:
        if j.verdict != SUPPORTED:
            break
        leading += 1
    if leading == len(keys):
        scope = f"holds in all {len(keys)} settings"
    elif leading:
        scope = f"holds for the first {leading} of {len(keys)} settings ({keys[0]} to {keys[leading - 1]}); {len(held)} in all"
    else:
        scope = f"holds in {len(held)} of {len(keys)} settings" + (f" ({', '.join(map(str, held))})" if held else "")
    verdicts = [j.verdict for j in parts]
    if all(v == SUPPORTED for v in verdicts):
        verdict, reason = SUPPORTED, f"bound holds in every setting (Holm-corrected over {len(keys)}); {scope}"
    elif NOT_SUPPORTED in verdicts:
        first = keys[verdicts.index(NOT_SUPPORTED)]
        verdict, reason = NOT_SUPPORTED, f"bound fails at setting {first}; {scope}"
    else:
        verdict, reason = INCONCLUSIVE, f"not significant everywhere after Holm; {scope}"
    means = np.array([j.effect for j in parts])
    worst = int(np.argmin(means) if hyp.direction == "greater" else np.argmax(means))
    return Judgement(
        hypothesis=hyp.name,
        comparison="family",
        direction=hyp.direction,
        threshold=hyp.threshold,
        unit=hyp.unit,
        alpha=alpha,
        verdict=verdict,
        reason=reason,
        n=int(parts[0].n),
        effect=float(means[worst]),
        ci=parts[worst].ci,
        p=float(max(adjusted)),
        p_adjusted=float(max(adjusted)),
        label=label,
        settings=[j.to_dict() for j in parts],
        scope=scope,
    )


def judge_family(
    hyp: Hypothesis,
    alpha: float,
    settings: dict,
    contrast: dict,
    *,
    label: str = "",
    names: tuple[str, str] = ("values", "contrast"),
    seed: int = 0,
) -> Judgement:
    """A bound judged in each setting (dict of setting -> per-seed values), Holm-corrected.

    ``effect`` is the worst setting's mean.  The control applies the same family rule to
    ``contrast`` (same settings) and must not be supported.
    """
    if hyp.comparison != "family":
        raise JudgeError(f"hypothesis '{hyp.name}' is declared '{hyp.comparison}', not 'family'")
    if not settings:
        raise JudgeError(f"hypothesis '{hyp.name}': no settings to judge")
    s = {k: _as_sample(f"{names[0]}[{k}]", v, hyp.name) for k, v in settings.items()}
    c = {k: _as_sample(f"{names[1]}[{k}]", v, hyp.name) for k, v in contrast.items()}
    main = _family(hyp, alpha, s, seed, label, names[0])
    main.role = hyp.role
    control = _family(hyp, alpha, c, seed, label, names[1])
    return _with_control(main, control, f"rule applied to {names[1]}")


def combine(judgements: list[Judgement]) -> tuple[str, str]:
    """A case's verdict from its judgements: every evidence judgement must be supported (intersection-union).

    Requiring every rule to hold keeps the case's error rate at alpha without correction; Holm is
    applied inside a family, where single settings are reported on their own.  Sanity checks never
    count as evidence: a failed one makes the case an error; a case with nothing but passed sanity
    checks is 'not-measured'.
    """
    if not judgements:
        return ERROR, "the test judged no hypothesis"

    def says(js: list[Judgement]) -> str:
        return "; ".join(f"{j.hypothesis}{f' ({j.label})' if j.label else ''}: {j.reason}" for j in js)

    broken = [j for j in judgements if j.role == "sanity" and j.verdict != SUPPORTED]
    if broken:
        return ERROR, "sanity check failed (our code or a library, not the claim): " + says(broken)
    evidence = [j for j in judgements if j.role != "sanity"]
    if not evidence:
        return NOT_MEASURED, "only sanity checks, all passed (they check our code, not the claim): " + says(judgements)
    for level in (ERROR, NOT_SUPPORTED, INCONCLUSIVE):
        bad = [j for j in evidence if j.verdict == level]
        if bad:
            return level, says(bad)
    return SUPPORTED, says(evidence)
