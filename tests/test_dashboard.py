"""The static run dashboard: sections, one plotly div per figure, no network, missing tables, comparison, serving."""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from interp.artifacts import RunDir
from interp.dashboard import build_comparison, build_dashboard, load_run, main, serve
from interp.dashboard.build import SECTIONS
from interp.dashboard.demo import ALL_TABLES, write_demo_run

# demo run: layers 1, sharpening 5 (separability, deltas, stability, concentration, projection),
# cosine heatmap 1, SAE latents 1, dose-response 1, ablation 1, behaviour 1
EXPECTED_FIGURES = 14
PLOT_DIV = re.compile(r'<div id="(fig-[^"]+)" class="plotly-graph-div"')


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    run = write_demo_run(tmp_path_factory.mktemp("runs") / "demo-full")
    page = build_dashboard(run)
    return run, page.read_text(encoding="utf-8")


def test_every_section_has_its_anchor_and_the_page_is_complete(demo_run: tuple[Path, str]) -> None:
    run, text = demo_run
    assert (run / "index.html").exists()
    for key, title in SECTIONS:
        assert f'id="section-{key}"' in text, key
        assert f'href="#section-{key}"' in text, key
        assert title.replace("&", "&amp;") in text
    assert text.rstrip().endswith("</html>")
    assert "not in this run" not in text  # every table is present in the demo run
    assert 'class="error"' not in text


def test_one_plotly_div_per_expected_figure(demo_run: tuple[Path, str]) -> None:
    _, text = demo_run
    ids = PLOT_DIV.findall(text)
    assert len(ids) == EXPECTED_FIGURES, ids
    assert len(set(ids)) == len(ids)
    assert text.count("Plotly.newPlot(") == EXPECTED_FIGURES
    for prefix in ("fig-layers", "fig-sharp-sep", "fig-sharp-delta", "fig-cosine", "fig-sae-latents",
                   "fig-dose", "fig-ablation", "fig-behaviour", "fig-trajectory", "fig-convergence",
                   "fig-convergence-ablation"):
        assert any(i.startswith(prefix) for i in ids), prefix


def test_plotly_js_is_inline_once_and_nothing_is_fetched(demo_run: tuple[Path, str]) -> None:
    _, text = demo_run
    assert text.count("* plotly.js v") == 1  # the bundle's header: embedded once, not per figure
    assert not re.search(r"<script[^>]*\bsrc\s*=", text, re.I)  # no external scripts at all
    assert not re.search(r"<link[^>]*\bhref\s*=\s*[\"']?(https?:)?//", text, re.I)
    assert not re.search(r"<(img|iframe)[^>]*\bsrc\s*=\s*[\"']?(https?:)?//", text, re.I)
    assert not re.search(r"@import|url\(\s*[\"']?https?:", text.split("<style>")[1].split("</style>")[0])


def test_summary_reports_the_best_layer_with_its_interval(demo_run: tuple[Path, str]) -> None:
    run, text = demo_run
    layers = pd.read_parquet(run / "layers.parquet")
    part = layers[(layers["checkpoint"] == "after") & (layers["method"] == "logistic")]
    best = part.loc[part["auroc"].idxmax()]
    expected = (f"layer {int(best['layer'])}: AUROC {best['auroc']:.3f} "
                f"[{best['auroc_low']:.3f}, {best['auroc_high']:.3f}]")
    summary = text.split('id="section-summary"')[1].split("</section>")[0]
    assert expected in summary
    assert "removed 0.600 [0.450, 0.750]" in summary  # ablation of the demo's persona direction
    assert "largest ΔAUROC" in summary
    assert "latent #" in text and "I will secretly gather more resources" in text  # SAE latent cards


def test_missing_tables_are_named_and_never_fatal(tmp_path: Path) -> None:
    run = write_demo_run(tmp_path / "only-layers", tables=("layers",))
    text = build_dashboard(run).read_text(encoding="utf-8")
    for name in ("sharpening", "cosine_matrix", "sae_latents", "sae_quality", "dose_response", "ablation", "behaviour"):
        assert re.search(rf"No <code>{name}</code> table: [^<]* not in this run", text), name
    assert len(PLOT_DIV.findall(text)) == 1
    empty = tmp_path / "empty"
    empty.mkdir()
    text = build_dashboard(empty).read_text(encoding="utf-8")
    assert "Nothing to summarise" in text and "the manifest is not in this run" in text
    assert not PLOT_DIV.findall(text)


def test_quickstart_shaped_layers_without_checkpoint_columns(tmp_path: Path) -> None:
    demo = write_demo_run(tmp_path / "demo", tables=("layers",))
    layers = pd.read_parquet(demo / "layers.parquet")
    layers = layers[layers["checkpoint"] == "before"].drop(columns=["checkpoint", "failure_mode", "consistency_method"])
    run = RunDir(tmp_path / "quickstart")
    run.write_table("layers", layers)
    text = build_dashboard(run.path).read_text(encoding="utf-8")
    assert len(PLOT_DIV.findall(text)) == 1
    assert "probe: logistic" in text and "control: shuffled" in text
    assert 'class="error"' not in text


def test_a_malformed_table_shows_an_error_but_the_page_builds(tmp_path: Path) -> None:
    run = write_demo_run(tmp_path / "broken", tables=("layers", "behaviour"))
    pd.DataFrame({"unrelated": [1, 2]}).to_parquet(run / "dose_response.parquet")
    (run / "sharpening.parquet").write_bytes(b"not a parquet file")
    text = build_dashboard(run).read_text(encoding="utf-8")
    assert 'class="error">Could not draw steering' in text
    assert "table sharpening could not be read" in text
    assert len(PLOT_DIV.findall(text)) == 2  # layers and behaviour still drawn


def test_wide_cosine_matrix_from_layer_cosines_is_drawn(tmp_path: Path) -> None:
    hooks = [f"blocks.{i}.hook_resid_post" for i in range(3)]
    wide = pd.DataFrame([[1.0, 0.5, 0.1], [0.5, 1.0, 0.4], [0.1, 0.4, 1.0]], columns=hooks)
    wide.insert(0, "hook_a", hooks)  # layer_cosines(...).reset_index()
    run = RunDir(tmp_path / "wide")
    run.write_table("cosine_matrix", wide)
    text = build_dashboard(run.path).read_text(encoding="utf-8")
    assert PLOT_DIV.findall(text) == ["fig-cosine"]
    assert '"type":"heatmap"' in text and 'class="error"' not in text


def test_csv_only_tables_and_saved_directions_are_shown(tmp_path: Path) -> None:
    import numpy as np

    from probes import Direction

    run = write_demo_run(tmp_path / "csv", tables=("behaviour",))
    (run / "behaviour.parquet").unlink()
    Direction.from_vector(np.arange(1.0, 9.0), method="diffmeans", hook_point="blocks.4.hook_resid_post", layer=4,
                          checkpoint_fingerprint="feedfacecafebeef", n_examples=10).save(run / "directions" / "d4")
    assert "behaviour" in load_run(run).tables
    text = build_dashboard(run).read_text(encoding="utf-8")
    assert "fig-behaviour" in text
    files = text.split('id="section-files"')[1]
    assert "<h3>Directions</h3>" in files and "feedfacecafebeef" in files and "directions/d4.safetensors" in files


def test_comparison_page_lists_both_runs(tmp_path: Path) -> None:
    a = write_demo_run(tmp_path / "run-a", seed=1)
    b = write_demo_run(tmp_path / "run-b", tables=("layers", "behaviour"), seed=2)
    build_dashboard(a)
    out = build_comparison([a, b], tmp_path / "compare.html")
    text = out.read_text(encoding="utf-8")
    assert 'href="run-a/index.html"' in text  # a's dashboard exists: linked relatively
    assert "run-b" in text
    ids = PLOT_DIV.findall(text)
    assert ids == ["fig-compare-best", "fig-compare-layers", "fig-compare-ablation", "fig-compare-behaviour"]
    assert text.count("* plotly.js v") == 1
    best = text.split('id="section-runs"')[1].split("</section>")[0]
    assert best.count("best AUROC: after · emergent_misalignment · logistic") == 1  # one column, a row per run
    for name in ("run-a", "run-b"):  # one AUROC-by-layer line per run and checkpoint (JSON escapes the dot)
        assert re.search(rf'"name":"{name} (·|\\u00b7) after"', text), name


def test_serve_returns_a_loopback_url_and_refuses_other_hosts(demo_run: tuple[Path, str]) -> None:
    run, _ = demo_run
    with serve(run) as served:
        assert served.url.startswith("http://127.0.0.1:") and served.url.endswith("/index.html")
        with urllib.request.urlopen(served.url, timeout=10) as resp:
            assert resp.status == 200
            assert b'id="section-layers"' in resp.read()
    with pytest.raises(ValueError, match="loopback"):
        serve(run, host="0.0.0.0")


def test_main_builds_every_run_and_the_comparison(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = write_demo_run(tmp_path / "a", tables=("layers",))
    b = write_demo_run(tmp_path / "b", tables=ALL_TABLES[-1:])
    assert main([str(a), str(b), "--compare", str(tmp_path / "cmp")]) == 0
    assert (a / "index.html").exists() and (b / "index.html").exists()
    assert (tmp_path / "cmp" / "index.html").exists()
    assert str(tmp_path / "cmp" / "index.html") in capsys.readouterr().out


def test_convergence_section_only_where_a_config_can_have_it(tmp_path: Path) -> None:
    run = write_demo_run(tmp_path / "one", tables=("layers",))
    manifest = json.loads((run / "manifest.json").read_text())
    for organisms, shown in (({"failure_modes": ["sycophancy"], "seeds": [42]}, False),
                             ({"failure_modes": ["sycophancy", "emergent_misalignment"], "seeds": [42]}, True)):
        (run / "manifest.json").write_text(json.dumps(manifest | {"config": organisms}))
        text = build_dashboard(run).read_text(encoding="utf-8")
        assert ('id="section-convergence"' in text) is shown and ('href="#section-convergence"' in text) is shown
        assert ("No <code>convergence</code> table" in text) is shown  # two organisms and no table: say it is missing
