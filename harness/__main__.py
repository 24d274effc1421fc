"""Command line: ``python -m harness report|merge|list|coverage|stability|table|badges|screenshot`` (see ``--help``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _report(args) -> int:
    from harness.report import render_all
    from harness.results import load_results
    from harness.results.aggregate import summary

    data = load_results(args.results)  # duplicate claim ids are refused here
    recomputed = summary(data["claims"])
    if recomputed != data["summary"]:
        print(f"note: {args.results}: its summary block disagrees with its claims; the report counts the claims", file=sys.stderr)
    data["summary"] = recomputed
    out = Path(args.out or Path(args.results).parent)
    render_all(data, out)
    print(f"wrote {out / 'index.html'}, {out / 'figures'}/ and {out / 'badges'}/ ({len(data['claims'])} claims)")
    return 0


def _merge(args) -> int:
    from harness.report import render_all
    from harness.results import write_json_atomic
    from harness.results.merge import merge_files

    merged = merge_files(args.results, allow_mixed=args.allow_mixed_profiles)
    out = Path(args.output)
    write_json_atomic(merged, out)
    if not args.no_html:
        render_all(merged, out.parent)
    taken = {}
    for c in merged["claims"]:
        taken.setdefault(c["recorded_in"]["file"], []).append(c["id"])
    for f, ids in taken.items():
        print(f"{f}: {len(ids)} claim(s)")
    print(f"wrote {out}" + ("" if args.no_html else f" and {out.parent / 'index.html'}"))
    return 0


def _screenshot(args) -> int:
    from harness.report import browser

    html = Path(args.html)
    if not html.exists():
        print(f"error: {html}: no such report (run `pytest claims/` first)", file=sys.stderr)
        return 2
    if browser.chromium_path() is None:
        print("error: no Chromium found (run .ci/tools, or set DLCLAIMS_CHROMIUM)", file=sys.stderr)
        return 2
    out = browser.screenshot(html, Path(args.output), full_page=args.full_page, color_scheme=args.scheme)
    print(f"wrote {out}")
    return 0


def _table(args) -> int:
    """The claims of a results file as a Markdown table (for the README)."""
    from harness.report.table import markdown_table
    from harness.results import load_results

    print(markdown_table(load_results(args.results), set(args.kind or [])))
    return 0


def _badges(args) -> int:
    """Write every claim's badge into a folder and print a Markdown grid of them (one row per theme),
    each badge linking to the claim (its catalogue entry, or a published report).  The README's grid is
    this output, from the reference run (default profile, seed 0)."""
    from harness.report.badges import write_badges
    from harness.results import load_results

    data = load_results(args.results)
    out = Path(args.out)
    run = data["run"]
    problems = reference_problems(data)
    if problems and not args.force:
        print(
            f"error: {args.results} is not a reference run ({'; '.join(problems)}); the badges in {out} stay as they are. "
            "Run `pytest claims/` (default profile, every claim), or pass --force to write these badges anyway",
            file=sys.stderr,
        )
        return 2
    write_badges(data, out)
    lines = [
        f"<!-- {len(data['claims'])} claims; profile {run['profile']}, seed {run['seed']}, "
        f"{str(run.get('started', ''))[:10]}; `python -m harness badges` -->",
        "| theme | claims |",
        "|---|---|",
    ]
    by_theme: dict[str, list] = {}
    for c in data["claims"]:
        by_theme.setdefault(c["theme"], []).append(c)
    for theme, claims in sorted(by_theme.items()):
        cells = " ".join(
            f"[![{c['id']}: {c['verdict']}]({out.as_posix()}/{c['id']}.svg)]({args.link.format(theme=c['theme'], id=c['id'])})"
            for c in sorted(claims, key=lambda c: c["id"])
        )
        lines.append(f"| {theme} | {cells} |")
    grid = "\n".join(lines)
    if args.readme is None:
        print(grid)
        return 0
    return _replace_grid(Path(args.readme), grid)


GRID_START, GRID_END = "<!-- badges:start -->", "<!-- badges:end -->"


def _replace_grid(readme: Path, grid: str) -> int:
    """Put the badge grid (alt texts and date included) between the README's grid markers."""
    text = readme.read_text(encoding="utf-8")
    if GRID_START not in text or GRID_END not in text:
        print(f"error: {readme} has no {GRID_START} ... {GRID_END} markers around its badge grid", file=sys.stderr)
        return 2
    head, rest = text.split(GRID_START, 1)
    readme.write_text(f"{head}{GRID_START}\n{grid}\n{GRID_END}{rest.split(GRID_END, 1)[1]}", encoding="utf-8")
    print(f"updated the badge grid in {readme}")
    return 0


def reference_problems(data: dict) -> list[str]:
    """Why a results file is no reference run for the README's badges (empty when it is one): the
    default profile, every claim run in that one run, not interrupted."""
    run, out = data["run"], []
    if run["profile"] != "default" or run.get("profiles"):
        out.append(f"profile {'/'.join(run.get('profiles') or [run['profile']])}, not default")
    if run.get("interrupted"):
        out.append("the run was interrupted")
    if run.get("partial"):
        out.append("a partial run (--claim, -k or a module path)")
    older = [c["id"] for c in data["claims"] if c.get("from_earlier_run")]
    if older:
        out.append(f"{len(older)} claim(s) from earlier runs")
    return out


def _list(args) -> int:
    from harness.catalogue import load_catalogue

    cat = load_catalogue(args.catalogue, args.sources)
    for theme, claims in sorted(cat.by_theme().items()):
        print(f"{theme}:")
        for c in claims:
            print(f"  {c.id:45s} {c.kind:12s} {c.statement}")
    return 0


def _coverage(args) -> int:
    from harness.catalogue import load_catalogue
    from harness.results import coverage

    cat = load_catalogue(args.catalogue, args.sources)
    units = coverage.account(cat)
    gaps = 0
    for row in coverage.summary(cat, units):
        st = row["status"]
        print(
            f"{row['document']}: {row['units']} clauses: {st.get('covered', 0)} covered by {row['claims']} claims "
            f"{dict(sorted(row['claims_by_kind'].items()))}, {st.get('skipped', 0)} skipped "
            f"{dict(sorted(row['skipped_by_reason'].items()))}, {st.get('ignored', 0)} ignored, "
            f"{len(row['unaccounted'])} unaccounted"
        )
        if args.verbose:
            for u in units[row["document"]]:
                print(f"    {u.status:11s} {','.join(u.by)[:40]:40s} {u.text[:100]}")
        for text in row["unaccounted"]:
            print(f"    UNACCOUNTED: {text[:160]}")
        gaps += len(row["unaccounted"])
    print(f"{gaps} clause(s) unaccounted" if gaps else "every clause is accounted for")
    return 1 if gaps else 0


def _join(args) -> int:
    """Join the shards of one run (pytest-split) into one results file and report."""
    from harness.report import render_all
    from harness.results import write_json_atomic
    from harness.results.shards import ShardError, join_files

    try:
        data = join_files(args.results)
    except ShardError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.output)
    write_json_atomic(data, out)
    if not args.no_html:
        render_all(data, out.parent)
    counts = {k: v for k, v in data["summary"]["counts"].items() if v}
    print(f"joined {len(args.results)} shard(s): " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    print(f"wrote {out}" + ("" if args.no_html else f" and {out.parent / 'index.html'}"))
    return 0


def _register(args) -> int:
    """Lock the registered design of claims (all, or the ids given); a changed claim needs its amendment first."""
    from harness import registration
    from harness.catalogue import load_catalogue

    cat = load_catalogue(args.catalogue, args.sources)
    unknown = [c for c in args.ids if c not in cat.claims]
    if unknown:
        print(f"error: not claim ids in {args.catalogue}: {', '.join(unknown)}", file=sys.stderr)
        return 2
    done, refused = registration.register(cat, args.ids or None)
    for line in refused:
        print(f"refused: {line}", file=sys.stderr)
    print(
        f"registered {len(done)} claim(s) in {registration.lock_path(cat)}" + (f": {', '.join(done)}" if done and len(done) <= 10 else "")
    )
    return 1 if refused else 0


def _diff(args) -> int:
    """Differences in verdicts and numbers between two results files (exit 1 when there are any)."""
    from harness.results import load_results
    from harness.results.compare import differences

    found = differences(load_results(args.first), load_results(args.second), skip_claims=frozenset(args.timed or ()))
    for line in found:
        print(line)
    print(f"{len(found)} difference(s)" if found else "same verdicts and numbers")
    return 1 if found else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness", description="dlclaims: re-render reports, list claims")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("report", help="re-render index.html and badges from a results file, without rerunning")
    p.add_argument("results", help="a claims.json written by `pytest claims/`")
    p.add_argument("-o", "--out", help="output folder (default: the results file's folder)")
    p.set_defaults(func=_report)
    p = sub.add_parser("merge", help="merge results files from several machines (main run first)")
    p.add_argument("results", nargs="+", help="claims.json files; a claim comes from the first file in which it ran")
    p.add_argument("-o", "--output", required=True, help="the merged results file (index.html is written beside it)")
    p.add_argument("--no-html", action="store_true", help="write only the merged JSON")
    p.add_argument("--allow-mixed-profiles", action="store_true", help="merge runs of different profiles, each claim marked with its own")
    p.set_defaults(func=_merge)
    p = sub.add_parser("screenshot", help="a PNG of a report in headless Chromium (offline)")
    p.add_argument("html", nargs="?", default="reports/index.html")
    p.add_argument("-o", "--output", default="reports/screenshots/report.png")
    p.add_argument("--full-page", action="store_true")
    p.add_argument("--scheme", choices=("light", "dark"), default="light")
    p.set_defaults(func=_screenshot)
    p = sub.add_parser("table", help="the claims of a results file as a Markdown table")
    p.add_argument("results", nargs="?", default="reports/claims.json")
    p.add_argument("--kind", action="append", choices=("empirical", "analytic", "citational", "not-testable"))
    p.set_defaults(func=_table)
    p = sub.add_parser("badges", help="write the badges to a folder and print the README's badge grid")
    p.add_argument("results", nargs="?", default="reports/claims.json")
    p.add_argument("-o", "--out", default=".github/badges", help="folder for the SVG and JSON badges")
    p.add_argument(
        "--link",
        default="claims/catalogue/{theme}.toml",
        help="where each badge links; {theme} and {id} are filled in (default: the claim's catalogue "
        "file; a published report: 'https://HOST/index.html#{id}')",
    )
    p.add_argument("--force", action="store_true", help="write badges from a partial, interrupted or non-default run too")
    p.add_argument("--readme", metavar="FILE", help=f"put the grid into FILE between {GRID_START} and {GRID_END} instead of printing it")
    p.set_defaults(func=_badges)
    p = sub.add_parser("list", help="list the catalogue's claims by theme")
    p.add_argument("--catalogue", default="claims/catalogue")
    p.add_argument("--sources", default="fixtures/sources")
    p.set_defaults(func=_list)
    p = sub.add_parser("coverage", help="which sentences of the source texts no claim or skip entry accounts for")
    p.add_argument("--catalogue", default="claims/catalogue")
    p.add_argument("--sources", default="fixtures/sources")
    p.add_argument("-v", "--verbose", action="store_true", help="list every sentence with its status")
    p.set_defaults(func=_coverage)
    p = sub.add_parser("join", help="join the shards of one run (pytest --splits N --group I) into one results file")
    p.add_argument("results", nargs="+", help="each shard's claims.json")
    p.add_argument("-o", "--output", required=True, help="the joined results file (index.html is written beside it)")
    p.add_argument("--no-html", action="store_true", help="write only the joined JSON")
    p.set_defaults(func=_join)
    p = sub.add_parser("register", help="lock claims' registered designs (a changed claim needs an amendment entry first)")
    p.add_argument("ids", nargs="*", metavar="ID", help="claims to register (default: all)")
    p.add_argument("--catalogue", default="claims/catalogue")
    p.add_argument("--sources", default="fixtures/sources")
    p.set_defaults(func=_register)
    p = sub.add_parser("diff", help="differences in verdicts and numbers between two results files")
    p.add_argument("first")
    p.add_argument("second")
    p.add_argument(
        "--timed", action="append", metavar="ID", help="a claim whose numbers are timings (compare its verdict only); repeatable"
    )
    p.set_defaults(func=_diff)
    from harness.results import stability

    stability.add_parser(sub)
    args = parser.parse_args(argv)
    from harness.catalogue import CatalogueError
    from harness.results import ResultsError

    try:
        return args.func(args)
    except (CatalogueError, ResultsError) as exc:  # a bad input file: its name and the problem, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
