"""Shared fixtures: the repository root and a tiny fake project for end-to-end runs."""
import json, os, subprocess, sys
from pathlib import Path
import nbformat, pytest

ROOT = Path(__file__).resolve().parent.parent

@pytest.fixture(scope="session")
def root() -> Path: return ROOT

TINY_NB_CODE = '''
import os, signal, time
from bulat_nb.record import save_metrics, save_figure
from bulat_nb.experiment import claim
import matplotlib; matplotlib.use("Agg"); import matplotlib.pyplot as plt
if mode == "error": raise RuntimeError("boom from the notebook")
if mode == "die": os._exit(1)
if mode in ("sleep", "killworker"):  # the kernel's pid, beside the project, tells a test it is running and which process it is
    open(os.path.join(os.environ.get("BULAT_NB_ROOT", "."), "..", "__SLUG__.kernel.pid"), "w").write(str(os.getpid()))
if mode == "sleep": time.sleep(300)
if mode == "killworker": os.kill(os.getppid(), signal.SIGKILL); time.sleep(60)  # the process that started the kernel dies
if mode == "nometrics": pass
else:
    fig, ax = plt.subplots(); ax.plot([0, n]); save_figure(fig, "tiny")
    print(f"the answer is {n}")
    save_metrics("__SLUG__", {"n": n, "seed": seed, "threads": os.environ.get("OMP_NUM_THREADS"),
                                  "workers": os.environ.get("BULAT_NB_WORKERS"), "cwd": os.getcwd(),
                                  "trim": os.environ.get("MALLOC_TRIM_THRESHOLD_")},
                 [claim("n is at least one", "n", n, 0.5, exact=True),
                  claim("n and its successors beat one half", "value", [n, n + 1.0, n + 2.0], 0.5, trained=False)], f"n = {n}")
'''

def make_tiny_project(d: Path, full_params: str = "n = 3\n", others: dict | None = None, threads: int = 1,
                      workers: int = 1) -> Path:
    "A fake bulat_nb checkout whose xnornet_pp notebook (and those of `others`: {slug: full params}) are tiny, controllable stand-ins."
    from bulat_nb.papers import get_paper
    tiny = {"xnornet_pp": full_params, **(others or {})}
    (d / "nbs").mkdir(parents=True)
    (d / "settings.ini").write_text(f"[run]\nruns_dir = _runs\nthreads = {threads}\nworkers = {workers}\nseed = 7\n"
                                    + "".join(f"\n[{slug}]\n{params}" for slug, params in tiny.items()))
    for slug in tiny:
        nb = nbformat.v4.new_notebook(cells=[
            nbformat.v4.new_markdown_cell("# Tiny"),
            nbformat.v4.new_code_cell("seed = 0      # [0, 2**31) seed\nn = 1         # [1, 100] a count\n"
                                      "mode = 'ok'   # {'ok', 'error', 'die', 'sleep', 'killworker', 'nometrics'} what the notebook does\n"
                                      "lr = 0.1      # (0, 1] a rate\nflag = False  # a switch", metadata={"tags": ["parameters"]}),
            nbformat.v4.new_code_cell(TINY_NB_CODE.replace("__SLUG__", slug))])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "python3", "language": "python"}
        path = d / get_paper(slug).notebook; path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, path)
    git(d, "init", "-q"); git(d, "add", "-A"); git(d, "commit", "-qm", "tiny project")
    return d

def git(d: Path, *args) -> str:
    "Run git in `d` (with a fixed identity) and return its output."
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.org"}
    return subprocess.run(["git", *args], cwd=d, env=env, check=True, capture_output=True, text=True).stdout

@pytest.fixture
def tiny(tmp_path, monkeypatch) -> Path:
    d = make_tiny_project(tmp_path / "proj")
    monkeypatch.setenv("BULAT_NB_ROOT", str(d))
    return d

def cli(*args, env=None, cwd=None, timeout=300):
    "Run the `bulat_nb` console script; return the CompletedProcess."
    e = {**os.environ, **(env or {})}
    return subprocess.run([str(Path(sys.executable).parent / "bulat_nb"), *args], capture_output=True, text=True,
                          env=e, cwd=cwd, timeout=timeout)

def tree(d: Path) -> list[str]:
    return sorted(str(p.relative_to(d)) for p in d.rglob("*"))
