"""The plugin end to end, in a miniature claims project: collection checks, verdicts, isolation, xdist."""

from __future__ import annotations

from conftest import CATALOGUE, TESTS


def test_a_clean_run_reports_every_claim(project):
    result = project.write().run()
    result.assert_outcomes(passed=3)
    assert project.verdicts() == {"fox-is-quick": "supported", "gradients-fade": "supported"}
    result.stdout.fnmatch_lines(["*dlclaims verdicts*", "2 supported*", "report: *index.html*"])


def test_the_header_prints_how_to_reproduce(project):
    result = project.write().run("--claims-seed", "7")
    result.stdout.fnmatch_lines(["dlclaims: reproduce with: pytest * --claims-profile quick --claims-seed 7"])


def test_a_test_naming_an_undeclared_claim_is_a_collection_error(project):
    project.write(tests=TESTS.replace('@pytest.mark.claim("gradients-fade")', '@pytest.mark.claim("gradients-fadez")'))
    result = project.run()
    assert result.ret == 2
    result.stdout.fnmatch_lines(
        [
            "*ERROR collecting claims/test_demo.py*",
            "*test test_fade names claim 'gradients-fadez', which no catalogue declares*",
            "*claim 'gradients-fade' is declared in *demo.toml but no test in test_demo.py*",
        ]
    )


def test_a_test_without_a_claim_marker_is_a_collection_error(project):
    project.write(tests=TESTS + "\ndef test_stray():\n    pass\n")
    result = project.run()
    assert result.ret == 2
    result.stdout.fnmatch_lines(["*test test_stray has no @pytest.mark.claim*"])


def test_a_theme_without_its_module_errs_its_claims_and_the_rest_still_runs(project):
    project.write()
    (project.pytester.path / "claims" / "catalogue" / "other.toml").write_text(
        CATALOGUE.replace("fox-is-quick", "owl-is-wise").replace("gradients-fade", "owls-fly")
    )
    result = project.run()
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*other.toml declares theme 'other'*test_other.py does not exist*"])
    verdicts = project.verdicts()
    assert verdicts["fox-is-quick"] == verdicts["gradients-fade"] == "supported"
    assert verdicts["owl-is-wise"] == verdicts["owls-fly"] == "error"
    # running one module is a partial run: the other theme's claims keep their earlier result, marked as such
    result = project.pytester.runpytest_inprocess("claims/test_demo.py", "--claims-profile", "quick", "-p", "no:cacheprovider")
    assert result.ret == 0
    owl = next(c for c in project.results()["claims"] if c["id"] == "owl-is-wise")
    assert owl["verdict"] == "error" and owl["from_earlier_run"] is True


def test_a_broken_catalogue_is_a_usage_error_naming_file_and_entry(project):
    project.write(catalogue=CATALOGUE.replace('kind = "empirical"', 'kind = "vibes"', 1))
    result = project.run()
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*demo.toml [[]fox-is-quick]: field 'kind' is 'vibes'; allowed*"])


def test_unknown_profile_and_claim_are_usage_errors(project):
    project.write()
    result = project.pytester.runpytest_inprocess("claims", "--claims-profile", "huge")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*--claims-profile: invalid choice: 'huge' (choose from*default*full*quick*"])
    result = project.run("--claim", "fox-is-quik")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*--claim 'fox-is-quik' is not a claim id*Did you mean: fox-is-quick?*"])


def test_progress_per_claim_and_verdict_counts_apart_from_case_counts(project):
    result = project.write().run()
    result.stdout.fnmatch_lines(
        [
            "*[[]1/2 claims] fox-is-quick: supported (2 case(s), *",
            "*[[]2/2 claims] gradients-fade: supported (1 case(s), *",
            "2 supported  (2 claims, profile quick, seed 0)",
            "cases: 3 supported  (3 cases run*",
        ]
    )


def test_claim_selection_marks_the_rest_not_run(project):
    project.write().run("--claim", "gradients-fade")
    data = project.results()
    by_id = {c["id"]: c for c in data["claims"]}
    assert by_id["gradients-fade"]["verdict"] == "supported"
    assert by_id["fox-is-quick"]["verdict"] == "not-run"
    assert "not selected" in by_id["fox-is-quick"]["verdict_reason"]


def test_an_exception_in_one_claim_leaves_the_others_reported_and_fails_the_run(project):
    broken = TESTS.replace("evidence.bound(", "raise RuntimeError('model exploded <b>')\n    evidence.bound(")
    result = project.write(tests=broken).run()
    assert result.ret == 1
    data = project.results()
    by_id = {c["id"]: c for c in data["claims"]}
    assert by_id["fox-is-quick"]["verdict"] == "supported"
    assert by_id["gradients-fade"]["verdict"] == "error"
    assert "RuntimeError: model exploded <b>" in by_id["gradients-fade"]["verdict_reason"]
    assert data["summary"]["unexpected"] == ["gradients-fade"]


def test_a_failing_claim_keeps_its_evidence_and_says_what_was_measured(project):
    weak = TESTS.replace("fox = 3 +", "fox = 1.2 +")
    result = project.write(tests=weak).run()
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            "*claim 'fox-is-quick' is NOT-SUPPORTED*significantly below the minimum effect 0.5*",
            "*faster: measured * m/s*required >= 0.5*",
            "*source: doc.txt*",
            "*why faster 0.5: a test threshold*",
            "*reproduce: pytest 'claims/test_demo.py::test_fox[[]grass]' --claims-profile quick --claims-seed 0*",
        ]
    )
    assert "rng = np.random.default_rng" not in result.stdout.str(), "the terminal shows the measurement, not the test's source"
    fox = next(c for c in project.results()["claims"] if c["id"] == "fox-is-quick")
    assert fox["verdict"] == "not-supported"
    assert fox["cases"][0]["evidence"]["measurements"][0]["values"], "values per seed are kept"


def test_a_test_that_forgets_to_assert_is_an_error(project):
    lazy = TESTS.replace(
        '    evidence.bound("small", [0.1, 0.2, 0.15], [5.0, 6.0, 7.0])\n    assert_supported(evidence)',
        '    evidence.bound("small", [5.0, 6.0, 7.0], [0.1, 0.2, 0.15])',
    )
    result = project.write(tests=lazy).run()
    assert result.ret == 1
    assert project.verdicts()["gradients-fade"] == "error"


def test_a_declared_refutation_is_a_strict_xfail(project):
    refuted = CATALOGUE.replace(
        'kind = "empirical"\nsources = [{ document = "doc.txt", quote = "Sigmoid',
        'kind = "empirical"\nexpected = "refuted"\nexpected_reference = "Nobody 2024"\nsources = [{ document = "doc.txt", quote = "Sigmoid',
    )
    lost = TESTS.replace(
        'evidence.bound("small", [0.1, 0.2, 0.15], [5.0, 6.0, 7.0])', 'evidence.bound("small", [5.0, 6.0, 7.0], [0.1, 0.2, 0.15])'
    )
    result = project.write(catalogue=refuted, tests=lost).run()
    result.assert_outcomes(passed=2, xfailed=1)
    assert project.verdicts()["gradients-fade"] == "known-refuted"
    # ... and if the refuted claim passes after all, the strict xfail fails the run
    result = project.write(catalogue=refuted).run()
    assert result.ret == 1
    gf = next(c for c in project.results()["claims"] if c["id"] == "gradients-fade")
    assert (gf["verdict"], gf["as_expected"]) == ("supported", False)


def test_same_seed_gives_identical_numbers(project):
    project.write().run("--claims-seed", "3")
    first = project.results()["claims"]
    project.run("--claims-seed", "3")
    second = project.results()["claims"]
    strip = lambda cs: [[(k["nodeid"], k["evidence"]["judgements"]) for k in c["cases"]] for c in cs]
    assert strip(first) == strip(second)
    project.run("--claims-seed", "4")
    assert strip(project.results()["claims"]) != strip(first)


def test_xdist_gives_the_same_verdicts_and_numbers_as_a_serial_run(project):
    project.write().run()
    serial = project.results()
    result = project.run("-n", "2", subprocess=True)
    result.assert_outcomes(passed=3)
    out = result.stdout.str()  # progress per claim under xdist too (the controller learns each claim's cases from a worker)
    assert "claims] fox-is-quick: supported (2 case(s)" in out and "claims] gradients-fade: supported (1 case(s)" in out
    assert "[1/2 claims]" in out and "[2/2 claims]" in out
    parallel = project.results()
    assert parallel["run"]["workers"] == 2
    key = lambda d: {c["id"]: (c["verdict"], [(k["nodeid"], k["evidence"]["judgements"]) for k in c["cases"]]) for c in d["claims"]}
    assert key(parallel) == key(serial)
    assert {k["worker"] for c in parallel["claims"] for k in c["cases"]} <= {"gw0", "gw1"}


def test_junitxml_carries_verdicts_as_properties(project):
    project.write().run("--junitxml", "out.xml")
    xml = (project.pytester.path / "out.xml").read_text()
    assert '<property name="claim_id" value="fox-is-quick"' in xml
    assert '<property name="claim_verdict" value="supported"' in xml
    assert 'name="claim_key_number"' in xml


@__import__("pytest").mark.filterwarnings("ignore:A test tried to use socket.socket")
def test_the_suite_opens_no_network_socket():
    import socket

    import pytest_socket

    with __import__("pytest").raises(pytest_socket.SocketBlockedError):
        socket.socket(socket.AF_INET, socket.SOCK_STREAM)


def test_a_declared_case_that_names_no_case_is_a_collection_error(project):
    misspelt = CATALOGUE + '[fox-is-quick.cases.gras]\nexpected = "refuted"\nreference = "typo"\n'
    result = project.write(catalogue=misspelt).run()
    assert result.ret != 0
    result.stdout.fnmatch_lines(
        ["*[[]fox-is-quick.cases.gras[]] names no case of the claim's tests (case ids: grass, road); did you mean 'grass'?*"]
    )


def test_a_case_key_names_a_whole_case_id_or_one_parameter_s_id_never_a_fragment():
    from types import SimpleNamespace

    from harness.plugin.collection import case_expectation as _case_expectation
    from harness.plugin.collection import case_ids as _case_ids

    def item(idlist):
        return SimpleNamespace(callspec=SimpleNamespace(id="-".join(idlist), _idlist=tuple(idlist)))

    claim = SimpleNamespace(
        expected="supported", expected_reference="", cases={"depth8": SimpleNamespace(expected="refuted", reference="r")}
    )
    assert _case_expectation(claim, _case_ids(item(["depth8"]))) == "refuted"
    assert _case_expectation(claim, _case_ids(item(["relu", "depth8"]))) == "refuted"  # stacked parametrize
    assert _case_expectation(claim, _case_ids(item(["gradient-at-depth8"]))) == "supported"  # one id's fragment
