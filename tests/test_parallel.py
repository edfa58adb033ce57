"""Reproduction at scale: a local Dask cluster (`reproduce --jobs N`), an existing cluster (`--scheduler`), lost and
interrupted tasks, and the reproducibility check (`reproduce`'s last table, `bulat_nb verify`) on planted differences.

Every test waits for conditions (a file appears, a process ends) with generous deadlines; none asserts a duration."""
import json, os, re, signal, socket, subprocess, sys, time
from datetime import datetime, timedelta
from pathlib import Path
import pytest
from conftest import cli, make_tiny_project, git
from bulat_nb.runs import threads_per_run

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent
RUN_FILES = ["kernel.log", "metrics.json", "run.json", "tiny.png"]

def runs_of(d: Path, slug: str) -> list[Path]: return sorted((d / "_runs" / slug).iterdir()) if (d / "_runs" / slug).exists() else []

def only_run(d: Path, slug: str) -> tuple[Path, dict]:
    runs = runs_of(d, slug)
    assert len(runs) == 1, runs
    return runs[0], json.loads((runs[0] / "run.json").read_text())

def wait_for(condition, what: str, deadline_s: float = 180):
    "Wait until `condition()` is true; fail naming `what` if it never is (a liveness check, not a timing assertion)."
    end = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() > end: pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.2)

def alive(pid: int) -> bool:
    try: os.kill(pid, 0)
    except ProcessLookupError: return False
    try: return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"  # a zombie has exited
    except OSError: return False

def repro_row(stdout: str, slug: str) -> list[str]:
    "The reproducibility table's row of a paper: [paper, claims reproduced, largest deviation, status, compared]."
    table = stdout.split("Reproducibility against results/")[1]
    row = next(l for l in table.splitlines() if l.startswith("| ") and f" {slug} |" in l)
    return [c.strip() for c in row.strip("|").split("|")]

@pytest.fixture
def two_papers(tmp_path, monkeypatch):
    "xnornet_pp and real2binary as tiny stand-ins; settings.ini asks for 2 threads per run."
    d = make_tiny_project(tmp_path / "proj", "n = 3\n", {"real2binary": "n = 4\n"}, threads=2, workers=2)
    monkeypatch.setenv("BULAT_NB_ROOT", str(d))
    return d

def test_local_cluster_runs_two_papers_with_complete_records(two_papers):
    d = two_papers
    r = cli("reproduce", "--jobs", "2", "-q", timeout=600)
    assert r.returncode == 0, r.stderr
    each = threads_per_run(2, 2)                      # 1 on this 2-core machine: two runs never oversubscribe the cores
    for slug, paper in (("xnornet_pp", "P38"), ("real2binary", "P17")):
        rd, run = only_run(d, slug)
        assert sorted(p.name for p in rd.iterdir()) == sorted(RUN_FILES + [f"{slug}.ipynb"])
        assert run["status"] == "ok" and run["run_dir"] == str(rd) and run["worker"]["address"].startswith("tcp://")
        assert run["threads"] == each and run["git"]["dirty"] is False and run["git_end"]["dirty"] is False
        m = json.loads((rd / "metrics.json").read_text())
        assert m["metrics"]["threads"] == str(each) and m["slug"] == slug and len(m["claims"]) == 2
        assert run["workers"] == min(2, each) and m["metrics"]["workers"] == str(min(2, each))  # arms' workers within the run's threads
        assert any("the answer is 1" in "".join(o.get("text", "")) for c in json.loads((rd / f"{slug}.ipynb").read_text())["cells"]
                   for o in c.get("outputs", []))
        assert f"{paper} {slug}: ok in" in r.stderr                        # a line per paper as it finishes
        assert repro_row(r.stdout, slug)[3] == "no record"                  # the reproducibility table ends the output
    assert "2 workers on the local Dask cluster" in r.stderr and "Traceback" not in r.stderr

def test_papers_with_timed_claims_run_after_the_others_one_at_a_time(two_papers):
    d = two_papers
    (d / "results").mkdir()
    (d / "results" / "real2binary.json").write_text(json.dumps({"claims": [{"claim": "fast", "metric": "latency (ms), per trial"}]}))
    git(d, "add", "-A"); git(d, "commit", "-qm", "a record with a timed claim")
    r = cli("reproduce", "--jobs", "2", "--profile", "full", "-q", timeout=600)
    (_, timed), (_, other) = only_run(d, "real2binary"), only_run(d, "xnornet_pp")
    assert r.returncode == 0 and timed["status"] == other["status"] == "ok", (r.stdout, r.stderr)
    assert "worker" in other and "worker" not in timed, timed        # the other on a Dask worker, the timed one in the client
    assert timed["threads"] == threads_per_run(1, 2) and other["threads"] == threads_per_run(2, 2)   # the machine to itself
    other_end = datetime.fromisoformat(other["start"]) + timedelta(seconds=other["duration_s"] - 1)   # starts: whole seconds
    assert datetime.fromisoformat(timed["start"]) >= other_end and "1 paper(s) with timed claims now" in r.stderr

def test_a_killed_worker_loses_its_task_and_the_other_record_is_intact(tmp_path, monkeypatch):
    d = make_tiny_project(tmp_path / "proj", "mode = 'killworker'\n", {"real2binary": "n = 4\n"}, threads=2)
    monkeypatch.setenv("BULAT_NB_ROOT", str(d))
    r = cli("reproduce", "--profile", "full", "--record", "--jobs", "2", "-q", timeout=600)
    assert r.returncode == 1, (r.stdout, r.stderr)
    _, lost = only_run(d, "xnornet_pp")
    assert lost["status"] == "lost" and "worker died" in lost["error"], lost
    assert "P38 xnornet_pp: lost" in r.stderr and repro_row(r.stdout, "xnornet_pp")[3] == "lost"
    assert not (d / "results" / "xnornet_pp.json").exists()
    rd, ok = only_run(d, "real2binary")                                   # the other task ran to the end and was recorded
    assert ok["status"] == "ok" and sorted(p.name for p in rd.iterdir()) == sorted(RUN_FILES + ["real2binary.ipynb"])
    rec = json.loads((d / "results" / "real2binary.json").read_text())
    assert rec["metrics"]["n"] == 4 and rec["run"]["threads"] == threads_per_run(2, 2) and "allow_dirty" not in rec["run"]
    assert (d / "results" / "real2binary" / "tiny.png").exists() and (d / "results" / "real2binary" / "real2binary.ipynb").exists()
    pid = int((tmp_path / "xnornet_pp.kernel.pid").read_text())
    wait_for(lambda: not alive(pid), "the dead worker's kernel to exit", 60)

def runs_row(stdout: str, slug: str) -> list[str]:
    "The runs table's row of a paper (the first table): [paper, slug, profile, status, seconds, recorded, run]."
    row = next(l for l in stdout.splitlines() if l.startswith("| ") and f"| {slug} |" in l)
    return [c.strip() for c in row.strip("|").split("|")]

def ctrl_c(tmp_path: Path, kernels: int, *args) -> tuple[int, str, str, list[int]]:
    "Start `bulat_nb reproduce ARGS`, wait for `kernels` sleeping kernels, send Ctrl-C (SIGINT to the process group); its exit status, stdout, stderr and the kernels' pids."
    p = subprocess.Popen([str(BIN / "bulat_nb"), "reproduce", *args, "-q"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=os.environ.copy(), start_new_session=True)
    wait_for(lambda: len(list(tmp_path.glob("*.kernel.pid"))) == kernels, f"{kernels} kernel(s) in their sleeping cell", 300)
    pids = [int(f.read_text()) for f in tmp_path.glob("*.kernel.pid")]
    os.killpg(p.pid, signal.SIGINT)
    out, err = p.communicate(timeout=180)
    assert err.strip().splitlines()[-1].startswith("bulat_nb: interrupted") and "Traceback" not in err, err
    return p.returncode, out, err, pids

def test_ctrl_c_cancels_the_outstanding_tasks_and_marks_them_interrupted(tmp_path, monkeypatch):
    "Two papers sleep on two workers, a third waits for a worker; Ctrl-C (SIGINT to the process group) stops all three."
    sleep = "mode = 'sleep'\n"
    d = make_tiny_project(tmp_path / "proj", sleep, {"real2binary": sleep, "expert_bnn": sleep})
    monkeypatch.setenv("BULAT_NB_ROOT", str(d))
    code, out, err, pids = ctrl_c(tmp_path, 2, "--profile", "full", "--jobs", "2")
    assert code == 130, (out, err)
    for slug in ("xnornet_pp", "real2binary", "expert_bnn"):                  # the queued one too
        rd, run = only_run(d, slug)
        assert run["status"] == "interrupted" and "Ctrl-C" in run["error"], run
        assert runs_row(out, slug)[3] == "interrupted" and runs_row(out, slug)[6] == str(rd)   # the tables still come
        assert repro_row(out, slug)[3] == "interrupted"
    for pid in pids: wait_for(lambda: not alive(pid), f"kernel {pid} to be stopped", 60)
    assert len(list(tmp_path.glob("*.kernel.pid"))) == 2                      # the queued paper never started

def test_ctrl_c_in_turn_keeps_the_finished_papers_in_the_tables(tmp_path, monkeypatch):
    "--jobs 1: real2binary (P17) finishes, expert_bnn (P33) is interrupted while it runs, xnornet_pp (P38) never starts."
    d = make_tiny_project(tmp_path / "proj", "n = 3\n", {"real2binary": "n = 4\n", "expert_bnn": "mode = 'sleep'\n"})
    monkeypatch.setenv("BULAT_NB_ROOT", str(d))
    code, out, err, _ = ctrl_c(tmp_path, 1, "--profile", "full")
    assert code == 130, (out, err)
    done, _ = only_run(d, "real2binary")
    assert runs_row(out, "real2binary")[3] == "ok" and runs_row(out, "real2binary")[6] == str(done)
    assert repro_row(out, "real2binary")[3] == "no record"
    cut, run = only_run(d, "expert_bnn")
    assert run["status"] == "interrupted" and runs_row(out, "expert_bnn")[3:7:3] == ["interrupted", str(cut)]
    assert runs_row(out, "xnornet_pp")[3:7:3] == ["interrupted", "—"] and not (d / "_runs" / "xnornet_pp").exists()
    assert repro_row(out, "expert_bnn")[3] == repro_row(out, "xnornet_pp")[3] == "interrupted"

def test_ctrl_c_during_the_timed_papers_keeps_the_dask_papers_in_the_tables(two_papers, tmp_path):
    "real2binary's record states a timed claim: it runs in the client after xnornet_pp's Dask task, and sleeps there."
    d = two_papers
    (d / "settings.ini").write_text((d / "settings.ini").read_text().replace("[real2binary]\n", "[real2binary]\nmode = 'sleep'\n"))
    (d / "results").mkdir()
    (d / "results" / "real2binary.json").write_text(json.dumps({"claims": [{"claim": "fast", "metric": "latency (ms), per trial"}]}))
    git(d, "add", "-A"); git(d, "commit", "-qm", "a sleeping paper with a timed claim")
    code, out, err, _ = ctrl_c(tmp_path, 1, "--profile", "full", "--jobs", "2")
    assert code == 130 and "1 paper(s) with timed claims now" in err, (out, err)
    rd, run = only_run(d, "xnornet_pp")
    assert run["status"] == "ok" and runs_row(out, "xnornet_pp")[3:7:3] == ["ok", str(rd)]
    assert repro_row(out, "xnornet_pp")[3] == "no record"
    cut, timed = only_run(d, "real2binary")
    assert timed["status"] == "interrupted" and "worker" not in timed and runs_row(out, "real2binary")[3:7:3] == ["interrupted", str(cut)]

def test_an_interrupt_between_runs_marks_that_paper_without_a_directory(monkeypatch):
    "Ctrl-C outside a run's notebook (`execute` names no run directory): that paper and the later ones are `interrupted`, with no directory."
    from types import SimpleNamespace
    from bulat_nb import runs
    from bulat_nb.papers import get_paper
    plans = [{"paper": get_paper(s), "profile": "full"} for s in ("real2binary", "expert_bnn", "xnornet_pp")]
    calls = []
    def execute(slug, progress, plan):
        calls.append(slug)
        if slug == "expert_bnn": raise KeyboardInterrupt()
        return {"slug": slug, "status": "ok"}
    monkeypatch.setattr(runs, "execute", execute)
    with pytest.raises(runs.RunsInterrupted) as e:
        runs._run_serially(plans, SimpleNamespace(set_postfix_str=lambda s: None), lambda r: {**r, "done": True})
    recs = e.value.records
    assert calls == ["real2binary", "expert_bnn"] and recs[0] == {"slug": "real2binary", "status": "ok", "done": True}
    assert [(r["paper"], r["slug"], r["status"], r["run_dir"], r["duration_s"]) for r in recs[1:]] == [
        ("P33", "expert_bnn", "interrupted", "—", None), ("P38", "xnornet_pp", "interrupted", "—", None)]
    assert recs[1]["error"].startswith("interrupted by") and recs[2]["error"].startswith("not started") and str(e.value) == ""

def test_resume_reuses_the_runs_of_this_commit_and_runs_the_rest(tmp_path, monkeypatch):
    "After a stop, --resume runs only the papers without an ok run of this commit and these parameters; --record records each once."
    d = make_tiny_project(tmp_path / "proj", "n = 3\n", {"real2binary": "n = 4\n"})
    monkeypatch.setenv("BULAT_NB_ROOT", str(d))
    assert cli("run", "real2binary", "--profile", "full", "-q").returncode == 0              # it ran before the stop
    assert cli("run", "xnornet_pp", "--profile", "full", "-p", "n", "5", "-q").returncode == 0   # other parameters: no match
    (first, _), (other, _) = only_run(d, "real2binary"), only_run(d, "xnornet_pp")
    r = cli("reproduce", "--profile", "full", "--resume", "--record", "-q")
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert runs_of(d, "real2binary") == [first] and len(runs_of(d, "xnornet_pp")) == 2 and other in runs_of(d, "xnornet_pp")
    assert runs_row(r.stdout, "real2binary")[6:] == [str(first), "earlier (--resume)"] and runs_row(r.stdout, "xnornet_pp")[7] == "now"
    assert r.stdout.index("| real2binary |") < r.stdout.index("| xnornet_pp |")  # the tables keep paper order (P17, P38)
    assert re.search(r"P17 real2binary: ok in \d+ s, an earlier run of this commit \(--resume\)\n", r.stderr), r.stderr
    rec = json.loads((d / "results" / "real2binary.json").read_text())
    assert rec["run"]["run_id"] == first.name and repro_row(r.stdout, "real2binary")[3] == "no record before this one"
    r = cli("reproduce", "--profile", "full", "--resume", "--record", "-q")   # all ran: nothing runs, nothing is recorded twice
    assert r.returncode == 0 and runs_of(d, "real2binary") == [first] and len(runs_of(d, "xnornet_pp")) == 2, (r.stdout, r.stderr)
    assert runs_row(r.stdout, "real2binary")[5] == "results/real2binary.json (already)"
    assert repro_row(r.stdout, "real2binary")[3] == "not compared: this run is the record"
    assert json.loads((d / "results" / "real2binary.json").read_text()) == rec
    (d / "nbs" / "scratch.txt").write_text("x")                                # uncommitted code: no earlier run holds it
    r = cli("reproduce", "--profile", "full", "--resume", "-q")
    assert r.returncode == 2 and "--resume reuses runs of the current commit" in r.stderr and len(runs_of(d, "real2binary")) == 1
    git(d, "add", "-A"); git(d, "commit", "-qm", "new code")                   # another commit: everything runs again
    assert cli("reproduce", "--profile", "full", "--resume", "-q").returncode == 0 and len(runs_of(d, "real2binary")) == 2

def test_ctrl_c_after_resume_keeps_the_earlier_run_in_the_tables(tmp_path, monkeypatch):
    "--resume, then Ctrl-C: the reused run (P17) stays in the tables as earlier, the running paper (P33) is interrupted, P38 never starts."
    d = make_tiny_project(tmp_path / "proj", "n = 3\n", {"real2binary": "n = 4\n", "expert_bnn": "mode = 'sleep'\n"})
    monkeypatch.setenv("BULAT_NB_ROOT", str(d))
    assert cli("run", "real2binary", "--profile", "full", "-q").returncode == 0
    first, _ = only_run(d, "real2binary")
    code, out, err, _ = ctrl_c(tmp_path, 1, "--profile", "full", "--resume")
    assert code == 130, (out, err)
    assert runs_of(d, "real2binary") == [first] and runs_row(out, "real2binary")[3] == "ok"
    assert runs_row(out, "real2binary")[6:] == [str(first), "earlier (--resume)"] and repro_row(out, "real2binary")[3] == "no record"
    cut, run = only_run(d, "expert_bnn")
    row = runs_row(out, "expert_bnn")
    assert run["status"] == "interrupted" and [row[3], row[6], row[7]] == ["interrupted", str(cut), "now"], row
    assert runs_row(out, "xnornet_pp")[3:7:3] == ["interrupted", "—"] and not (d / "_runs" / "xnornet_pp").exists()
    assert out.index("| real2binary |") < out.index("| expert_bnn |") < out.index("| xnornet_pp |")

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]

@pytest.fixture
def cluster(tmp_path):
    "A Dask scheduler and a worker process with `nworkers` (2) single-thread workers on localhost, whose checkout is a clone of the project."
    port, procs = free_port(), []
    def start(worker_root: Path, nworkers: int = 2):
        log = open(tmp_path / "dask.log", "ab")
        procs.append(subprocess.Popen([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                                      stdout=log, stderr=log))
        procs.append(subprocess.Popen([str(BIN / "dask"), "worker", f"tcp://127.0.0.1:{port}", "--nworkers", str(nworkers), "--nthreads", "1",
                                       "--no-dashboard", "--memory-limit", "0"], stdout=log, stderr=log,
                                      env={**os.environ, "BULAT_NB_ROOT": str(worker_root)}))
        from distributed import Client
        with Client(f"tcp://127.0.0.1:{port}", timeout="120s") as c: c.wait_for_workers(nworkers, timeout=180)
        return f"tcp://127.0.0.1:{port}"
    yield start
    for p in reversed(procs): p.terminate()
    for p in procs:
        try: p.wait(timeout=60)
        except subprocess.TimeoutExpired: p.kill()

def test_scheduler_path_returns_the_records_to_the_client(two_papers, tmp_path, cluster):
    d = two_papers
    (d / "settings.ini").write_text((d / "settings.ini").read_text().replace("n = 4", "mode = 'error'"))
    git(d, "commit", "-qam", "real2binary fails")
    worker_root = tmp_path / "worker-checkout"
    git(tmp_path, "clone", "-q", str(d), str(worker_root))
    address = cluster(worker_root)
    r = cli("reproduce", "--profile", "full", "--scheduler", address, "-q", timeout=600)
    assert r.returncode == 1, (r.stdout, r.stderr)
    rd, run = only_run(d, "xnornet_pp")                                   # written into the client's _runs/ from the task's result
    assert sorted(p.name for p in rd.iterdir()) == sorted(RUN_FILES + ["xnornet_pp.ipynb"])
    assert run["status"] == "ok" and run["run_dir"] == str(rd)
    assert run["worker"]["run_dir"] == str(worker_root.resolve() / "_runs" / "xnornet_pp" / rd.name)
    assert (worker_root / "_runs" / "xnornet_pp" / rd.name / "metrics.json").exists()   # and kept on the worker's side
    assert run["threads"] == threads_per_run(2, 2) == int(json.loads((rd / "metrics.json").read_text())["metrics"]["threads"])
    _, failed = only_run(d, "real2binary")                                # a failing task does not stop the other
    assert failed["status"] == "failed" and "boom from the notebook" in failed["error"]
    assert "P17 real2binary: failed" in r.stderr and repro_row(r.stdout, "xnornet_pp")[3] == "no record"
    # a worker whose checkout differs from the client's refuses to run the paper
    (worker_root / "nbs" / "binary" / "xnornet_pp.ipynb").write_text((worker_root / "nbs" / "binary" / "xnornet_pp.ipynb").read_text() + " ")
    r = cli("reproduce", "xnornet_pp", "--profile", "full", "--scheduler", address, "-q", timeout=600)
    assert r.returncode == 1 and "has another nbs/binary/xnornet_pp.ipynb than the client's" in r.stderr, r.stderr

def test_the_longest_recorded_papers_start_first(tmp_path, monkeypatch, cluster):
    d = make_tiny_project(tmp_path / "proj", "n = 3\n", {"real2binary": "n = 4\n", "bats": "n = 2\n"})
    monkeypatch.setenv("BULAT_NB_ROOT", str(d))
    (d / "results").mkdir()
    order = ["xnornet_pp", "bats", "real2binary"]          # by recorded run time; by id it is P17, P18, P38
    for slug, seconds in zip(order, (900.0, 500.0, 10.0)):
        (d / "results" / f"{slug}.json").write_text(json.dumps({"run": {"duration_s": seconds}}))
    git(d, "add", "-A"); git(d, "commit", "-qm", "recorded run times")
    worker_root = tmp_path / "worker-checkout"
    git(tmp_path, "clone", "-q", str(d), str(worker_root))
    r = cli("reproduce", "--profile", "full", "--scheduler", cluster(worker_root, nworkers=1), "-q", timeout=600)
    runs = {slug: only_run(d, slug)[1] for slug in order}
    assert all(run["status"] == "ok" for run in runs.values()), (r.stdout, r.stderr)
    # one worker runs them one after another: the first submitted at once, the other two as queued, by priority
    assert sorted(order, key=lambda slug: runs[slug]["start"]) == order, {slug: run["start"] for slug, run in runs.items()}

def test_ctrl_c_stops_the_runs_on_an_existing_cluster(tmp_path, monkeypatch, cluster):
    "The workers outlive the client: Ctrl-C must cancel the queued task and stop the kernels of the running ones."
    sleep = "mode = 'sleep'\n"
    d = make_tiny_project(tmp_path / "proj", sleep, {"real2binary": sleep, "expert_bnn": sleep})
    monkeypatch.setenv("BULAT_NB_ROOT", str(d))
    address = cluster(d)
    code, out, err, pids = ctrl_c(tmp_path, 2, "--profile", "full", "--scheduler", address)
    assert code == 130 and all(runs_row(out, s)[3] == "interrupted" for s in ("xnornet_pp", "real2binary", "expert_bnn")), (out, err)
    for pid in pids: wait_for(lambda: not alive(pid), f"kernel {pid} to be stopped", 120)   # it would sleep 300 s
    def settled(slug):
        return (d / "_runs" / slug).exists() and all(json.loads((r / "run.json").read_text())["status"] == "interrupted" for r in runs_of(d, slug))
    for slug in ("xnornet_pp", "real2binary", "expert_bnn"):                  # the workers' own writes agree with the client's
        wait_for(lambda: settled(slug), f"{slug} to be marked interrupted", 120)
        assert len(runs_of(d, slug)) == 1
    assert len(list(tmp_path.glob("*.kernel.pid"))) == 2                      # the queued paper never started

def test_unreachable_scheduler_is_a_usage_error_and_writes_nothing(tiny):
    r = cli("reproduce", "--scheduler", f"tcp://127.0.0.1:{free_port()}", "-q", timeout=120)
    assert r.returncode == 2 and "cannot reach the Dask scheduler at" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tiny / "_runs").exists()

def edit_record(d: Path, change) -> None:
    path = d / "results" / "xnornet_pp.json"
    rec = json.loads(path.read_text()); change(rec); path.write_text(json.dumps(rec))

def test_reproducibility_check_passes_a_rerun_and_flags_planted_differences(tiny):
    assert cli("reproduce", "--profile", "full", "--record", "-q").returncode == 0
    r = cli("reproduce", "--profile", "full", "-q")                       # an identical rerun, same setting: exactly equal
    assert r.returncode == 0 and repro_row(r.stdout, "xnornet_pp")[1:] == ["2/2", "0", "reproduced", "exactly (the record's setting)", "—"]
    assert cli("verify", "xnornet_pp").returncode == 0
    original = (tiny / "results" / "xnornet_pp.json").read_text()
    def flip(rec): rec["claims"][0]["state"] = "does not hold"           # a flipped claim
    edit_record(tiny, flip)
    r = cli("verify", "p38")
    assert r.returncode == 1 and repro_row(r.stdout, "xnornet_pp")[1] == "1/2" and "does not hold in the record, holds now" in r.stdout   # an exact claim: no p
    # another setting (the record made with other threads): numbers must be within 2 recorded σ, not identical
    def elsewhere(shift):
        def change(rec):
            rec.update(json.loads(original)); rec["run"]["threads"] = 99
            c = rec["claims"][1]; c["ours"] += shift * c["ours_std"]
        return change
    edit_record(tiny, elsewhere(1.0))
    r = cli("verify", "xnornet_pp")
    assert r.returncode == 0 and repro_row(r.stdout, "xnornet_pp")[2:] == ["-1 (1 σ)", "reproduced", "within the spread: threads 1 ≠ 99", "—"], r.stdout
    edit_record(tiny, elsewhere(3.0))                                      # a number outside the spread
    r = cli("verify", "xnornet_pp")
    assert r.returncode == 1 and repro_row(r.stdout, "xnornet_pp")[1:4] == ["1/2", "-3 (3 σ)", "differs"], r.stdout
    assert "method 4 vs 7 recorded (3 σ)" in r.stdout
    def rates(rec): rec.update(json.loads(original)); rec["metrics"]["best_lr"] = {"tiny arm": 0.1}   # a rate this run did not select
    edit_record(tiny, rates)
    assert repro_row(cli("verify", "xnornet_pp").stdout, "xnornet_pp")[5] == "1 of 1 arms chose another: tiny arm 0.1 → none"
    (tiny / "results" / "xnornet_pp.json").write_text(original)
    recorded_run, rerun = runs_of(tiny, "xnornet_pp")[:2]                   # run directories named explicitly
    assert cli("verify", str(rerun)).returncode == 0
    r = cli("verify", str(recorded_run))                                    # the record's own run: never compared with itself
    assert r.returncode == 1 and repro_row(r.stdout, "xnornet_pp")[3] == "not compared: this run is the record", r.stdout
    r = cli("verify", "real2binary")
    assert r.returncode == 1 and repro_row(r.stdout, "real2binary")[3] == "no full-profile run in _runs/"
