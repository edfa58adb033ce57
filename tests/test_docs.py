"""End-to-end tests of `bulat_nb docs`: build a tiny fixture project's site and load its pages in headless Chromium."""
import json, os, re, shutil, struct, subprocess, threading, warnings, zlib
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import nbformat, pytest

from bulat_nb.docs import DocsWarning, build_docs, external_resources
from conftest import cli

SYMBOL = "fixture_scaled_sign"  # an exported function of the fixture's paper notebook: the search must find it
MATH = r"$$\alpha = \frac{1}{n}\|W\|_1$$"

QUARTO_YML = """
website:
  title: "Fixture docs"
  site-url: "https://example.org/fixture"
  sidebar:
    contents:
      - index.ipynb
      - section: "Foundations"
        contents:
          - 00_basics.ipynb
          - 06_missing.ipynb
      - section: "Binary networks"
        contents:
          - binary/xnornet_pp.ipynb
      - results.md
"""

PYPROJECT = """
[project]
name = "fixture_nb"
version = "0.0.1"
authors = [{name = "fixture authors"}]
[project.urls]
Documentation = "https://example.org/fixture"
[tool.nbdev]
lib_path = "fixture_nb"
nbs_path = "nbs"
doc_path = "_docs"
recursive = true
custom_sidebar = true
allowed_cell_metadata_keys = ["tags"]
"""

def png(w: int = 6, h: int = 4) -> bytes:
    "A small valid red PNG."
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + b"\xff\x00\x00" * w for _ in range(h))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))

def notebook(*cells) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(c[3:]) if c.startswith("md:") else nbformat.v4.new_code_cell(c)
                                         for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "python3", "language": "python"}
    return nb

def make_docs_project(d: Path) -> Path:
    "A fake checkout: a home page, one paper page (math, an exported function, a recorded result with a figure)."
    (d / "nbs" / "binary").mkdir(parents=True)
    (d / "settings.ini").write_text("[run]\nruns_dir = _runs\n")
    (d / "pyproject.toml").write_text(PYPROJECT)
    (d / "_quarto.yml").write_text(QUARTO_YML)
    (d / "nbs" / "_quarto.yml").symlink_to("../_quarto.yml")
    nbformat.write(notebook("md:# Fixture docs\n\n> The home page of the fixture."), d / "nbs" / "index.ipynb")
    nbformat.write(notebook("md:# Basics\n\n> A foundation page.", "1 + 1"), d / "nbs" / "00_basics.ipynb")
    nbformat.write(notebook(
        "md:# XNOR-Net++ (fixture)\n\n> A stand-in paper page.",
        "#| default_exp binary.fixture",
        f"md:## The idea\n\nThe analytic scale is\n\n{MATH}\n\nand `{SYMBOL}` implements the sign part.",
        f'#| export\ndef {SYMBOL}(w, # weights\n                       ):\n    "Sign of `w` times the mean of its absolute values."\n'
        "    return w",
        "from bulat_nb.record import show_recorded",
        "md:## Recorded full-profile result",
        '#| echo: false\nshow_recorded("xnornet_pp")'), d / "nbs" / "binary" / "xnornet_pp.ipynb")
    (d / "results" / "xnornet_pp").mkdir(parents=True)
    (d / "results" / "xnornet_pp" / "accuracy.png").write_bytes(png())
    (d / "results" / "xnornet_pp.json").write_text(json.dumps({
        "slug": "xnornet_pp", "metrics": {}, "figures": ["accuracy"], "verdict": "The fixture claim holds.",
        "claims": [{"claim": "learned scaling beats analytic scaling", "metric": "accuracy (%)", "ours": 81.0, "ours_std": 1.0,
                    "baseline": 78.0, "baseline_std": 1.5, "n": 3, "higher_is_better": True, "holds": True}],
        "run": {"start": "2026-01-02T03:04:05+00:00", "profile": "full", "duration_s": 12.0, "machine": {"cpus": 2},
                "git": {"commit": "0123456789abcdef", "dirty": False}, "versions": {"torch": "2.x"}, "parameters": {"epochs": 30}}}))
    return d

@pytest.fixture(scope="module")
def site(tmp_path_factory):
    "The fixture project, its built site, and the warnings the build gave."
    root = make_docs_project(tmp_path_factory.mktemp("docs") / "proj")
    with pytest.MonkeyPatch.context() as mp, warnings.catch_warnings(record=True) as ws:
        mp.setenv("BULAT_NB_ROOT", str(root))
        warnings.simplefilter("always")
        out = build_docs(root)
    return root, out, [str(w.message) for w in ws if issubclass(w.category, DocsWarning)]

# ---------------------------------------------------------------- the built files
@pytest.mark.slow
def test_site_files(site):
    root, out, _ = site
    assert out == root / "_docs"
    for f in ("index.html", "binary/xnornet_pp.html", "results.html", "search.html", "searchindex.js",
              "_static/mathjax/tex-chtml.js"):
        assert (out / f).is_file(), f
    assert not (root / "nbs" / "nbdev.yml").exists() and not (root / "nbs" / "sidebar.yml").exists()  # nothing written into nbs/
    assert sorted(p.name for p in root.iterdir()) == ["_docs", "_proc", "_quarto.yml", "nbs", "pyproject.toml", "results",
                                                      "settings.ini"]  # and no stray build folders (jupyter_execute/)
    nav = (out / "index.html").read_text().split('class="bd-links bd-docs-nav"')[1].split("</nav>")[0]  # the sidebar
    order = [nav.find(s) for s in ('>Foundations<', 'href="basics.html"', '>Binary networks<', 'href="binary/xnornet_pp.html"',
                                   'href="results.html"')]
    assert -1 not in order and order == sorted(order), order  # the sidebar follows _quarto.yml

@pytest.mark.slow
def test_missing_page_only_warns(site):
    _, out, msgs = site
    assert any("06_missing.ipynb" in m and "does not exist" in m for m in msgs), msgs
    assert not (out / "missing.html").exists()

@pytest.mark.slow
def test_paper_page_content(site):
    _, out, _ = site
    page = (out / "binary" / "xnornet_pp.html").read_text()
    assert "<h1>XNOR-Net++ (fixture)" in page and re.search(f"<h3[^>]*>{SYMBOL}", page)  # title; show_doc as a heading
    assert "learned scaling beats analytic scaling" in page and "The fixture claim holds." in page
    imgs = re.findall(r'<img[^>]*src="([^"]+)"', page)
    fig = [s for s in imgs if "accuracy" in s]
    assert fig and (out / "binary" / fig[0]).resolve().is_file(), imgs
    assert "mathjax/tex-chtml.js" in page
    results = (out / "results.html").read_text()
    assert "learned scaling beats analytic scaling" in results and "81.00 ± 1.00 (n=3)" in results

@pytest.mark.slow
def test_no_external_scripts_or_styles(site):
    _, out, _ = site
    assert external_resources(out) == []
    for p in out.rglob("*.html"):  # the same check, written independently
        for tag in re.findall(r"<(?:script|link)\b[^>]*>", p.read_text()):
            assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", tag), (p, tag)

@pytest.mark.slow
def test_cli_docs(site):
    root, out, _ = site
    (out / "index.html").unlink()
    r = cli("docs", env={"BULAT_NB_ROOT": str(root)}, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "1/4" in r.stdout and "4/4" in r.stdout and (out / "index.html").is_file()
    assert "06_missing.ipynb" in r.stderr  # the warning reaches the user

@pytest.mark.slow
def test_external_script_fails_the_build(tmp_path):
    root = make_docs_project(tmp_path / "proj")
    nbformat.write(notebook("md:# Fixture docs", 'md:<script src="https://cdn.example.org/tracker.js"></script>'),
                   root / "nbs" / "index.ipynb")
    with pytest.warns(DocsWarning), pytest.raises(RuntimeError, match="cdn.example.org/tracker.js"):
        build_docs(root, tmp_path / "site")

# ---------------------------------------------------------------- in a browser
def chromium() -> str:
    exe = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
    if exe is None:
        if os.environ.get("CI"): pytest.fail("chromium is not installed (CI must apt-get install chromium)")
        pytest.skip("chromium is not installed")
    return exe

class _Recorder(SimpleHTTPRequestHandler):
    requests: list
    def log_message(self, *args): pass
    def do_GET(self):
        self.requests.append(self.path); super().do_GET()

@pytest.fixture(scope="module")
def browser(site, tmp_path_factory):
    "`dom(path)`: the page's DOM after its scripts ran, loaded from a local server; and the paths the browser requested."
    yield from _serve(site[1], tmp_path_factory)

def _serve(out: Path, tmp_path_factory):
    exe = chromium()
    requests = []
    handler = type("H", (_Recorder,), {"requests": requests})
    srv = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(out)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    profile = tmp_path_factory.mktemp("chromium")
    def dom(path: str) -> str:
        r = subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                            "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
                            "--virtual-time-budget=15000", "--dump-dom", f"http://127.0.0.1:{srv.server_address[1]}/{path}"],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0 and "<html" in r.stdout, r.stderr[-2000:]
        return r.stdout
    yield dom, requests
    srv.shutdown(); srv.server_close()

@pytest.mark.slow
def test_browser_math_and_figure(browser):
    dom, requests = browser
    page = dom("binary/xnornet_pp.html")
    assert "<mjx-container" in page, "MathJax did not typeset the page"
    assert re.search(r'<img[^>]*src="[^"]*accuracy[^"]*\.png"', page)
    assert any(p.endswith(".png") and "accuracy" in p for p in requests), requests  # the figure was fetched
    assert any("mathjax" in p for p in requests)  # MathJax came from the site itself

@pytest.mark.slow
def test_browser_search_finds_symbol(browser):
    dom, _ = browser
    page = dom(f"search.html?q={SYMBOL}")
    results = re.search(r'<ul[^>]*class="search"[^>]*>(.*?)</ul>', page, re.S)
    assert results, "no search results list"
    assert 'href="binary/xnornet_pp.html' in results.group(1), results.group(1)[:1000]

# ---------------------------------------------------------------- the real site
@pytest.fixture(scope="module")
def real_browser(root, tmp_path_factory):
    "The project's own docs site, built offline, served and loaded in Chromium."
    out = build_docs(root, tmp_path_factory.mktemp("real") / "site")
    yield from _serve(out, tmp_path_factory)

@pytest.mark.slow
def test_real_xnornet_pp_page(real_browser, root):
    "The XNOR-Net++ page shows typeset math, the recorded figure and verdict; search finds its symbols."
    dom, requests = real_browser
    page = dom("binary/xnornet_pp.html")
    assert page.count("<mjx-container") > 10, "MathJax did not typeset the page"
    rec = json.loads((root / "results" / "xnornet_pp.json").read_text())
    for fig in rec["figures"]:
        assert re.search(rf'<img[^>]*src="[^"]*{fig}\.png"', page) and any(p.endswith(f"{fig}.png") for p in requests)
    assert rec["claims"][0]["claim"] in page and "Verdict" in page
    hits = re.search(r'<ul[^>]*class="search"[^>]*>(.*?)</ul>', dom("search.html?q=LearnedScale"), re.S)
    assert hits and 'href="binary/xnornet_pp.html' in hits.group(1)

@pytest.mark.slow
def test_real_paper_pages_typeset_without_errors(real_browser, root):
    "Every paper page of the real site typesets its math with no MathJax error (e.g. \\tag inside a split)."
    from bulat_nb.papers import PAPERS
    dom, _ = real_browser
    for p in PAPERS:
        if not (root / p.notebook).exists(): continue
        page = dom(f"{p.family}/{p.slug}.html")
        assert "<mjx-container" in page, p.slug
        assert "<mjx-merror" not in page, f"{p.slug}: MathJax could not typeset an equation"
