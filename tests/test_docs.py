"""End-to-end tests of `bulat_nb docs`: build a tiny fixture project's site and load its pages in headless Chromium."""
import base64, html, json, os, re, shutil, struct, subprocess, threading, warnings, zlib
from functools import partial
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import nbformat, pytest

from bulat_nb.docs import DocsWarning, build_docs, external_resources
from bulat_nb.runs import keep_executed
from conftest import cli

SYMBOL = "fixture_scaled_sign"  # an exported function of the fixture's paper notebook: the search must find it
MATH = r"$$\alpha = \frac{1}{n}\|W\|_1$$"
LIST_MATH = (r"1. **Block.** Three convolutions, concatenated," "\n"   # display math inside a list item, as in FAN's eq. (1)
             r"   $$\mathrm{B}(x) = [\,f_1(x),\ f_2(f_1(x))\,] + x, \tag{1}$$" "\n"
             r"   giving receptive fields 3 and 5, with blocks of $d/\text{n\_div}$ channels.")  # and XViT's \text{n\_div}
EQ_COMMENT = "# eq. (1): the analytic scale"   # a comment in the exported code: the page must show it
RUN_ID = "20260102-030405-full-abc123"
TABLE_MARK = "fixture-recorded-table"   # in the recorded run's table output (the source notebook has no outputs)
VERDICT_OUT = "Verdict: the fixture claim holds on 3 seeds."

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

def wide_table() -> str:
    "A data frame's HTML with ten columns of long unbreakable names: wider than the page unless its cells wrap."
    cols = [f"xnornet_pp_mnist1d_case{i}_heldout_accuracy_percent" for i in range(10)]
    row = "".join(f"<td>{81 + i}.123456789012345678901234567890</td>" for i in range(10))
    return (f'<div><table border="1" class="dataframe {TABLE_MARK}"><thead><tr>' + "".join(f"<th>{c}</th>" for c in cols)
            + f"</tr></thead><tbody><tr>{row}</tr></tbody></table></div>")

def executed_copy(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    "What papermill makes of the fixture's paper notebook in a full-profile run: injected parameters, outputs, one cell edited since."
    ex = nbformat.from_dict(json.loads(json.dumps(nb)))
    ex.metadata["papermill"] = {"parameters": {"epochs": 30}, "start_time": "2026-01-02T03:04:06+00:00",
                                "output_path": f"/work/proj/_runs/xnornet_pp/{RUN_ID}/xnornet_pp.ipynb"}
    out = lambda kind, **kw: nbformat.v4.new_output(kind, **kw)
    for c in ex.cells:
        if "table = " in c.source:
            c.outputs = [out("execute_result", data={"text/html": wide_table(), "text/plain": "table"}, execution_count=3)]
        elif "fig = " in c.source:
            c.outputs = [out("display_data", data={"image/png": base64.b64encode(png(64, 40)).decode(), "text/plain": "<Figure>"})]
        elif "print(verdict)" in c.source:
            c.outputs = [out("stream", name="stderr", text="epoch 30/30 100%\n"), out("stream", name="stdout", text=VERDICT_OUT + "\n")]
        elif "summary = " in c.source:   # the notebook changed this cell after the run
            c.source, c.outputs = 'summary = "as it was recorded"\nprint(summary)', [out("stream", name="stdout", text="as it was recorded\n")]
        elif "show_recorded" in c.source:   # in the run, this showed the record that was current before it
            c.outputs = [out("display_data", data={"text/markdown": "the stale record", "text/plain": "<Markdown>"})]
    i = next(i for i, c in enumerate(ex.cells) if "parameters" in c.metadata.get("tags", []))
    ex.cells.insert(i + 1, nbformat.v4.new_code_cell("# Parameters\nepochs = 30\n", metadata={"tags": ["injected-parameters"]}))
    return ex

def make_docs_project(d: Path) -> Path:
    """A fake checkout: a home page and one paper page (math, an exported function, an experiment, a recorded result with
    a figure and the executed notebook of the recorded run, kept by `keep_executed`)."""
    (d / "nbs" / "binary").mkdir(parents=True)
    (d / "settings.ini").write_text("[run]\nruns_dir = _runs\n")
    (d / "pyproject.toml").write_text(PYPROJECT)
    (d / "_quarto.yml").write_text(QUARTO_YML)
    (d / "nbs" / "_quarto.yml").symlink_to("../_quarto.yml")
    nbformat.write(notebook("md:# Fixture docs\n\n> The home page of the fixture."), d / "nbs" / "index.ipynb")
    nbformat.write(notebook("md:# Basics\n\n> A foundation page.", "1 + 1"), d / "nbs" / "00_basics.ipynb")
    paper = notebook(
        "md:# XNOR-Net++ (fixture)\n\n> A stand-in paper page.",
        "#| default_exp binary.fixture",
        f"md:## The idea\n\nThe analytic scale is\n\n{MATH}\n\nand `{SYMBOL}` implements the sign part.\n\n{LIST_MATH}",
        f'#| export\ndef {SYMBOL}(w, # weights\n                       ):\n    "Sign of `w` times the mean of its absolute values."\n'
        f"    alpha = w.abs().mean()  {EQ_COMMENT}\n    return w",
        "from bulat_nb.record import show_recorded",
        "md:## Experiment\n\nOne table, one figure, one verdict.",
        "epochs = 2  # [1, 100] training epochs",
        "table = make_table(epochs)\ntable",
        "fig = plot(table)\nfig",
        "print(verdict)",
        'summary = "as it is now"\nprint(summary)',
        "md:### Recorded full-profile result\n\nThe recorded run's claims, verdict and figures.",
        '#| echo: false\nshow_recorded("xnornet_pp")',
        "md:## Fidelity notes\n\nA fixture.")
    paper.cells[6].metadata["tags"] = ["parameters"]
    nbformat.write(paper, d / "nbs" / "binary" / "xnornet_pp.ipynb")
    (d / "results" / "xnornet_pp").mkdir(parents=True)
    (d / "results" / "xnornet_pp" / "accuracy.png").write_bytes(png())
    (d / "results" / "xnornet_pp.json").write_text(json.dumps({
        "slug": "xnornet_pp", "metrics": {}, "figures": ["accuracy"], "verdict": "The fixture claim holds.",
        "claims": [{"claim": "learned scaling beats analytic scaling", "metric": "accuracy (%)", "ours": 81.0, "ours_std": 1.0,
                    "baseline": 78.0, "baseline_std": 1.5, "n": 3, "higher_is_better": True, "state": "holds"}],
        "run": {"run_id": RUN_ID, "start": "2026-01-02T03:04:05+00:00", "profile": "full", "duration_s": 12.0,
                "machine": {"cpus": 2}, "git": {"commit": "0123456789abcdef", "dirty": False}, "versions": {"torch": "2.x"},
                "parameters": {"epochs": 30}}}))
    run_nb = d.parent / f"{d.name}_run.ipynb"   # the run folder's notebook, outside the checkout
    nbformat.write(executed_copy(paper), run_nb)
    keep_executed(run_nb, d / "results" / "xnornet_pp" / "xnornet_pp.ipynb")
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
    assert re.search(r'href="binary/xnornet_pp.html">P38 · XNOR-Net\+\+ \(fixture\)<', nav), nav  # with the paper's id

@pytest.mark.slow
def test_missing_page_only_warns(site):
    _, out, msgs = site
    assert any("06_missing.ipynb" in m and "does not exist" in m for m in msgs), msgs
    assert not (out / "missing.html").exists()

def _paper_cells(root: Path) -> list:
    return nbformat.read(root / "nbs" / "binary" / "xnornet_pp.ipynb", as_version=4).cells

@pytest.mark.slow
def test_changed_cell_warns(site):
    "The fixture's notebook changed one experiment cell after its recorded run: the build names it."
    root, _, msgs = site
    changed = next(c.id for c in _paper_cells(root) if "summary = " in c.source)
    hits = [m for m in msgs if "changed since its recorded run" in m]
    assert len(hits) == 1 and f"changed: {changed}" in hits[0] and "added:" not in hits[0] and "removed:" not in hits[0], msgs
    assert not any("[source]" in m for m in msgs), msgs   # every source link found its cell

@pytest.mark.slow
def test_paper_page_content(site):
    _, out, _ = site
    page = (out / "binary" / "xnornet_pp.html").read_text()
    assert "<h1>P38 · XNOR-Net++ (fixture)" in page and re.search(f"<h3[^>]*>{SYMBOL}", page)  # title; show_doc as a heading
    assert "learned scaling beats analytic scaling" in page and "The fixture claim holds." in page
    imgs = re.findall(r'<img[^>]*src="([^"]+)"', page)
    fig = [s for s in imgs if "accuracy" in s]
    assert fig and (out / "binary" / fig[0]).resolve().is_file(), imgs
    assert "mathjax/tex-chtml.js" in page
    results = (out / "results.html").read_text()
    assert "learned scaling beats analytic scaling" in results and "81.00 ± 1.00 (n=3)" in results
    links = re.findall(r'<a class="reference internal" href="([^"#]+)"', results.split('<article', 1)[1])
    assert "binary/xnornet_pp.html" in links and all((out / h).is_file() for h in links), links  # the table's titles

def _section(page: str, sid: str) -> str:
    "The HTML of the page's `<section id=sid>`, its subsections included."
    start, depth = page.index(f'<section id="{sid}"'), 0
    for m in re.finditer(r"<section\b|</section>", page[start:]):
        depth += -1 if m.group(0) == "</section>" else 1
        if depth == 0: return page[start:start + m.end()]
    raise AssertionError(f"section {sid} is not closed")

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
    profile, cache = tmp_path_factory.mktemp("chromium"), {}
    def load(path: str, *flags) -> str:
        r = subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                            "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
                            "--virtual-time-budget=20000", *flags, "--dump-dom", f"http://127.0.0.1:{srv.server_address[1]}/{path}"],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0 and "<html" in r.stdout, r.stderr[-2000:]
        return r.stdout
    def dom(path: str) -> str:
        "The page's DOM after its scripts ran (a page is loaded once per site)."
        if path not in cache: cache[path] = load(path)
        return cache[path]
    def probe(path: str) -> dict:
        "Measurements of the page as laid out in a 1280 px wide window (see PROBE)."
        (out / "_probe.html").write_text(PROBE)
        m = re.search(r'<pre id="probe">(.*?)</pre>', load(f"_probe.html?page={path}", "--window-size=1400,1000"), re.S)
        assert m, f"the probe did not report on {path}"
        return json.loads(html.unescape(m.group(1)))
    dom.probe = probe
    yield dom, requests
    srv.shutdown(); srv.server_close()

PROBE = """<!DOCTYPE html><html><body style="margin:0"><script>
const f = document.createElement("iframe");
f.style.width = "1280px"; f.style.height = "900px"; f.src = new URLSearchParams(location.search).get("page");
f.onload = () => setTimeout(() => {
  const art = f.contentDocument.querySelector("article.bd-article");
  const box = art.getBoundingClientRect();
  const report = {article: box.width,
    tables: [...art.querySelectorAll("table")].map(t => ({width: t.getBoundingClientRect().width, text: t.textContent.slice(0, 60)})),
    images: [...art.querySelectorAll("img")].map(i => ({src: i.getAttribute("src"),
                                                        href: i.closest("a") ? i.closest("a").getAttribute("href") : null}))};
  const pre = document.createElement("pre"); pre.id = "probe"; pre.textContent = JSON.stringify(report);
  document.body.appendChild(pre);
}, 3000);
document.body.appendChild(f);
</script></body></html>"""

_SKIP = {"script", "style", "code", "pre", "mjx-container", "textarea", "kbd", "samp", "noscript"}
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}

class _Prose(HTMLParser):
    "The text a reader sees as prose: outside code, scripts and typeset math."
    def __init__(self):
        super().__init__(); self.skip, self.parts = [], []
    def handle_starttag(self, tag, attrs):
        if tag not in _VOID: self.skip.append(tag in _SKIP or "highlight" in (dict(attrs).get("class") or "").split())
    def handle_endtag(self, tag):
        if tag not in _VOID and self.skip: self.skip.pop()
    def handle_data(self, data):
        if not any(self.skip): self.parts.append(data)

def prose(dom: str) -> str:
    p = _Prose(); p.feed(dom); return "".join(p.parts)

def math_problems(dom: str) -> list[str]:
    "What went wrong with the page's math: TeX left raw, MathJax errors, macros shown as text (`\\text{n\\_div}`)."
    bad = [f"raw TeX: {m!r}" for m in re.findall(r"\$[^$]{0,60}", prose(dom))]
    bad += ["MathJax error"] * dom.count("<mjx-merror")
    bad += [f"backslash shown in text: {m[:80]!r}" for m in re.findall(r"<mjx-mtext\b(?:(?!</mjx-mtext>).)*?mjx-c5C\b", dom, re.S)]
    return bad

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

@pytest.mark.slow
def test_browser_search_finds_paper_id(browser):
    dom, _ = browser
    results = re.search(r'<ul[^>]*class="search"[^>]*>(.*?)</ul>', dom("search.html?q=P38"), re.S)
    assert results and 'href="binary/xnornet_pp.html' in results.group(1), results and results.group(1)[:1000]

@pytest.mark.slow
def test_browser_recorded_run_in_experiment(browser, site):
    "The experiment section shows the recorded run's own outputs: its table, figure, verdict and parameters."
    dom, requests = browser
    root, out, _ = site
    assert not any(c.get("outputs") for c in _paper_cells(root))   # the notebook itself has no outputs
    page = dom("binary/xnornet_pp.html")
    exp, rest = _section(page, "experiment"), page.replace(_section(page, "experiment"), "")
    ran = exp.split('id="recorded-full-profile-result"')[0]   # the experiment's cells, before the recorded-result box
    assert TABLE_MARK in ran and VERDICT_OUT in ran, ran[:3000]
    figs = re.findall(r'<img[^>]*src="([^"]+)"', ran)
    assert len(figs) == 1 and (out / "binary" / figs[0]).resolve().is_file(), figs   # the run's figure, as an image file
    assert any(p.endswith(Path(figs[0]).name) for p in requests)                       # which the browser loaded
    assert "recorded full-profile run" in exp and RUN_ID in exp                         # the note naming the run
    code = re.sub(r"<[^>]+>", "", exp)
    assert "epochs = 30" in code and code.index("epochs = 2") < code.index("epochs = 30") < code.index("make_table")
    assert "as it was recorded" in code and "as it is now" not in code and "Changed after the recorded run" in code
    assert code.index("make_table") < code.index(VERDICT_OUT) < code.index("Recorded full-profile result")
    assert "epoch 30/30" not in page and "the stale record" not in page    # stderr and the stale show_recorded output
    assert TABLE_MARK not in rest and VERDICT_OUT not in rest
    assert "The fixture claim holds." in exp                                           # the recorded-result box follows

@pytest.mark.slow
def test_browser_exported_code_and_source_links(browser, site):
    "The exported function is on the page with its comments, and its `[source]` link is the anchor at that cell."
    dom, _ = browser
    root, out, _ = site
    cid = next(c.id for c in _paper_cells(root) if c.source.startswith("#| export"))
    page = dom("binary/xnornet_pp.html")
    cell = re.search(rf'<div class="cell docutils container" id="src-{cid}">(.*?)</pre>', page, re.S)
    assert cell, f"no anchored code cell src-{cid}"
    text = html.unescape(re.sub(r"<[^>]+>", "", cell.group(1)))
    assert f"def {SYMBOL}(w" in text and EQ_COMMENT in text and "#| export" not in text, text
    srcs = re.findall(r'<a class="nbdev-source[^"]*" href="([^"]+)"', page)
    assert srcs == [f"#src-{cid}"], srcs
    assert page.index(f'id="src-{cid}"') < page.index(f'href="#src-{cid}"')   # the code, then its API entry
    for p in out.rglob("*.html"):   # no page links to source code outside the site
        assert not re.search(r'<a [^>]*href="https?://[^"]*/blob/', p.read_text()), p

@pytest.mark.slow
def test_browser_math_renders(browser):
    "No raw `$…$`, no MathJax error, no macro shown as text; display math in a list item keeps its tag."
    dom, _ = browser
    page = dom("binary/xnornet_pp.html")
    assert math_problems(page) == []
    assert 'id="mjx-eqn:1"' in page   # the list item's \tag{1}

@pytest.mark.slow
def test_browser_tables_fit_and_figures_open(browser, site):
    "Tables wrap to the page's width; every image is a link to the full-size image file."
    dom, _ = browser
    _, out, _ = site
    for path in ("binary/xnornet_pp.html", "results.html"):
        m = dom.probe(path)
        assert m["tables"], path
        for t in m["tables"]: assert t["width"] <= m["article"] + 1, (path, m["article"], t)
        for i in m["images"]:
            assert i["href"] == i["src"] and (out / path).parent.joinpath(i["href"]).resolve().is_file(), (path, i)
        if path.startswith("binary/"):   # the recorded wide table, the run's figure and the recorded-result box's figure
            assert any("xnornet_pp_mnist1d_case0" in t["text"] for t in m["tables"]) and len(m["images"]) == 2, m

# ---------------------------------------------------------------- the real site
@pytest.fixture(scope="module")
def real_build(root, tmp_path_factory) -> tuple[Path, list[str]]:
    "The project's own docs site, built offline, and the warnings the build gave."
    with warnings.catch_warnings(record=True) as ws:
        warnings.simplefilter("always")
        out = build_docs(root, tmp_path_factory.mktemp("real") / "site")
    return out, [str(w.message) for w in ws if issubclass(w.category, DocsWarning)]

@pytest.fixture(scope="module")
def real_site(real_build) -> Path: return real_build[0]

@pytest.mark.slow
def test_real_site_processes_every_notebook(real_build):
    "nbdev processed every notebook: no page of the real site is rendered from its source without its API docs."
    assert not [m for m in real_build[1] if "nbdev did not process" in m], real_build[1]

@pytest.fixture(scope="module")
def real_browser(real_site, tmp_path_factory):
    "The project's own docs site, served and loaded in Chromium."
    yield from _serve(real_site, tmp_path_factory)

@pytest.mark.slow
def test_real_xnornet_pp_page(real_browser, root):
    "The XNOR-Net++ page shows typeset math, the recorded figure and verdict; search finds its symbols."
    dom, requests = real_browser
    page = dom("binary/xnornet_pp.html")
    assert page.count("<mjx-container") > 10, "MathJax did not typeset the page"
    rec = json.loads((root / "results" / "xnornet_pp.json").read_text())
    for fig in rec["figures"]:
        assert re.search(rf'<img[^>]*src="[^"]*{fig}\.png"', page) and any(p.endswith(f"{fig}.png") for p in requests)
    text = html.unescape(re.sub(r"<[^>]+>", "", page)).replace("\u2019", "'")   # markdown's typographic apostrophes
    assert rec["claims"][0]["claim"] in text and "Verdict" in page
    hits = re.search(r'<ul[^>]*class="search"[^>]*>(.*?)</ul>', dom("search.html?q=LearnedScale"), re.S)
    assert hits and 'href="binary/xnornet_pp.html' in hits.group(1)
    assert "<h1>P38 · XNOR-Net++" in page
    exp = _section(page, "experiment")
    if not (root / "results" / "xnornet_pp" / "xnornet_pp.ipynb").exists():   # the fallback: code without outputs, said so
        assert "No executed notebook of a recorded run is kept" in exp
    else: assert "those of the recorded" in exp and 'class="cell_output' in exp

@pytest.mark.slow
def test_real_links_stay_in_the_site(real_site):
    "Every `[source]` link and every link to a page's anchor resolves inside the site (no GitHub source links)."
    pages = {p: p.read_text() for p in real_site.rglob("*.html") if "_static" not in p.parts}
    ids = {p: set(re.findall(r'\sid="([^"]+)"', t)) for p, t in pages.items()}
    n_source = 0
    for p, t in pages.items():
        for tag, href in re.findall(r'(<a [^>]*href="([^"]*)")', t):
            href = html.unescape(href)
            if 'class="nbdev-source' in tag: n_source += 1; assert not re.match(r"^[a-z][\w+.-]*:|^//", href), (p, href)
            if re.match(r"^[a-z][\w+.-]*:|^//", href): continue
            path, _, frag = href.partition("#")
            target = (p.parent / path).resolve() if path else p
            assert target.is_file(), (p, href)
            if frag and target.suffix == ".html": assert frag in ids[target], (p, href)
    assert n_source > 50   # the API entries of the real site all have one

@pytest.mark.slow
def test_real_results_page_links_and_sidebar(real_site, real_browser, root):
    "The results table links each recorded paper's page; the sidebar shows paper ids; tables fit the page."
    from bulat_nb.papers import PAPERS
    recorded = [p for p in PAPERS if (root / "results" / f"{p.slug}.json").exists() and (root / p.notebook).exists()]
    results = (real_site / "results.html").read_text()
    for p in recorded:
        assert f'href="{p.family}/{p.slug}.html"' in results, p.slug
    nav = (real_site / "index.html").read_text().split('class="bd-links bd-docs-nav"')[1].split("</nav>")[0]
    for p in recorded: assert re.search(rf'href="{p.family}/{p.slug}.html">{p.id} · ', nav), p.slug
    dom, _ = real_browser
    m = dom.probe("results.html")
    assert m["tables"] and all(t["width"] <= m["article"] + 1 for t in m["tables"]), m

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

@pytest.mark.slow
def test_real_site_math_renders_everywhere(real_site, real_browser):
    "No page of the real site shows raw `$…$` (outside code), a MathJax error, or a TeX macro as text."
    dom, _ = real_browser
    pages = sorted(p.relative_to(real_site).as_posix() for p in real_site.rglob("*.html")
                   if "_static" not in p.parts and p.name not in ("search.html", "genindex.html"))
    assert len(pages) > 20
    problems = {p: bad for p in pages if (bad := math_problems(dom(p)))}
    assert problems == {}, problems
    assert 'id="mjx-eqn:1"' in dom("face/fan.html")   # FAN's eq. (1), display math in a list item, keeps its tag

@pytest.mark.slow
def test_real_recorded_pages_show_their_run(real_browser, root):
    "Each recorded paper (or study) that keeps its executed notebook shows that run's figures and verdict in its experiment."
    from bulat_nb.papers import papers
    dom, requests = real_browser
    kept = [p for p in papers() if (root / "results" / p.slug / f"{p.slug}.ipynb").exists() and (root / p.notebook).exists()]
    assert kept, "no recorded run keeps its executed notebook"
    for p in kept:
        rec = json.loads((root / "results" / f"{p.slug}.json").read_text())
        ran_nb = json.loads((root / "results" / p.slug / f"{p.slug}.ipynb").read_text())
        n_img = sum("image/png" in o.get("data", {}) for c in ran_nb["cells"] for o in c.get("outputs", []))
        ran = _section(dom(f"{p.family}/{p.slug}.html"), "experiment").split('id="recorded-full-profile-result"')[0]
        imgs = re.findall(r'<img[^>]*src="([^"]+)"', ran)
        assert n_img >= 1 and imgs, (p.slug, n_img, imgs)         # the run's figures, as images (identical ones are one file)
        assert all(any(r.endswith(Path(i).name) for r in requests) for i in imgs), p.slug  # which the browser loaded
        text = " ".join(html.unescape(re.sub(r"<[^>]+>", "", ran)).replace("\u2019", "'").split())
        for c in rec["claims"]: assert " ".join(c["claim"].split()) in text, (p.slug, c["claim"])  # the printed verdict
