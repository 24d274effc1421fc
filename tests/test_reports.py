"""Reports: schema, escaping, badges, re-rendering and bad input to the CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import CATALOGUE, TESTS
from harness import verdicts
from harness.report import html as R
from harness.results import files as results_mod


def test_results_validate_against_the_schema(project):
    project.write().run()
    data = project.results()
    results_mod.validate(data)
    env = data["run"]["environment"]
    for field in ("python", "torch", "numpy", "scipy", "cpu_model", "threads", "git_commit"):
        assert field in env
    assert data["run"]["profile"] == "quick" and data["run"]["seed"] == 0


def test_a_script_in_a_claim_stays_text_in_the_html(project):
    evil = CATALOGUE.replace('statement = "The fox is quicker than the dog."', 'statement = "The fox <script>alert(1)</script> & the dog."')
    project.write(catalogue=evil).run()
    html = (project.pytester.path / "reports" / "index.html").read_text()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; the dog." in html
    assert html.count("<script>") == 1, "only the report's own filter script"
    import re

    fetches = re.findall(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//|url\(\s*["']?(?:https?:)?//|<link\b|@import""", html)
    assert not fetches, f"the report would fetch from the network: {fetches}"


def test_badges_follow_the_shields_endpoint_format(project):
    project.write().run()
    badge = json.loads((project.pytester.path / "reports" / "badges" / "fox-is-quick.json").read_text())
    assert badge == {"schemaVersion": 1, "label": "fox-is-quick", "message": "supported", "color": "2e7d32", "isError": False}
    svg = (project.pytester.path / "reports" / "badges" / "fox-is-quick.svg").read_text()
    assert svg.lstrip().startswith("<?xml") or svg.lstrip().startswith("<svg")
    assert "supported" in svg


def test_every_verdict_has_a_colour_and_label():
    for v in verdicts.ORDER:
        assert v in verdicts.COLOURS and v in verdicts.LABELS


def test_quotes_are_highlighted_in_their_document():
    segs = R.highlight_segments("a b\n c d", [("q1", "b c")])
    assert segs == [("a ", None), ("b\n c", "q1"), (" d", None)]


def _cli_on_a_run(project, command: str, out, *extra, status: int = 0):
    """Run the miniature project, then ``python -m harness <command> <its results> -o out``."""
    project.write().run()
    src = project.pytester.path / "reports" / "claims.json"
    proc = subprocess.run([sys.executable, "-m", "harness", command, str(src), "-o", str(out), *extra], capture_output=True, text=True)
    assert proc.returncode == status, proc.stderr
    return src, proc


def test_report_command_re_renders_without_rerunning(project, tmp_path):
    out = tmp_path / "again"
    _cli_on_a_run(project, "report", out)
    assert (out / "index.html").exists() and (out / "badges" / "gradients-fade.svg").exists()


def test_badges_command_writes_the_readme_grid(project, tmp_path):
    out = tmp_path / "badges"
    src, proc = _cli_on_a_run(project, "badges", out, "--force")  # a quick run: only when asked
    data = json.loads(src.read_text())
    for c in data["claims"]:  # every claim has its badge in the grid, none is silently missing
        assert (out / f"{c['id']}.svg").exists()
        assert f"]({out.as_posix()}/{c['id']}.svg)](claims/catalogue/{c['theme']}.toml)" in proc.stdout
    assert proc.stdout.count("[![") == len(data["claims"])


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"tool": "dlclaims", "schema_version": 1, "run": ', "is not valid JSON (line 1"),
        ('{"tool": "pytest-html"}', "is not a dlclaims results file"),
        ('{"tool": "dlclaims", "schema_version": 99}', "has schema_version 99"),
        (
            '{"tool": "dlclaims", "schema_version": 2, "run": {}, "summary": {}, "documents": [], "claims": []}',
            "does not match the dlclaims results schema",
        ),
    ],
)
def test_report_command_refuses_bad_files_with_a_clear_message(tmp_path, content, message):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    proc = subprocess.run([sys.executable, "-m", "harness", "report", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert str(bad) in proc.stderr and message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_report_command_on_a_missing_file(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "harness", "report", str(tmp_path / "none.json")], capture_output=True, text=True)
    assert proc.returncode == 2 and "no such file" in proc.stderr


def test_results_are_written_atomically(tmp_path):
    path = tmp_path / "claims.json"
    results_mod.write_json_atomic({"a": 1}, path)
    with pytest.raises(ValueError):
        results_mod.write_json_atomic({"a": float("nan")}, path)
    assert json.loads(path.read_text()) == {"a": 1}, "a failed write leaves the old file intact"
    assert [p.name for p in tmp_path.iterdir()] == ["claims.json"]


def test_a_claim_supported_only_in_part_is_a_verdict_everywhere(project):
    """A claim whose declared-refuted case fails, as declared, is 'supported in part' with its scope, in the
    JSON, the badge, the terminal and the report (the template computes no verdict)."""
    catalogue = (
        CATALOGUE
        + """
[fox-is-quick.cases.road]
expected = "refuted"
reference = "dogs run on roads"
"""
    )
    slow_on_road = TESTS.replace("fox = 3 +", "fox = (3 if terrain == 'grass' else 0.5) +")
    result = project.write(catalogue=catalogue, tests=slow_on_road).run()
    fox = next(c for c in project.results()["claims"] if c["id"] == "fox-is-quick")
    assert fox["verdict"] == "supported-in-part" and fox["as_expected"]
    assert fox["scope"] == "holds in grass; not in road"
    assert "1 supported-in-part" in result.stdout.str()
    badge = json.loads((project.pytester.path / "reports" / "badges" / "fox-is-quick.json").read_text())
    assert badge["message"] == "supported in part"
    html = (project.pytester.path / "reports" / "index.html").read_text()
    assert "holds in grass; not in road" in html


def _series_claim(claim_id: str, scale: float) -> dict:
    series = {
        "title": "loss per step",
        "x": [1, 2, 3],
        "lines": {"a": [[1.0 * scale, 0.5, 0.2], [1.1, 0.6, 0.25]]},
        "xlabel": "step",
        "ylabel": "nats",
        "log_y": False,
        "log_x": False,
    }
    return {
        "id": claim_id,
        "kind": "empirical",
        "cases": [{"case": "", "test": "test_x", "evidence": {"series": [series], "judgements": []}}],
    }


def test_early_figures_are_drawn_in_another_process_and_only_reused_when_unchanged():
    from harness.report import worker as plots

    early = plots.EarlyFigures()
    try:
        early.submit(_series_claim("drawn-early", 1.0))
        early.submit(_series_claim("changed-since", 1.0))
        early.wait_idle()
        final = [_series_claim("drawn-early", 1.0), _series_claim("changed-since", 2.0), _series_claim("never-sent", 1.0)]
        ready = early.take(final)
    finally:
        early.close()
    assert set(ready) == {"drawn-early"}, "a claim whose evidence changed, or never sent, is drawn at report time"
    [(title, svg)] = ready["drawn-early"]
    assert title == "test_x: loss per step" and svg.startswith("<svg") and "<style>" in svg
    assert not early.dir.exists(), "the exchange folder is removed"
    everything = plots.all_figures(final, workers=1, ready=ready)
    assert set(everything) == {"drawn-early", "changed-since", "never-sent"} and everything["drawn-early"] is ready["drawn-early"]


def test_a_serial_run_draws_figures_while_it_runs(project, monkeypatch):
    import importlib

    # the modules the run will use: sys.modules' (an earlier in-process run may have left the package
    # attribute pointing at an older copy)
    plugin, plots = importlib.import_module("harness.plugin.session"), importlib.import_module("harness.report.worker")
    monkeypatch.setattr(plugin.ClaimsSession, "EARLY_MIN_CLAIMS", 1)
    taken = []

    real_take = plots.EarlyFigures.take
    monkeypatch.setattr(plots.EarlyFigures, "take", lambda self, claims: taken.append(r := real_take(self, claims)) or r)
    series_tests = TESTS.replace(
        'evidence.record("fox", fox, unit="m/s")',
        'evidence.record("fox", fox, unit="m/s")\n    evidence.plot("fox speed", [1, 2], {"fox": [1.0, 2.0]}, xlabel="x", ylabel="m/s")',
    )
    project.write(tests=series_tests).run()
    assert taken and "fox-is-quick" in taken[0], "the figures came from the early worker"
    html = (project.pytester.path / "reports" / "index.html").read_text()
    assert "fox speed" in html


def test_where_a_claim_holds_keeps_apart_two_tests_with_the_same_setting():
    def case(test, name, depth, verdict, effect):
        j = {"hypothesis": "h", "unit": "nats", "effect": effect, "comparison": "paired", "label": ""}
        return {
            "test": test,
            "case": name,
            "params": {"depth": depth},
            "verdict": verdict,
            "expected": "supported",
            "evidence": {"judgements": [j]},
        }

    claim = {
        "cases": [
            case("test_loss", "depth8", 8, "supported", 0.08),
            case("test_loss", "depth16", 16, "supported", 0.7),
            case("test_gradient", "gradient-at-depth8", 8, "not-supported", 0.09),
        ]
    }
    m = R.holds_map(claim)
    assert m["kind"] == "list"
    assert [(r["setting"], r["verdict"]) for r in m["rows"]] == [
        ("depth8", "supported"),
        ("depth16", "supported"),
        ("gradient-at-depth8", "not-supported"),
    ]


def test_badges_refuse_a_quick_or_partial_run_unless_forced(project, tmp_path):
    out = tmp_path / "badges"
    out.mkdir()
    (out / "fox-is-quick.svg").write_text("reference")
    _, proc = _cli_on_a_run(project, "badges", out, status=2)
    assert "is not a reference run (profile quick, not default)" in proc.stderr and "--force" in proc.stderr
    assert (out / "fox-is-quick.svg").read_text() == "reference"


def test_a_partial_run_updates_only_its_claims_and_says_which_are_older(project):
    project.write().run()
    first = project.results()
    result = project.run("--claim", "gradients-fade")
    assert result.ret == 0
    data = project.results()
    by_id = {c["id"]: c for c in data["claims"]}
    assert data["run"]["partial"] is True and data["run"]["kept_from_earlier"] == 1
    assert by_id["fox-is-quick"]["verdict"] == "supported", "the claim the partial run did not run keeps its result"
    assert by_id["fox-is-quick"]["from_earlier_run"] is True
    assert by_id["fox-is-quick"]["from_run"]["started"] == first["run"]["started"]
    assert by_id["gradients-fade"]["from_run"]["started"] == data["run"]["started"]
    assert "from_earlier_run" not in by_id["gradients-fade"]
    html = (project.pytester.path / "reports" / "index.html").read_text()
    assert "This report mixes runs" in html and "From an earlier run" in html
    result.stdout.fnmatch_lines(["*1 claim(s) not run here keep their earlier results*"])
    results_mod.validate(data)


def test_badges_put_the_grid_between_the_readme_markers(project, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# title\n<!-- badges:start -->\nold grid\n<!-- badges:end -->\nmore\n")
    _cli_on_a_run(project, "badges", tmp_path / "b", "--force", "--readme", str(readme))
    text = readme.read_text()
    assert "old grid" not in text and text.startswith("# title\n<!-- badges:start -->\n<!-- 2 claims; profile quick")
    assert "[![fox-is-quick: supported]" in text and text.endswith("<!-- badges:end -->\nmore\n")


def test_every_verdict_label_reads_on_its_colour():
    """WCAG AA for the verdict pills' small text: contrast at least 4.5 (the template takes R.text_colour)."""
    for v, colour in verdicts.COLOURS.items():
        assert R.contrast(R.text_colour(colour), colour) >= 4.5, v


def test_one_plain_sentence_per_claim_from_its_key_number():
    claim = {
        "verdict": "supported-in-part",
        "verdict_reason": "",
        "scope": "at depth 8 and 16",
        "hypotheses": [{"name": "gap", "metric": "gradient ratio", "reason": "a factor of ten is visible."}],
        "key": {
            "hypothesis": "gap",
            "effect": 1.234,
            "ci": [1.1, 1.3],
            "threshold": 1.0,
            "unit": "decades",
            "direction": "greater",
            "case": "depth8",
        },
    }
    assert R.plain_sentence(claim) == (
        "Gradient ratio came out at 1.23 decades in the case depth8 (interval 1.1 to 1.3); the claim needs at least 1 decades "
        "(a factor of ten is visible). Verdict: supported in part; it holds at depth 8 and 16."
    )
    assert "decades" in R.UNIT_HELP and R.short_title("Deep Learning: A Very Long Title") == "Deep Learning"


def test_figures_stay_small_and_keep_their_labels():
    """A 2000-point line: no marker per point, every tick label's digits kept, well under 40 kB."""
    from harness.report.figures import series_figure

    n = 2000
    svg = series_figure(
        {
            "x": list(range(n)),
            "lines": {"loss": [1 / (1 + i) + 0.123456 for i in range(n)]},
            "title": "t",
            "xlabel": "step",
            "ylabel": "loss",
        }
        | {"log_y": False, "log_x": False}
    )
    assert len(svg) < 40_000 and svg.count("<use") < 40
    assert ">0.2<" in svg or ">1.0<" in svg  # tick labels are text, never rounded


def test_a_compact_figure_draws_the_same_in_under_half_the_bytes():
    """One class per distinct style, no attribute-less groups or zero rotations, short ids that still
    resolve, coordinates to 0.1 pt; the text is kept."""
    import re
    import xml.etree.ElementTree as ET

    from harness.report import figures

    raw = []
    real = figures.compact
    try:
        figures.compact = lambda text: raw.append(text) or real(text)
        svg = figures.series_figure(
            {"x": list(range(60)), "lines": {"a": [[i * 0.013 + j for i in range(60)] for j in range(3)]}}
            | {"title": "t", "xlabel": "x", "ylabel": "y"}
        )
    finally:
        figures.compact = real
    ET.fromstring(svg)  # well-formed XML: a browser shows it as an image file
    assert len(svg) < len(raw[0]) / 2
    assert "style=" not in svg and "<g>" not in svg and "rotate(-0" not in svg and "<?xml" not in svg
    ids = set(re.findall(r'\sid="([^"]+)"', svg))
    assert ids and ids == set(re.findall(r'(?:url\(#|href="#)([^)"]+)', svg)), "every id is used and every reference resolves"
    classes = set(re.findall(r'\sclass="([^"]+)"', svg))
    assert classes <= set(re.findall(r"\.([a-z]+)\{", svg)), "every class is declared in the file's style sheet"
    assert not re.search(r"\d\.\d\d", " ".join(re.findall(r'\sd="([^"]*)"', svg))), "path coordinates to 0.1 pt"
    assert ">y<" in svg and ">t<" in svg


def test_figures_are_files_named_by_their_content_and_old_ones_are_removed(tmp_path):
    from harness.report import figures

    svg = '<svg xmlns="http://www.w3.org/2000/svg" width="403.2pt" height="259.2pt"></svg>'
    first = figures.save({"a/b": [("one", svg)]}, tmp_path / "figures")
    [f] = first["a/b"]
    assert f["file"].startswith("figures/a_b-") and (f["width"], f["height"]) == (538, 346) and f["title"] == "one"
    assert (tmp_path / f["file"]).read_text() == svg
    second = figures.save({"a/b": [("one", svg.replace("403.2", "400"))]}, tmp_path / "figures")
    assert second["a/b"][0]["file"] != f["file"], "a changed figure gets a new name (no stale cached copy)"
    figures.prune(tmp_path / "figures", second)
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == [second["a/b"][0]["file"].split("/")[1]]
