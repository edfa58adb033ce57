"""The repository as a whole: package list vs README, recorded results, generated pages, declared dependencies."""
import ast, json, re, sys
from pathlib import Path
import pytest
from bulat_nb.papers import PAPERS, FAMILIES, get_paper
from bulat_nb.runs import report
from bulat_nb.models import list_models, create_model
from bulat_nb.papers import UsageError
from bulat_nb.record import claim_state, STATES

def test_readme_papers_table_matches_the_package(root):
    text = (root / "README.md").read_text()
    rows = re.findall(r"^\| (P\d\d) \| (\w+) \| `(\w+)` \| (.+?) \|", text, flags=re.M)
    assert [(i, f, s) for i, f, s, _ in rows] == [(p.id, p.family, p.slug) for p in PAPERS]
    assert [t.strip() for *_, t in rows] == [p.title for p in PAPERS]

def test_readme_has_exactly_two_setup_commands(root):
    text = (root / "README.md").read_text()
    blocks = re.findall(r"```(?:bash|sh)\n(.*?)```", text.split("## Set up")[1].split("\n## ")[0], flags=re.S)
    assert len(blocks) == 2, blocks
    assert "bulat_nb reproduce" in blocks[0] and '.[dev]' in blocks[1] and ".ci/test.sh" in blocks[1]
    script = (root / ".ci" / "test.sh").read_text()
    assert all(step in script for step in ("nbdev-export", "nbdev-clean", "nbdev-test", "pytest"))

def test_ci_script_runs_every_stage_and_fails_at_the_end(tmp_path):
    "A failing stage does not hide the others: every stage runs, the summary names each, and the exit code is 1."
    import shutil, subprocess, os
    proj, bin_ = tmp_path / "proj", tmp_path / "bin"
    (proj / ".ci").mkdir(parents=True); bin_.mkdir()
    shutil.copy(Path(__file__).parent.parent / ".ci" / "test.sh", proj / ".ci" / "test.sh")
    (proj / "bulat_nb").mkdir(); (proj / "nbs").mkdir()
    for name, code in {"nbdev-export": 0, "nbdev-clean": 0, "nbdev-test": 1, "pytest": 0}.items():
        (bin_ / name).write_text(f"#!/bin/sh\necho ran {name} >> {tmp_path}/log\nexit {code}\n"); (bin_ / name).chmod(0o755)
    r = subprocess.run(["bash", str(proj / ".ci" / "test.sh")], capture_output=True, text=True,
                       env={**os.environ, "PATH": f"{bin_}:{os.environ['PATH']}"})
    assert r.returncode == 1, r.stdout
    assert (tmp_path / "log").read_text().split() == ["ran", "nbdev-export", "ran", "nbdev-clean", "ran", "nbdev-test", "ran", "pytest"]
    summary = r.stdout.split("=== summary")[1]
    assert [l.split()[0] for l in summary.strip().splitlines()[:4]] == ["PASS", "PASS", "FAIL", "PASS"], summary
    assert "1 of 4 stages failed" in summary
    (bin_ / "nbdev-test").write_text("#!/bin/sh\nexit 0\n")
    r = subprocess.run(["bash", str(proj / ".ci" / "test.sh")], capture_output=True, text=True,
                       env={**os.environ, "PATH": f"{bin_}:{os.environ['PATH']}"})
    assert r.returncode == 0 and "All 4 stages passed" in r.stdout, r.stdout

def test_readme_is_the_home_notebook(root):
    "README.md is rendered from nbs/index.ipynb (as nbdev-docs would do with Quarto)."
    from bulat_nb.papers import render_readme
    assert (root / "README.md").read_text() == render_readme(root)

def test_recorded_results_are_complete(root):
    for f in sorted((root / "results").glob("*.json")):
        rec = json.loads(f.read_text())
        p = get_paper(f.stem)
        assert rec["slug"] == p.slug and rec["paper"] == p.id
        assert rec["run"]["profile"] == "full" and rec["verdict"] and rec["claims"]
        for c in rec["claims"]:
            assert {"claim", "metric", "ours", "baseline"} <= set(c)
            assert claim_state(c) in STATES
            if c.get("n", 1) > 1: assert c["n"] >= 3, "statistical claims are recorded over >= 3 seeds"
        for fig in rec["figures"]: assert (root / "results" / p.slug / f"{fig}.png").exists()

def test_results_page_is_in_sync(root):
    from bulat_nb.runs import results_page
    assert (root / "nbs" / "results.md").read_text() == results_page(root)

def test_registry(root):
    assert "xnornet_pp_mnist1d_case1" in list_models("xnornet_pp_*")
    with pytest.raises(UsageError, match="unknown model"): create_model("no_such_model")

def test_every_notebook_is_in_the_docs_sidebar(root):
    import yaml
    cfg = yaml.safe_load((root / "_quarto.yml").read_text())
    listed = set()
    def walk(items):
        for it in items:
            if isinstance(it, str): listed.add(it)
            elif isinstance(it, dict): walk(it.get("contents", [])) if "contents" in it else listed.add(it.get("href"))
    walk(cfg["website"]["sidebar"]["contents"])
    nbs = {str(p.relative_to(root / "nbs")) for p in (root / "nbs").rglob("*.ipynb") if not p.name.startswith("_")}
    assert nbs <= listed, nbs - listed

def _imported_top_level(path: Path):
    tree = ast.parse(path.read_text())
    for n in ast.walk(tree):
        if isinstance(n, ast.Import): yield from (a.name.split(".")[0] for a in n.names)
        elif isinstance(n, ast.ImportFrom) and n.level == 0 and n.module: yield n.module.split(".")[0]

IMPORT_TO_DIST = {"sklearn": "scikit-learn", "yaml": "pyyaml", "IPython": "ipython", "PIL": "pillow",
                  "tltorch": "tensorly-torch", "skimage": "scikit-image", "cv2": "opencv-python"}
PROVIDED_BY = {"ipython": "jupyterlab", "pillow": "matplotlib", "fastcore": "fastai", "nbformat": "papermill",
               "myst_nb": "myst-nb", "sphinx": "sphinx", "scikit-image": "face-alignment",
               "opencv-python": "face-alignment"}

def test_every_import_of_the_package_is_declared(root):
    "A fresh install must have what `bulat_nb` imports: each third-party import maps to a declared dependency."
    import tomllib
    meta = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    declared = {re.split(r"[<>=!~ \[]", d)[0].lower() for d in meta["dependencies"]}
    dev = {re.split(r"[<>=!~ \[]", d)[0].lower() for d in meta["optional-dependencies"]["dev"]}
    stdlib = set(sys.stdlib_module_names)
    for py in (root / "bulat_nb").rglob("*.py"):
        for mod in set(_imported_top_level(py)) - stdlib - {"bulat_nb", "__future__"}:
            dist = IMPORT_TO_DIST.get(mod, mod).lower().replace("_", "-")
            ok = dist in declared or dist.replace("-", "_") in declared or PROVIDED_BY.get(dist) in declared
            if py.name == "docs.py": ok = ok or dist in dev or PROVIDED_BY.get(dist) in dev
            assert ok, f"{py.relative_to(root)} imports {mod!r}, which pyproject.toml does not declare"

def test_every_import_of_the_notebooks_is_a_main_dependency(root):
    """The main job (`pip install -e . && bulat_nb reproduce`) runs whole notebooks, tests included: whatever a notebook
    imports must be a main dependency, not a dev extra."""
    import tomllib
    meta = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    declared = {re.split(r"[<>=!~ \[]", d)[0].lower() for d in meta["dependencies"]}
    stdlib = set(sys.stdlib_module_names)
    for nb in (root / "nbs").rglob("*.ipynb"):
        if nb.name in ("06_docs.ipynb",): continue  # the docs builder runs under the dev extra only
        cells = json.loads(nb.read_text())["cells"]
        src = "\n".join("\n".join(l for l in "".join(c["source"]).splitlines() if not l.lstrip().startswith(("%", "!", "#|")))
                        for c in cells if c["cell_type"] == "code")
        tree = ast.parse(src)
        mods = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        mods |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level == 0 and n.module}
        for mod in mods - stdlib - {"bulat_nb", "__future__"}:
            dist = IMPORT_TO_DIST.get(mod, mod).lower().replace("_", "-")
            ok = dist in declared or dist.replace("-", "_") in declared or PROVIDED_BY.get(dist) in declared
            assert ok, f"{nb.relative_to(root)} imports {mod!r}, which is not a main dependency in pyproject.toml"


def _paper_notebooks(root):
    return [(p, root / p.notebook) for p in PAPERS if (root / p.notebook).exists()]

def test_every_parameter_declares_its_range(root):
    "Every numeric or string parameter of a paper notebook has a valid range or a choice set; no comment confuses papermill."
    import logging
    from bulat_nb.runs import parameter_specs
    from papermill.translators import PythonTranslator
    for p, nb in _paper_notebooks(root):
        specs = parameter_specs(nb)
        assert "seed" in specs and "n_seeds" in specs, p.slug
        for k, s in specs.items():
            if isinstance(s.default, bool): continue
            assert s.constrained, f"{p.slug}: parameter {k!r} declares no range"
        src = "".join("".join(c["source"]) for c in json.loads(nb.read_text())["cells"] if "parameters" in c["metadata"].get("tags", []))
        assert all(line.count("=") == 1 for line in src.splitlines() if line.strip()), f"{p.slug}: '=' in a parameter comment"
        assert {q.name for q in PythonTranslator.inspect(nbformat_cell(src))} == set(specs), p.slug  # papermill reads every line

def nbformat_cell(src):
    import nbformat
    return nbformat.v4.new_code_cell(src)

def test_every_paper_notebook_checks_its_own_parameters(root):
    for p, nb in _paper_notebooks(root):
        code = ["".join(c["source"]) for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "code"]
        assert any(f'check_parameters("{p.slug}", globals())' in c for c in code), p.slug

def test_importing_the_package_is_quiet():
    "Importing every module prints no warning (fastai's torch.jit.script deprecation among them)."
    import subprocess
    code = "import importlib, bulat_nb.models as m; m.list_models(); [importlib.import_module(n) for n in ('bulat_nb.experiment', 'bulat_nb.runs', 'bulat_nb.docs', 'bulat_nb.cli')]"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0 and r.stderr.strip() == "", r.stderr

def test_recorded_training_curves_are_not_empty(root):
    "A record's training curves hold losses: an arm that trains nothing (a frozen baseline) may have none, but a table of runs whose every curve is empty lost them (as fastai's emptied recorder did for six papers until 2026-12-06)."
    empty = []
    def walk(x, where):
        if isinstance(x, dict):
            for k, v in x.items():
                if k == "curves" and isinstance(v, dict):
                    if v and not any(v.values()): empty.append(f"{where}.curves")
                else: walk(v, f"{where}.{k}")
    for f in sorted((root / "results").glob("*.json")): walk(json.loads(f.read_text())["metrics"], f.stem)
    assert not empty, empty
