"""End-to-end runs with papermill on a tiny stand-in notebook: records, statuses, isolation, reproduce --record."""
import json, os, signal, subprocess, sys, time
from pathlib import Path
import pytest
from conftest import cli, tree, make_tiny_project, git
from bulat_nb.runs import read_manifest, notebook_parameters, resolve_parameters, coerce_parameter, KERNEL_MALLOC
from bulat_nb.papers import get_paper, UsageError

pytestmark = pytest.mark.slow

def only_run(d: Path) -> Path:
    runs = list((d / "_runs" / "xnornet_pp").iterdir())
    assert len(runs) == 1, runs
    return runs[0]

def test_smoke_run_makes_a_complete_run_directory(tiny):
    t0 = time.monotonic()
    r = cli("run", "xnornet_pp", "-p", "n", "2", "-p", "flag", "true")
    wall = time.monotonic() - t0
    assert r.returncode == 0, r.stderr
    rd = only_run(tiny)
    assert sorted(p.name for p in rd.iterdir()) == ["kernel.log", "metrics.json", "run.json", "tiny.png", "xnornet_pp.ipynb"]
    run = json.loads((rd / "run.json").read_text())
    assert run["status"] == "ok" and run["profile"] == "smoke" and run["paper"] == "P38"
    assert run["parameters"] == {"seed": 7, "n": 2, "mode": "ok", "lr": 0.1, "flag": True}  # every value; seed from [run]
    assert run["overrides"] == {"n": "2", "flag": "true"} and run["evidence"] is False
    assert run["seed"] == 7 and 0 < run["duration_s"] < wall and run["start"] <= run["end"]   # timed inside the command
    assert 0.3 < run["cpu_s"] < run["duration_s"] * run["machine"]["cpus"] + 1, run   # the kernel's CPU time (it starts Python and torch)
    assert {"torch", "papermill", "python"} <= set(run["versions"]) and run["machine"]["cpus"] >= 1
    assert set(run["git"]) == {"commit", "dirty"} and run["git"]["dirty"] is False
    m = json.loads((rd / "metrics.json").read_text())
    assert m["metrics"] == {"n": 2, "seed": 7, "threads": "1", "workers": "1",   # parameters, threads, workers reached the kernel,
                            "cwd": os.path.realpath(tiny / "nbs" / "binary"),  # which ran in the notebook's folder
                            "trim": os.environ.get("MALLOC_TRIM_THRESHOLD_", KERNEL_MALLOC["MALLOC_TRIM_THRESHOLD_"])}  # glibc kept its memory
    assert m["claims"][0]["state"] == "holds" and m["figures"] == ["tiny"]
    assert m["profile"] == "smoke" and m["claims"][0]["profile"] == "smoke"
    assert "holds (smoke: not evidence)" in r.stdout                 # the run ends with its verdicts, marked as smoke
    modes = {f.name: f.stat().st_mode & 0o777 for f in rd.iterdir()}
    assert len(set(modes.values())) == 1, modes                      # records get the same permissions as the rest
    assert not (tiny / "results").exists()                           # a run never touches results/
    for noise in ("without encryption", "Unable to parse", "Traceback", "FutureWarning"): assert noise not in r.stderr, r.stderr

@pytest.mark.parametrize("args,message", [(["-p", "n", "0"], "parameter 'n' must be in [1, 100], got 0"),
                                          (["-p", "n", "-3"], "parameter 'n' must be in [1, 100], got -3"),
                                          (["-p", "lr", "0"], "parameter 'lr' must be in (0, 1], got 0.0"),
                                          (["-p", "mode", "fast"], "parameter 'mode' must be one of")])
def test_out_of_range_parameters_exit_2_and_create_nothing(tiny, args, message):
    r = cli("run", "xnornet_pp", *args)
    assert r.returncode == 2 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tiny / "_runs").exists()

def test_full_profile_injects_settings_and_records(tiny):
    r = cli("reproduce", "--profile", "full", "--record", "-q")
    assert r.returncode == 0, r.stderr
    rec = json.loads((tiny / "results" / "xnornet_pp.json").read_text())
    assert rec["metrics"]["n"] == 3 and rec["run"]["profile"] == "full" and rec["paper"] == "P38"
    assert (tiny / "results" / "xnornet_pp" / "tiny.png").exists()
    assert rec["run"]["git"]["dirty"] is False and "allow_dirty" not in rec["run"]
    assert rec["run"]["parameters"] == {"seed": 7, "n": 3, "mode": "ok", "lr": 0.1, "flag": False}
    kept = json.loads((tiny / "results" / "xnornet_pp" / "xnornet_pp.ipynb").read_text())   # the executed notebook, outputs in
    outs = [o for c in kept["cells"] for o in c.get("outputs", [])]
    assert any("the answer is 3" in "".join(o.get("text", "")) for o in outs)
    assert not any(o.get("name") == "stderr" for o in outs)
    assert "n is at least one" in r.stdout                          # the summary and the results table
    assert "P38 xnornet_pp: ok in" in r.stderr                      # a line per paper as it finishes
    assert "| P38 xnornet_pp | — | — | no record before this one |" in r.stdout   # not compared with itself
    # recording again compares the run with the record it replaces (here altered), not with the one it has just written
    altered = json.loads((tiny / "results" / "xnornet_pp.json").read_text()); altered["claims"][0]["ours"] = 4.0
    (tiny / "results" / "xnornet_pp.json").write_text(json.dumps(altered))
    r = cli("reproduce", "--profile", "full", "--record", "-q")
    assert r.returncode == 0 and "| P38 xnornet_pp | 1/2 |" in r.stdout and "| differs |" in r.stdout, r.stdout
    assert json.loads((tiny / "results" / "xnornet_pp.json").read_text())["claims"][0]["ours"] == 3.0
    # a later failing run leaves the recorded result and the earlier run intact
    before = (tiny / "results" / "xnornet_pp.json").read_text()
    r = cli("run", "xnornet_pp", "--profile", "full", "-p", "mode", "error")
    assert r.returncode == 1 and "boom from the notebook" in r.stderr
    assert (tiny / "results" / "xnornet_pp.json").read_text() == before
    assert len(list((tiny / "_runs" / "xnornet_pp").iterdir())) == 3

def test_record_refuses_a_dirty_tree(tiny):
    (tiny / "nbs" / "binary" / "scratch.txt").write_text("uncommitted")
    r = cli("reproduce", "--profile", "full", "--record", "-q")
    assert r.returncode == 2 and "uncommitted changes outside results/" in r.stderr and not (tiny / "_runs").exists()
    r = cli("reproduce", "--profile", "full", "--record", "--allow-dirty", "-q")
    assert r.returncode == 0, r.stderr
    rec = json.loads((tiny / "results" / "xnornet_pp.json").read_text())
    assert rec["run"]["allow_dirty"] is True and rec["run"]["git"]["dirty"] is True
    assert "recorded from a tree with uncommitted changes" in cli("report").stdout
    # results/ and the results page it regenerates do not make the tree dirty: a second record from a clean commit works
    (tiny / "nbs" / "binary" / "scratch.txt").unlink()
    assert cli("reproduce", "--profile", "full", "--record", "-q").returncode == 0

@pytest.mark.parametrize("mode,status,error", [("error", "failed", "boom from the notebook"),
                                                ("die", "failed", "DeadKernelError"),
                                                ("nometrics", "failed", "without writing metrics.json")])
def test_failed_runs_are_recorded_as_failed(tiny, mode, status, error):
    r = cli("run", "xnornet_pp", "-p", "mode", mode, "-q", timeout=120)
    assert r.returncode == 1, (r.stdout, r.stderr)
    run = json.loads((only_run(tiny) / "run.json").read_text())
    assert run["status"] == status and error in run["error"], run["error"]

def test_ctrl_c_marks_the_run_interrupted(tiny):
    "Ctrl-C in a terminal signals the whole foreground process group: the run is marked interrupted, quietly."
    p = subprocess.Popen([str(Path(sys.executable).parent / "bulat_nb"), "run", "xnornet_pp", "-p", "mode", "sleep", "-q"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy(), start_new_session=True)
    deadline = time.time() + 60
    while time.time() < deadline and not list(tiny.glob("_runs/xnornet_pp/*/run.json")): time.sleep(0.2)
    time.sleep(6)   # the kernel starts and enters the sleeping cell
    os.killpg(p.pid, signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130, (out, err)
    assert "Traceback" not in err and err.strip().startswith("bulat_nb: interrupted"), err
    run = json.loads((only_run(tiny) / "run.json").read_text())
    assert run["status"] == "interrupted" and run["duration_s"] < 60

def test_runs_never_share_a_directory(tiny):
    for _ in range(2): assert cli("run", "xnornet_pp", "-q").returncode == 0
    assert len(list((tiny / "_runs" / "xnornet_pp").iterdir())) == 2
    from bulat_nb.runs import execute
    taken = next((tiny / "_runs" / "xnornet_pp").iterdir())          # an id already used: refused, nothing overwritten
    with pytest.raises(FileExistsError): execute("xnornet_pp", root=tiny, progress=False, run_id=taken.name)
    assert len(list((tiny / "_runs" / "xnornet_pp").iterdir())) == 2
    assert json.loads((taken / "run.json").read_text())["status"] == "ok"

def test_workers_reach_the_kernel_capped_by_threads(tmp_path, monkeypatch):
    "[run] workers becomes the kernel's BULAT_NB_WORKERS (the default of `run_arms`), never above the run's threads."
    for threads, workers, expect in [(2, 2, 2), (1, 2, 1)]:
        d = make_tiny_project(tmp_path / f"p{threads}{workers}", threads=threads, workers=workers)
        monkeypatch.setenv("BULAT_NB_ROOT", str(d))
        assert cli("run", "xnornet_pp", "-q").returncode == 0
        rd = only_run(d)
        assert json.loads((rd / "run.json").read_text())["workers"] == expect
        assert json.loads((rd / "metrics.json").read_text())["metrics"]["workers"] == str(expect)

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
        assert {"metrics.json", "run.json", "xnornet_pp.ipynb"} <= {p.name for p in rd.iterdir()}
        m = json.loads((rd / "metrics.json").read_text())
        assert len(m["claims"]) == 4 and m["verdict"] and m["figures"] and all((rd / f"{f}.png").exists() for f in m["figures"])
        metrics.append((m["claims"], untimed(m["metrics"])))
    assert metrics[0] == metrics[1]

def untimed(o):
    "Metrics without wall-clock measurements (keys naming seconds, time or latency), which no two runs share."
    if isinstance(o, dict): return {k: untimed(v) for k, v in o.items() if not any(w in k.lower() for w in ("second", "time", "latenc"))}
    if isinstance(o, list): return [untimed(v) for v in o]
    return o
