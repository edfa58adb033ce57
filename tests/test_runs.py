"""End-to-end runs with papermill on a tiny stand-in notebook: records, statuses, isolation, reproduce --record."""
import json, os, signal, subprocess, sys, time
from pathlib import Path
import pytest
from conftest import cli, tree, make_tiny_project
from bulat_nb.runs import read_manifest, notebook_parameters, resolve_parameters, coerce_parameter
from bulat_nb.papers import get_paper, UsageError

pytestmark = pytest.mark.slow

def only_run(d: Path) -> Path:
    runs = list((d / "_runs" / "xnornet_pp").iterdir())
    assert len(runs) == 1, runs
    return runs[0]

def test_smoke_run_makes_a_complete_run_directory(tiny):
    r = cli("run", "xnornet_pp", "-p", "n", "2", "-p", "flag", "true")
    assert r.returncode == 0, r.stderr
    rd = only_run(tiny)
    assert sorted(p.name for p in rd.iterdir()) == ["metrics.json", "run.json", "tiny.png", "xnornet_pp.ipynb"]
    run = json.loads((rd / "run.json").read_text())
    assert run["status"] == "ok" and run["profile"] == "smoke" and run["paper"] == "P38"
    assert run["parameters"] == {"seed": 7, "n": 2, "flag": True}     # seed from settings.ini [run]
    assert run["seed"] == 7 and run["duration_s"] > 0 and run["start"] <= run["end"]
    assert {"torch", "papermill", "python"} <= set(run["versions"]) and run["machine"]["cpus"] >= 1
    assert set(run["git"]) == {"commit", "dirty"}
    m = json.loads((rd / "metrics.json").read_text())
    assert m["metrics"] == {"n": 2, "seed": 7, "threads": "1"}      # parameters and threads reached the kernel
    assert m["claims"][0]["holds"] is True and m["figures"] == ["tiny"]
    assert not (tiny / "results").exists()                           # a run never touches results/

def test_full_profile_injects_settings_and_records(tiny):
    r = cli("reproduce", "--profile", "full", "--record", "-q")
    assert r.returncode == 0, r.stderr
    rec = json.loads((tiny / "results" / "xnornet_pp.json").read_text())
    assert rec["metrics"]["n"] == 3 and rec["run"]["profile"] == "full" and rec["paper"] == "P38"
    assert (tiny / "results" / "xnornet_pp" / "tiny.png").exists()
    assert "n is at least one" in r.stdout                          # the summary and the results table
    # a later failing run leaves the recorded result and the earlier run intact
    before = (tiny / "results" / "xnornet_pp.json").read_text()
    r = cli("run", "xnornet_pp", "--profile", "full", "-p", "mode", "error")
    assert r.returncode == 1 and "boom from the notebook" in r.stderr
    assert (tiny / "results" / "xnornet_pp.json").read_text() == before
    assert len(list((tiny / "_runs" / "xnornet_pp").iterdir())) == 2

@pytest.mark.parametrize("mode,status,error", [("error", "failed", "boom from the notebook"),
                                                ("die", "failed", "DeadKernelError"),
                                                ("nometrics", "failed", "without writing metrics.json")])
def test_failed_runs_are_recorded_as_failed(tiny, mode, status, error):
    r = cli("run", "xnornet_pp", "-p", "mode", mode, "-q", timeout=120)
    assert r.returncode == 1, (r.stdout, r.stderr)
    run = json.loads((only_run(tiny) / "run.json").read_text())
    assert run["status"] == status and error in run["error"], run["error"]

def test_ctrl_c_marks_the_run_interrupted(tiny):
    p = subprocess.Popen([str(Path(sys.executable).parent / "bulat_nb"), "run", "xnornet_pp", "-p", "mode", "sleep", "-q"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    deadline = time.time() + 60
    while time.time() < deadline and not list(tiny.glob("_runs/xnornet_pp/*/run.json")): time.sleep(0.2)
    time.sleep(6)   # the kernel starts and enters the sleeping cell
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130, (out, err)
    run = json.loads((only_run(tiny) / "run.json").read_text())
    assert run["status"] == "interrupted" and run["duration_s"] < 60

def test_runs_never_share_a_directory(tiny):
    for _ in range(2): assert cli("run", "xnornet_pp", "-q").returncode == 0
    assert len(list((tiny / "_runs" / "xnornet_pp").iterdir())) == 2

def test_bad_settings_section_is_refused_before_running(tmp_path, monkeypatch):
    d = make_tiny_project(tmp_path / "p", full_params="n = 'three'\n")
    monkeypatch.setenv("BULAT_NB_ROOT", str(d))
    r = cli("run", "xnornet_pp", "--profile", "full")
    assert r.returncode == 2 and "parameter 'n' expects int" in r.stderr and not (d / "_runs").exists()

def test_the_real_manifest_matches_the_notebooks(root):
    "Every [paper] section of settings.ini names a paper with a notebook, and only its parameters, with their types."
    run, full = read_manifest(root)
    assert run["profile"] in ("smoke", "full") and run["threads"] >= 1
    assert full, "settings.ini defines no full profile"
    for slug in full:
        plan = resolve_parameters(slug, "full", (), root)
        declared = notebook_parameters(root / get_paper(slug).notebook)
        assert set(plan["parameters"]) <= set(declared)
        assert "seed" in declared, f"{slug}: a paper notebook declares `seed`"

def test_real_paper_run_is_reproducible(root, tmp_path, monkeypatch):
    "`bulat_nb run xnornet_pp` end to end, twice with the same seed: a complete run directory, identical metrics."
    import shutil
    d = tmp_path / "proj"
    (d / "nbs" / "binary").mkdir(parents=True)
    shutil.copy(root / "settings.ini", d / "settings.ini")
    shutil.copy(root / "nbs" / "binary" / "xnornet_pp.ipynb", d / "nbs" / "binary" / "xnornet_pp.ipynb")
    monkeypatch.setenv("BULAT_NB_ROOT", str(d))
    small = ["-p", "epochs", "1", "-p", "n_train", "300", "-p", "recon_samples", "100", "-p", "recon_epochs", "1", "-q"]
    metrics = []
    for _ in range(2):
        r = cli("run", "xnornet_pp", *small, timeout=300)
        assert r.returncode == 0, r.stderr[-3000:]
    for rd in sorted((d / "_runs" / "xnornet_pp").iterdir()):
        assert {"metrics.json", "run.json", "xnornet_pp.ipynb", "xnornet_pp.png"} <= {p.name for p in rd.iterdir()}
        m = json.loads((rd / "metrics.json").read_text())
        assert len(m["claims"]) == 4 and m["verdict"]
        metrics.append((m["claims"], m["metrics"]["recon"], [{k: v for k, v in r.items() if k != "seconds"} for r in m["metrics"]["accuracy"]]))
    assert metrics[0] == metrics[1]
