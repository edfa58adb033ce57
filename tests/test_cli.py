"""The `bulat_nb` command line: listing, usage errors (exit 2, nothing written), help, report."""
import json
import pytest
from conftest import cli, tree
from bulat_nb.papers import PAPERS

def test_list_shows_all_papers_with_status(root):
    r = cli("list", cwd=root)
    assert r.returncode == 0, r.stderr
    rows = [l for l in r.stdout.splitlines() if l.startswith("| P")]
    assert len(rows) == 50
    assert [l.split("|")[1].strip() for l in rows] == [p.id for p in PAPERS]
    p38 = next(l for l in rows if "xnornet_pp" in l)
    assert p38.split("|")[5].strip() == "yes"          # notebook present
    assert cli("list", "--family", "binary", cwd=root).stdout.count("\n| P") == 7

@pytest.mark.parametrize("args,message", [
    (["run", "no_such_paper"], "unknown paper 'no_such_paper'"),
    (["run", "xnornet_pp", "-p", "no_such_param", "1"], "unknown parameter 'no_such_param'"),
    (["run", "xnornet_pp", "-p", "epochs", "abc"], "parameter 'epochs' expects int"),
    (["run", "xnornet_pp", "-p", "epochs", "-3"], "parameter 'epochs' must be in [1, 500], got -3"),
    (["run", "xnornet_pp", "-p", "n_seeds", "0"], "parameter 'n_seeds' must be in [1, 20], got 0"),
    (["params", "nope"], "unknown paper 'nope'"),
    (["reproduce", "xnornet_pp", "--allow-dirty"], "--allow-dirty only makes sense with --record"),
    (["report", "-o", "/no/such/dir/report.md"], "folder /no/such/dir does not exist"),
    (["run", "xnornet_pp", "--profile", "huge"], "unknown profile 'huge'"),
    (["run", "<a paper without a notebook>"], "has no notebook yet"),
    (["reproduce", "xnornet_pp", "--record"], "--record needs --profile full"),
    (["reproduce", "nope"], "unknown paper 'nope'"),
    (["reproduce", "xnornet_pp", "--jobs", "0"], "--jobs must be a whole number of at least 1"),
    (["reproduce", "xnornet_pp", "--jobs", "two"], "--jobs must be a whole number of at least 1"),
    (["reproduce", "xnornet_pp", "--scheduler", "not an address"], "not a Dask scheduler address"),
    (["reproduce", "xnornet_pp", "--jobs", "2", "--scheduler", "tcp://127.0.0.1:8786"], "--jobs sizes a local cluster"),
    (["reproduce", "xnornet_pp", "--jobs", "2", "--record"], "--record needs --profile full"),
    (["verify", "nope"], "unknown paper 'nope'"),
    (["verify", "_runs/no/such/run"], "is not a run directory (no run.json)"),
])
def test_usage_errors_exit_2_and_write_nothing(root, args, message):
    if "<a paper without a notebook>" in args:
        missing = [p.slug for p in PAPERS if not (root / p.notebook).exists()]
        if not missing: pytest.skip("every paper has a notebook")
        args = [missing[0] if a == "<a paper without a notebook>" else a for a in args]
    before = tree(root / "_runs") if (root / "_runs").exists() else []
    results_before = tree(root / "results")
    r = cli(*args, cwd=root)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert message in r.stderr
    assert len([l for l in r.stderr.strip().splitlines() if l]) <= 3   # one clear line (argparse adds usage lines)
    assert (tree(root / "_runs") if (root / "_runs").exists() else []) == before
    assert tree(root / "results") == results_before

def test_float_parameters_are_checked_for_type_and_range(root):
    "On whichever paper notebook declares a bounded float parameter (notebooks evolve: the test finds one)."
    import math
    from bulat_nb.runs import parameter_specs
    found = [(p, k, s) for p in PAPERS if (root / p.notebook).exists() for k, s in parameter_specs(root / p.notebook).items()
             if type(s.default) is float and s.low is not None and s.high is not None and s.high < math.inf]
    assert found, "no paper notebook declares a bounded float parameter"
    p, name, spec = found[0]
    for value, message in [("fast", f"parameter {name!r} expects float"),
                           (str(spec.high + 1), f"parameter {name!r} must be in {spec.describe()}, got {spec.high + 1.0!r}")]:
        r = cli("run", p.id, "-p", name, value, cwd=root)
        assert r.returncode == 2 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr

@pytest.mark.parametrize("cmd", ["list", "params", "run", "reproduce", "verify", "report", "docs"])
def test_every_subcommand_has_help(cmd):
    r = cli(cmd, "--help")
    assert r.returncode == 0 and "usage: bulat_nb " + cmd in r.stdout

@pytest.mark.parametrize("cmd", ["reproduce", "verify"])
def test_the_reproducibility_rule_is_in_the_help(cmd):
    from bulat_nb.runs import REPRO_RULE
    help_text = " ".join(cli(cmd, "--help").stdout.split())   # argparse wraps lines
    assert " ".join(REPRO_RULE.replace("**", "").split()) in help_text

def test_version_and_params(root):
    from bulat_nb import __version__
    r = cli("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"bulat_nb {__version__}"
    r = cli("params", "38", cwd=root)
    assert r.returncode == 0, r.stderr
    rows = {l.split("|")[1].strip(): [c.strip() for c in l.split("|")[2:-1]] for l in r.stdout.splitlines()[2:]}
    assert rows["epochs"][:3] == ["2", "40", "[1, 500]"] and rows["width"][1] == "(smoke)"   # smoke, full, range

def test_report_selects_papers(root):
    r = cli("report", "p38", cwd=root)
    assert r.returncode == 0 and "P38" in r.stdout and "P49" not in r.stdout
    r = cli("report", "--family", "face", cwd=root)
    assert r.returncode == 0 and "P49" in r.stdout and "P38" not in r.stdout

def test_report_prints_the_recorded_results(root, tmp_path):
    r = cli("report", "-o", str(tmp_path / "r.md"), cwd=root)
    assert r.returncode == 0, r.stderr
    for f in (root / "results").glob("*.json"):
        rec = json.loads(f.read_text())
        assert all(c["claim"] in r.stdout for c in rec["claims"])
    assert (tmp_path / "r.md").read_text().strip() == r.stdout.strip()

def test_outside_a_checkout_is_a_usage_error(tmp_path):
    r = cli("list", cwd=tmp_path, env={"BULAT_NB_ROOT": str(tmp_path)})
    assert r.returncode == 2 and "holds no settings.ini" in r.stderr
