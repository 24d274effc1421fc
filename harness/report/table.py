"""The claims of a results file as a Markdown table (the README's table of measured claims)."""

from __future__ import annotations

from harness.verdicts import LABELS


def markdown_table(data: dict, kinds: set[str] | None = None) -> str:
    """One row per claim (theme, id, kind, verdict, key number against its threshold), sorted by theme and id;
    ``kinds`` keeps only those claim kinds (all when empty)."""
    rows = ["| theme | claim | kind | verdict | key number (weakest case) vs threshold |", "|---|---|---|---|---|"]
    for c in sorted(data["claims"], key=lambda c: (c["theme"], c["id"])):
        if kinds and c["kind"] not in kinds:
            continue
        k = c.get("key")
        key = "" if not k else (f"{k['effect']:.3g} {k['unit']} ({'>' if k['direction'] == 'greater' else '<'} {k['threshold']:.3g})")
        rows.append(f"| {c['theme']} | `{c['id']}` | {c['kind']} | {LABELS[c['verdict']]} | {key} |")
    return "\n".join(rows)
