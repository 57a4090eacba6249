"""The run dashboard, drawn from a real tiny-model run (``tiny_dashboard_run``): the section registry, the answer
at the top (its numbers are the tables'), each comparison once, random controls as ranges, summary rows that name
their probe, seed and organism, a self-contained page, missing or broken tables, the comparison page, serving, CLI."""

from __future__ import annotations

import html
import json
import re
import shutil
import urllib.request
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from tiny_run import PIPELINE_TABLES

from interp.artifacts import RunDir
from interp.dashboard import (
    KNOWN_TABLES,
    Section,
    build_comparison,
    build_dashboard,
    known_tables,
    load_run,
    register,
    sections,
    sections_drawing,
    serve,
)
from interp.dashboard.registry import get_section, unregister

PLOT_DIV = re.compile(r'<div id="(fig-[^"]+)" class="plotly-graph-div"')
NEWPLOT = re.compile(r'Plotly\.newPlot\(\s*"(fig-[^"]+)",\s*')
ORGANISMS = ("sycophancy", "emergent_misalignment")
SEED = 3
#: figures per section of the fixture run (2 organisms, methods bct + greedy_self_training, SAE, steering: auto)
EXPECTED_FIGURES = {"answer": 2, "summary": 0, "layers": 2, "sharpening": 10, "expression": 1, "sae": 10, "steering": 6, "mediation": 1, "prediction": 1, "mechanism": 1,
                    "behaviour": 1, "trajectory": 2, "convergence": 2, "manifest": 0, "files": 0}


def section_of(text: str, key: str) -> str:
    return text.split(f'<section id="section-{key}">', 1)[1].split("</section>", 1)[0]


def plots(text: str) -> dict[str, list[dict[str, Any]]]:
    """Every figure's traces, read back from the page's ``Plotly.newPlot`` calls."""
    dec = json.JSONDecoder()
    return {m.group(1): dec.raw_decode(text, m.end())[0] for m in NEWPLOT.finditer(text)}


def table_rows(fragment: str) -> list[list[str]]:
    """The cells of every body row of the HTML tables in ``fragment``."""
    body = "".join(re.findall(r"<tbody>(.*?)</tbody>", fragment, re.S))
    return [[html.unescape(re.sub(r"<[^>]+>", "", c)) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
            for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)]


def copy_run(run: Path, tmp_path: Path, name: str = "run") -> Path:
    """A copy whose tables the tests may edit by hand: its manifest forgets their checksums (a table
    changed after its run is otherwise refused: tests/test_bad_inputs.py)."""
    dst = tmp_path / name
    shutil.copytree(run, dst, ignore=shutil.ignore_patterns("index.html"))
    manifest = json.loads((dst / "manifest.json").read_text())
    manifest.pop("table_sha256", None)
    (dst / "manifest.json").write_text(json.dumps(manifest))
    return dst


@pytest.fixture(scope="module")
def page(tiny_dashboard_run: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    run = copy_run(tiny_dashboard_run, tmp_path_factory.mktemp("page"))
    return run, build_dashboard(run).read_text(encoding="utf-8")


# ---- the registry -------------------------------------------------------------------------------
def test_registry_orders_the_page_and_knows_every_table_the_pipeline_writes() -> None:
    keys = [s.key for s in sections()]
    assert keys == list(EXPECTED_FIGURES)  # page order: the answer first, the details below it
    assert len(set(keys)) == len(keys)
    assert known_tables() == KNOWN_TABLES == frozenset(t for s in sections() for t in s.tables)
    for table in PIPELINE_TABLES:
        assert sections_drawing(table), f"no dashboard section draws the pipeline's table {table}"
    assert sections_drawing("sae_latent_sharpening") == ("sae",)
    from interp.pipeline import STAGES

    for stage in STAGES.values():  # each stage names the section that draws its tables
        drawn = [t.name for t in stage.tables if not t.internal]
        if drawn:
            assert stage.dashboard is not None and set(drawn) <= set(get_section(stage.dashboard).tables), stage.name
    with pytest.raises(ValueError, match="registered twice"):
        register(Section(key="layers", title="x", tables=(), render=lambda run, page: "", order=1))
    root = Path(__file__).resolve().parents[1] / "interp" / "dashboard"
    for module in root.rglob("*.py"):
        assert len(module.read_text(encoding="utf-8").splitlines()) <= 400, module


def test_a_new_section_is_one_registration(tiny_dashboard_run: Path, tmp_path: Path) -> None:
    """The recipe of CONTRIBUTING.md: a Section registered in one module appears on the page, in its place."""

    def render(run: Any, page: Any) -> str:
        t = run.get("behaviour")
        return f"<p>toy: {len(t)} behaviour rows</p>"

    toy = register(Section(key="toy", title="Toy section", tables=("behaviour", "toy_table"), render=render, order=35,
                           what="the toy"))
    try:
        assert "toy_table" in known_tables()
        text = build_dashboard(copy_run(tiny_dashboard_run, tmp_path)).read_text(encoding="utf-8")
        rows = len(pd.read_parquet(tiny_dashboard_run / "behaviour.parquet"))
        assert f"<p>toy: {rows} behaviour rows</p>" in section_of(text, "toy")
        order = [m.group(1) for m in re.finditer(r'<section id="section-([^"]+)">', text)]
        assert order.index("layers") < order.index("toy") < order.index("sharpening")
    finally:
        assert unregister("toy") is toy
    assert "toy" not in [s.key for s in sections()]


# ---- the run page -------------------------------------------------------------------------------
def test_every_section_is_drawn_from_the_run(page: tuple[Path, str]) -> None:
    run, text = page
    assert text.rstrip().endswith("</html>")
    for s in sections():
        assert f'id="section-{s.key}"' in text and f'href="#section-{s.key}"' in text, s.key
        body = section_of(text, s.key)
        assert len(re.sub(r"<[^>]+>", "", body).strip()) > 40, s.key
        assert len(PLOT_DIV.findall(body)) == EXPECTED_FIGURES[s.key], (s.key, PLOT_DIV.findall(body))
        for table in s.tables:  # every table a section draws is in this run and shown in full below its figures
            if table == "judge_agreement":  # needs two generating judges: tests/test_judges_http.py draws it
                continue
            assert (run / f"{table}.parquet").is_file(), table
            if s.key != "answer":
                assert f"table <code>{table}</code>" in body, (s.key, table)
    assert "not in this run" not in text
    assert 'class="error"' not in text
    ids = PLOT_DIV.findall(text)
    assert len(ids) == len(set(ids)) == sum(EXPECTED_FIGURES.values()) == text.count("Plotly.newPlot(")


def test_the_page_is_self_contained(page: tuple[Path, str]) -> None:
    _, text = page
    assert text.count("* plotly.js v") == 1  # the bundle's header: embedded once, not per figure
    assert not re.search(r"<script[^>]*\bsrc\s*=", text, re.I)  # no external scripts at all
    assert not re.search(r"<link[^>]*\bhref\s*=\s*[\"']?(https?:)?//", text, re.I)
    assert not re.search(r"<(img|iframe)[^>]*\bsrc\s*=\s*[\"']?(https?:)?//", text, re.I)
    assert not re.search(r"@import|url\(\s*[\"']?https?:", text.split("<style>")[1].split("</style>")[0])


def test_the_header_names_every_checkpoint(page: tuple[Path, str]) -> None:
    run, text = page
    header = text.split("<header>", 1)[1].split("</header>", 1)[0]
    assert "?" not in header
    checkpoints = json.loads((run / "manifest.json").read_text())["checkpoints"]
    for name in ("base", "sycophancy/s3/before", "sycophancy/s3/after:bct",
                 "emergent_misalignment/s3/after:greedy_self_training"):
        assert f"{name} " in header and checkpoints[name]["fingerprint"][:8] in header, name
    manifest = section_of(text, "manifest")
    for name, entry in checkpoints.items():  # the Manifest section has every one, with its full fingerprint
        assert name in manifest and entry["fingerprint"] in manifest


def _answer_traces(text: str, fm: str) -> dict[tuple[str, str], dict[str, Any]]:
    """(panel axis, row label) -> trace of the answer figure of one organism."""
    traces = plots(text)[f"fig-answer-{fm}"]
    return {(t.get("xaxis", "x"), t["y"][0]): t for t in traces if t.get("mode") == "markers" and t["name"] != "(empty)"}


def test_the_answer_figure_shows_the_tables_numbers(page: tuple[Path, str]) -> None:
    run, text = page
    beh = pd.read_parquet(run / "behaviour.parquet")
    sharp = pd.read_parquet(run / "sharpening.parquet")
    ab = pd.read_parquet(run / "ablation.parquet")
    dose = pd.read_parquet(run / "dose_response.parquet")
    assert text.index('id="section-answer"') < text.index('id="section-layers"')
    for fm in ORGANISMS:
        got = _answer_traces(text, fm)
        hook = dose[dose["failure_mode"] == fm]["hook"].unique()
        assert len(hook) == 1  # the layer of the steered direction is where the sharpening is read
        rows = {"organism vs base (before − base)": ("before - base", "before-base", "bct", "before"),
                "bct": ("after:bct - before", "after-before", "bct", "after:bct"),
                "greedy_self_training (control)": ("after:greedy_self_training - before", "after-before",
                                                   "greedy_self_training", "after:greedy_self_training")}
        for label, (b_ck, s_ck, s_method, a_ck) in rows.items():
            b = beh[(beh["failure_mode"] == fm) & (beh["seed"] == SEED) & (beh["checkpoint"] == b_ck)].iloc[0]
            s = sharp[(sharp["failure_mode"] == fm) & (sharp["checkpoint"] == s_ck) & (sharp["method"] == s_method)
                      & (sharp["probe"] == "diffmeans") & (sharp["metric"] == "delta_auroc")
                      & (sharp["hook"] == hook[0])].iloc[0]
            a = ab[(ab["failure_mode"] == fm) & (ab["checkpoint"] == a_ck)]
            persona = a[a["direction"] == "ablated:persona"].iloc[0]
            for axis, value, low, high in (("x", b["rate"], b["ci_low"], b["ci_high"]),
                                           ("x2", s["value"], s["ci_low"], s["ci_high"]),
                                           ("x3", persona["removed"], persona["removed_low"], persona["removed_high"])):
                trace = got[(axis, label)]
                assert trace["x"][0] == pytest.approx(value, abs=1e-12), (fm, label, axis)
                assert trace["customdata"][0] == pytest.approx([low, high], abs=1e-12), (fm, label, axis)
            filled = got[("x2", label)]["marker"]["color"] != "white"
            assert filled == bool(s["p_adj"] < 0.05)  # open marker: not significant after BH
        assert got[("x", "greedy_self_training (control)")]["marker"]["color"] == "#8c8c8c"  # controls grey
        answer = section_of(text, "answer")
        layer = int(hook[0].split(".")[1])
        assert f"layer {layer} (<code>{hook[0]}</code>)" in answer


def test_several_seeds_share_their_failure_modes_figure(tiny_dashboard_run: Path, tmp_path: Path) -> None:
    run = copy_run(tiny_dashboard_run, tmp_path)
    for name in ("behaviour", "sharpening", "ablation", "dose_response", "direction_selection"):
        t = pd.read_parquet(run / f"{name}.parquet")
        other = t[t["seed"] == SEED].assign(seed=SEED + 1)  # a second organism per failure mode (same numbers)
        if name == "ablation":
            other = other.assign(removed=other["removed"] + 0.25)
        pd.concat([t, other], ignore_index=True).to_parquet(run / f"{name}.parquet")
        (run / f"{name}.csv").unlink()
    text = build_dashboard(run).read_text(encoding="utf-8")
    assert len(PLOT_DIV.findall(section_of(text, "answer"))) == 2  # still one figure per failure mode
    got = _answer_traces(text, "sycophancy")
    ab = pd.read_parquet(run / "ablation.parquet")
    for seed in (SEED, SEED + 1):
        want = ab[(ab["failure_mode"] == "sycophancy") & (ab["seed"] == seed) & (ab["checkpoint"] == "after:bct")
                  & (ab["direction"] == "ablated:persona")]["removed"].iloc[0]
        assert got[("x3", f"bct · seed {seed}")]["x"][0] == pytest.approx(want)


def test_random_directions_are_a_range_never_an_average(page: tuple[Path, str], tmp_path: Path) -> None:
    run, text = page
    ab = pd.read_parquet(run / "ablation.parquet")
    for fm in ORGANISMS:
        traces = plots(text)[f"fig-answer-{fm}"]
        band = next(t for t in traces if t["name"].startswith("random directions"))
        segments = [band["x"][i:i + 2] for i in range(0, len(band["x"]), 3)]
        labels = [band["y"][i] for i in range(0, len(band["y"]), 3)]
        for label, seg in zip(labels, segments, strict=True):
            ck = "before" if label.startswith("organism") else f"after:{label.split(' ')[0]}"
            rnd = ab[(ab["failure_mode"] == fm) & (ab["checkpoint"] == ck)
                     & ab["direction"].str.startswith("ablated:random")]["removed"]
            assert len(rnd) == 2 and seg == pytest.approx([rnd.min(), rnd.max()])
    summary = table_rows(section_of(text, "summary"))
    ablation = [r for r in summary if r[0] == "ablation"]
    assert len(ablation) == 2 * 3  # per organism: before, after:bct, after:greedy_self_training
    for r in ablation:
        rnd = ab[(ab["failure_mode"] == r[1]) & (ab["checkpoint"] == r[3])
                 & ab["direction"].str.startswith("ablated:random")]["removed"]
        assert f"random directions remove {rnd.min():.3f}..{rnd.max():.3f} over 2 random directions" in r[7]
    cmp = build_comparison([run], tmp_path / "cmp.html").read_text(encoding="utf-8")
    bars = next(t for t in plots(cmp)["fig-compare-ablation"] if t["name"].startswith("random directions"))
    assert "base" in bars  # a floating bar from min to max, not a mean with an averaged interval


def test_each_comparison_is_shown_once(page: tuple[Path, str]) -> None:
    run, text = page
    sharp = pd.read_parquet(run / "sharpening.parquet")
    assert {"before-base", "base-before"} <= set(sharp["checkpoint"])  # the table holds the mirrored pair
    names = {t.get("name", "") for fig in plots(text).values() for t in fig}
    assert "before-base" in names and "after:bct-before" in names
    assert not [n for n in names if "base-before" in n]
    summary = table_rows(section_of(text, "summary"))
    sharpening = [r for r in summary if r[0] == "sharpening"]
    assert sorted((r[1], r[3]) for r in sharpening) == sorted(
        (fm, ck) for fm in ORGANISMS for ck in ("before-base", "after:bct-before", "after:greedy_self_training-before",
                                                "after:bct@ablate:persona-before", "after:bct@ablate:random0-before"))
    behaviour = [r[3] for r in summary if r[0] == "behaviour" and r[1] == "sycophancy" and r[2] == str(SEED)]
    assert behaviour.count("before - base") == 1 and "base - before" not in behaviour


def test_summary_rows_name_their_probe_seed_and_organism(page: tuple[Path, str]) -> None:
    _, text = page
    rows = table_rows(section_of(text, "summary"))
    assert len(rows) > 30
    for area, organism, seed, checkpoint, probe, *_ in rows:
        assert organism not in ("", "–"), (area, organism)
        assert seed == str(SEED) or ("base" in (organism, checkpoint) and seed == "–"), (area, organism, seed)
        assert checkpoint not in ("", "–"), (area, checkpoint)
        assert probe not in ("", "–", "?"), (area, probe)
    probes = {(r[0], r[4]) for r in rows}
    assert ("sharpening", "diffmeans") in probes and ("ablation", "diffmeans") in probes
    assert ("behaviour", "judge: logprob") in probes and ("SAE", "SAE @ blocks.1.hook_resid_post") in probes
    sae = [r for r in rows if r[0] == "SAE" and r[5].startswith("explained variance")]
    assert sorted(r[1] for r in sae) == sorted(ORGANISMS)  # one per organism, not the last one only


# ---- missing and broken tables -------------------------------------------------------------------
def test_missing_and_broken_tables_are_named_and_never_fatal(tiny_dashboard_run: Path, tmp_path: Path) -> None:
    run = copy_run(tiny_dashboard_run, tmp_path)
    for name in ("sharpening", "sae_quality", "sae_latents", "sae_examples", "sae_latents_needed", "sae_diff",
                 "sae_latent_sharpening"):
        for suffix in (".parquet", ".csv"):
            (run / f"{name}{suffix}").unlink()
    for suffix in (".parquet", ".csv"):
        (run / f"dose_response{suffix}").write_bytes(b"not a table")
    pd.DataFrame({"unrelated": [1, 2]}).to_parquet(run / "ablation.parquet")
    text = build_dashboard(run).read_text(encoding="utf-8")
    assert re.search(r"No <code>sharpening</code> table: [^<]* not in this run", section_of(text, "sharpening"))
    assert "None of the tables <code>sae_quality</code>" in section_of(text, "sae")
    assert "table dose_response could not be read" in section_of(text, "files")
    assert 'class="error">Could not draw steering' in section_of(text, "steering")
    for key in ("answer", "layers", "behaviour", "trajectory", "convergence"):  # the rest is still drawn
        assert PLOT_DIV.findall(section_of(text, key)), key
    answer = _answer_traces(text, "sycophancy")
    assert {axis for axis, _ in answer} == {"x"}  # behaviour only: no sharpening, no usable ablation table
    for table in ("sharpening", "ablation"):  # the empty panels say why inside the figure
        assert f"(no {table} table rows)" in section_of(text, "answer")
    figure = plots(text)["fig-answer-sycophancy"]
    assert sum(t["name"] == "(empty)" for t in figure) == 2


def test_an_empty_run_directory_builds(tmp_path: Path) -> None:
    text = build_dashboard(tmp_path).read_text(encoding="utf-8")
    assert "Nothing to summarise" in text and "the manifest is not in this run" in text
    assert "None of the tables <code>behaviour</code>, <code>sharpening</code>" in section_of(text, "answer")
    assert not PLOT_DIV.findall(text)


def test_quickstart_shaped_layers_without_checkpoint_columns(tiny_dashboard_run: Path, tmp_path: Path) -> None:
    layers = pd.read_parquet(tiny_dashboard_run / "layers.parquet")
    layers = layers[(layers["checkpoint"] == "before") & (layers["failure_mode"] == "sycophancy")]
    run = RunDir(tmp_path / "quickstart")
    run.write_table("layers", layers.drop(columns=["checkpoint", "failure_mode", "consistency_method", "seed"]))
    text = build_dashboard(run.path).read_text(encoding="utf-8")
    assert PLOT_DIV.findall(text) == ["fig-layers"]
    assert "probe: diffmeans" in text and "control: shuffled (range over 1 checkpoint)" in text
    assert 'class="error"' not in text


def test_wide_cosine_matrix_from_layer_cosines_is_drawn(tmp_path: Path) -> None:
    hooks = [f"blocks.{i}.hook_resid_post" for i in range(3)]
    wide = pd.DataFrame([[1.0, 0.5, 0.1], [0.5, 1.0, 0.4], [0.1, 0.4, 1.0]], columns=hooks)
    wide.insert(0, "hook_a", hooks)  # layer_cosines(...).reset_index()
    run = RunDir(tmp_path / "wide")
    run.write_table("cosine_matrix", wide)
    text = build_dashboard(run.path).read_text(encoding="utf-8")
    assert PLOT_DIV.findall(text) == ["fig-cosine"]
    assert '"type":"heatmap"' in text and 'class="error"' not in text


def test_csv_only_tables_and_saved_directions_are_shown(tiny_dashboard_run: Path, tmp_path: Path) -> None:
    run = copy_run(tiny_dashboard_run, tmp_path)
    (run / "behaviour.parquet").unlink()
    assert "behaviour" in load_run(run).tables
    text = build_dashboard(run).read_text(encoding="utf-8")
    assert "fig-behaviour" in text
    files = section_of(text, "files")
    assert "<h3>Directions</h3>" in files
    for direction in sorted(run.glob("stages/steering/*/s3/*/directions/*.json")):  # the steered directions
        meta = json.loads(direction.read_text())
        assert meta["checkpoint_fingerprint"] in files and direction.stem in files


# ---- across runs, serving, the command line ------------------------------------------------------
def test_comparison_page_lists_both_runs(page: tuple[Path, str], tmp_path: Path) -> None:
    a, _ = page
    b = tmp_path / "run-b"
    b.mkdir()
    for name in ("layers", "behaviour", "manifest"):
        for f in a.glob(f"{name}.*"):
            shutil.copy(f, b / f.name)
    out = build_comparison([a, b], tmp_path / "compare.html")
    text = out.read_text(encoding="utf-8")
    assert 'href="' in text and "index.html" in text  # a's page exists: linked
    assert "run-b" in text
    assert PLOT_DIV.findall(text) == ["fig-compare-best", "fig-compare-layers", "fig-compare-ablation",
                                      "fig-compare-behaviour"]
    assert text.count("* plotly.js v") == 1
    runs = section_of(text, "runs")
    assert runs.count("best AUROC: after:bct · sycophancy · 3 · diffmeans") == 1  # one column, a row per run
    base = json.loads((a / "manifest.json").read_text())["checkpoints"]["base"]
    assert runs.count(f"base {base['label']} ({base['fingerprint'][:8]})") == 2  # b has a's manifest
    assert "(?)" not in runs


def test_serve_returns_a_loopback_url_and_refuses_other_hosts(page: tuple[Path, str]) -> None:
    run, _ = page
    with serve(run) as served:
        assert served.url.startswith("http://127.0.0.1:") and served.url.endswith("/index.html")
        with urllib.request.urlopen(served.url, timeout=10) as resp:
            assert resp.status == 200
            assert b'id="section-answer"' in resp.read()
    with pytest.raises(ValueError, match="loopback"):
        serve(run, host="0.0.0.0")


def _status(url: str, host: str | None = None) -> int:
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.putrequest("GET", parts.path or "/", skip_host=host is not None)
    if host is not None:
        conn.putheader("Host", host)
    conn.endheaders()
    status = conn.getresponse().status
    conn.close()
    return status


def test_serve_returns_nothing_outside_the_run_directories(tiny_dashboard_run: Path, tmp_path: Path) -> None:
    """Only the run directories it was given: no file elsewhere under their parent, no ``..``, no symlink
    out of them, no directory listing, no foreign Host header (DNS rebinding)."""
    runs = tmp_path / "runs"
    one, two = runs / "one", runs / "two"
    shutil.copytree(tiny_dashboard_run, one)
    (runs / "secret.txt").write_text("not a run")  # beside the runs, under the served root
    (one / "link").symlink_to("/etc/hostname")
    (one / "link_dir").symlink_to(tmp_path)
    two.mkdir()
    (two / "index.html").write_text("<html>two</html>")
    build_dashboard(one)
    with serve(runs, allow=[one, two]) as served:
        base = served.url.rsplit("/", 1)[0]
        assert _status(f"{base}/one/index.html") == 200 and _status(f"{base}/two/") == 200
        for path in ("/secret.txt", "/etc/hostname", "/one/../secret.txt", "/one/%2e%2e/secret.txt",
                     "/one/link", "/one/link_dir/runs/secret.txt", "/", "/one/stages/", "//etc/hostname"):
            assert _status(base + path) == 404, path
        assert _status(f"{base}/one/index.html", host="attacker.example:80") == 403
        assert _status(f"{base}/one/index.html", host=f"localhost:{served.server.server_address[1]}") == 200
    with pytest.raises(ValueError, match="not under the served directory"):
        serve(one, allow=[two])


def test_the_cli_builds_every_run_and_the_comparison(tiny_dashboard_run: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from interp.cli import main

    a = copy_run(tiny_dashboard_run, tmp_path, "a")
    b = tmp_path / "b"
    b.mkdir()
    shutil.copy(a / "layers.parquet", b / "layers.parquet")
    assert main(["dashboard", str(a), str(b), "--compare", str(tmp_path / "cmp")]) == 0
    assert (a / "index.html").exists() and (b / "index.html").exists()
    out = capsys.readouterr().out
    assert str(tmp_path / "cmp" / "index.html") in out and str(a / "index.html") in out


def test_convergence_section_only_where_a_config_can_have_it(tiny_dashboard_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "one"
    run.mkdir()
    shutil.copy(tiny_dashboard_run / "layers.parquet", run / "layers.parquet")
    manifest = json.loads((tiny_dashboard_run / "manifest.json").read_text())
    assert len(manifest.pop("organisms")) == 2  # what interp run records (built or given); without it, the config
    for organisms, shown in (({"failure_modes": ["sycophancy"], "seeds": [42]}, False),
                             ({"failure_modes": ["sycophancy", "emergent_misalignment"], "seeds": [42]}, True)):
        (run / "manifest.json").write_text(json.dumps(manifest | {"config": manifest["config"] | organisms}))
        text = build_dashboard(run).read_text(encoding="utf-8")
        assert ('id="section-convergence"' in text) is shown and ('href="#section-convergence"' in text) is shown
        assert ("None of the tables <code>convergence</code>" in text) is shown  # two organisms, no table: say so


def test_sections_of_stages_the_config_leaves_off_are_not_on_the_page(tiny_dashboard_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "plain"
    run.mkdir()
    shutil.copy(tiny_dashboard_run / "layers.parquet", run / "layers.parquet")
    manifest = json.loads((tiny_dashboard_run / "manifest.json").read_text())
    off = {"mediation": {"conditions": []}, "prediction": {"enabled": False}, "mechanism": {"enabled": False}}
    on = {"mediation": {"conditions": ["ablate:persona"]}, "prediction": {"enabled": True},
          "mechanism": {"enabled": True}}
    for stages, shown in ((off, False), (on, True)):
        (run / "manifest.json").write_text(json.dumps(manifest | {"config": manifest["config"] | stages}))
        text = build_dashboard(run).read_text(encoding="utf-8")
        for key in ("mediation", "prediction", "mechanism"):
            assert (f'id="section-{key}"' in text) is shown and (f'href="#section-{key}"' in text) is shown, key
        assert 'id="section-layers"' in text
    # a run that holds the tables shows them whatever its config says
    for name in ("mediation", "mechanism"):
        shutil.copy(tiny_dashboard_run / f"{name}.parquet", run / f"{name}.parquet")
    (run / "manifest.json").write_text(json.dumps(manifest | {"config": manifest["config"] | off}))
    text = build_dashboard(run).read_text(encoding="utf-8")
    assert 'id="section-mediation"' in text and 'id="section-mechanism"' in text
    assert 'id="section-prediction"' not in text
