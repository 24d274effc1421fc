"""The one list of verdicts: names, labels, colours and order.

"Disputed" is not a verdict: a claim the catalogue declares disputed shows its measured verdict,
annotated with the dispute's reference (and never fails the run by what it measures).

The judge, the results file, its schema, merge, the badges, the terminal and the report all take
their verdict names from here; nothing else types them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Verdict:
    name: str  # as written in claims.json and badge file names
    label: str  # as shown to a reader
    colour: str  # badge and report colour (white text on it passes WCAG AA contrast)
    meaning: str  # one line for the report's legend and the README


_ALL = (
    Verdict("supported", "supported", "#2e7d32", "the measurement supports the claim in every case"),
    Verdict(
        "supported-in-part",
        "supported in part",
        "#33691e",
        "supported in some cases or settings and not in others; the scope says where it holds",
    ),
    Verdict("not-supported", "not supported", "#c62828", "the effect points the wrong way, or lies significantly below the minimum effect"),
    Verdict(
        "inconclusive",
        "inconclusive",
        "#b45309",
        "direction right, but neither significantly beyond nor significantly short of the minimum effect",
    ),
    Verdict(
        "known-refuted",
        "known refuted",
        "#6a1b9a",
        "measured not supported (wrong side, or significantly short of the minimum effect), as the catalogue declared",
    ),
    Verdict(
        "not-measured",
        "not measured",
        "#455a64",
        "nothing about the claim itself was measured: only sanity checks of our code ran, and they passed",
    ),
    Verdict("skipped", "skipped", "#616161", "not measured in this run, with the reason"),
    Verdict("error", "error", "#000000", "the test or the harness broke"),
    Verdict("not-run", "not run", "#6b6b6b", "deselected or interrupted"),
    Verdict("not-testable", "not testable", "#546e7a", "an opinion, prediction or statement about people"),
)

BY_NAME: dict[str, Verdict] = {v.name: v for v in _ALL}
ORDER: tuple[str, ...] = tuple(v.name for v in _ALL)  # claim verdicts, in the order reports list them
LABELS: dict[str, str] = {v.name: v.label for v in _ALL}
COLOURS: dict[str, str] = {v.name: v.colour for v in _ALL}

SUPPORTED, SUPPORTED_IN_PART, NOT_SUPPORTED, INCONCLUSIVE = "supported", "supported-in-part", "not-supported", "inconclusive"
KNOWN_REFUTED, NOT_MEASURED = "known-refuted", "not-measured"
SKIPPED, ERROR, NOT_RUN, NOT_TESTABLE = "skipped", "error", "not-run", "not-testable"

# What one judgement or one case can be (a claim's verdict is aggregated from its cases).
JUDGEMENTS: tuple[str, ...] = (SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE, ERROR)
CASE_VERDICTS: tuple[str, ...] = (SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE, NOT_MEASURED, SKIPPED, ERROR, NOT_RUN)
NOT_RAN: tuple[str, ...] = (SKIPPED, NOT_RUN)  # a case with one of these measured nothing
# claim verdicts that rest on a measurement of the claim (for the counts of measured evidence)
MEASURED: tuple[str, ...] = (SUPPORTED, SUPPORTED_IN_PART, NOT_SUPPORTED, INCONCLUSIVE, KNOWN_REFUTED)
