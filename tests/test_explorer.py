"""The explorer folder without a browser: thumbnails cached by content, data files vs the stores, escaping, serve."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from explorer_fixtures import EVIL, TINY_SHIFTS, build_store
from robustscope.cli import main
from robustscope.engine.prediction_store import PredictionStore
from robustscope.engine.result_store import ResultStore
from robustscope.report.explorer import build_explorer
from robustscope.report.explorer.payload import decode_rows
from robustscope.report.explorer.server import make_server, query_sql

pytest.importorskip("duckdb", reason="the result store needs duckdb")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    store = build_store(tmp_path_factory.mktemp("explorer"))
    out = store["ws"].root.parent / "site" / "explorer"
    first = build_explorer(store["ws"], out, model_objects=store["models"], progress=False)
    return {**store, "out": out, "first": first}


def data_part(out: Path, part: str) -> Any:
    text = (out / "data" / f"{part}.js").read_text(encoding="utf-8")
    prefix = f"RS_DATA.{part} = "
    return json.loads(text[text.index(prefix) + len(prefix) :].rstrip().rstrip(";"))


def test_rebuild_encodes_and_copies_no_thumbnail(built: dict[str, Any]) -> None:
    out = built["out"]
    assert built["first"].thumbnails_encoded > 0 and built["first"].thumbnails_copied > 0
    cached = sorted((built["ws"].root / "thumbnails").rglob("*.jpg"))
    before = {p: p.stat().st_mtime_ns for p in [*cached, *(out / "thumbs").iterdir()]}
    again = build_explorer(built["ws"], out, model_objects=built["models"], progress=False)
    assert (again.thumbnails_encoded, again.thumbnails_copied) == (0, 0)
    assert {p: p.stat().st_mtime_ns for p in before} == before
    assert sorted((built["ws"].root / "thumbnails").rglob("*.jpg")) == cached
    # every thumbnail the data names is in the folder, and nothing else is
    named = {a for g in data_part(out, "galleries") for s in g["samples"] for a in s["t"] if a}
    assert {p.stem for p in (out / "thumbs").iterdir()} == named


def test_shifted_thumbnail_is_the_engines_image_with_the_same_seed(built: dict[str, Any]) -> None:
    import torch

    from robustscope.report.explorer.thumbnails import to_thumbnail
    from robustscope.shifts.registry import load_shift

    group = next(g for g in data_part(built["out"], "galleries") if g["dataset"] == "synth:tiny:test-id")
    column = group["shifts"].index("corruption:gaussian_noise:3")
    sample = group["samples"][0]
    dataset, model = built["tiny"], built["models"][group["model"]]
    row = int(np.flatnonzero(dataset.manifest["sample_id"].astype(str) == sample["id"])[0])
    clean = model.preprocessing.to_tensor(dataset.load_image(row))[None]
    shift = load_shift("corruption:gaussian_noise:3")
    stored = np.asarray(Image.open(built["out"] / "thumbs" / f"{sample['t'][column]}.jpg").convert("RGB"), float)

    def error(seed: int) -> float:
        expected = np.asarray(to_thumbnail(shift(clean, [sample["id"]], seed)[0]).convert("RGB"), float)
        return float(np.abs(stored - expected).mean())

    with torch.inference_mode():
        same, other = error(0), error(1)
    assert same < 12 < other  # JPEG is lossy; another seed's noise is far off (~49)
    # the attack's thumbnail is FGSM against that model and the sample's label, not the clean image
    attacked = np.asarray(Image.open(built["out"] / "thumbs" / f"{sample['t'][group['shifts'].index('fgsm:eps=8/255')]}"
                                     ".jpg").convert("RGB"), float)  # fmt: skip
    fgsm = load_shift("fgsm:eps=8/255")(clean, [sample["id"]], 0, model=model, labels=torch.tensor([sample["label"]]))
    expected_attack = np.asarray(to_thumbnail(fgsm[0]).convert("RGB"), float)
    clean_thumbnail = np.asarray(to_thumbnail(clean[0]).convert("RGB"), float)
    assert np.abs(attacked - expected_attack).mean() < 0.5 * np.abs(attacked - clean_thumbnail).mean()
    # the prediction shown under that shift is the stored one
    runs = ResultStore(built["ws"].results_db).query(model=[group["model"]])
    runs = runs[(runs["shift"] == "corruption:gaussian_noise:3") & (runs.dataset == group["dataset"])]
    key = runs.prediction_key.iloc[0]
    predictions = PredictionStore(built["ws"].predictions).load(key)
    at = list(predictions.sample_ids).index(sample["id"])
    assert sample["p"][column][0] == int(predictions.logits[at].argmax())


def test_galleries_hold_exactly_the_misclassified_samples_most_confident_first(built: dict[str, Any]) -> None:
    rows = ResultStore(built["ws"].results_db).query()
    store = PredictionStore(built["ws"].predictions)
    groups = data_part(built["out"], "galleries")
    assert {(g["model"], g["dataset"]) for g in groups} == set(zip(rows.model, rows.dataset, strict=True))
    for group in groups:
        for gallery in group["galleries"]:
            run = rows[(rows.model == group["model"]) & (rows.dataset == group["dataset"])
                       & (rows["shift"] == gallery["shift"])]  # fmt: skip
            predictions = store.load(run.prediction_key.iloc[0])
            probs = np.exp(predictions.logits - predictions.logits.max(1, keepdims=True))
            probs /= probs.sum(1, keepdims=True)
            wrong = probs.argmax(1) != predictions.labels
            assert gallery["wrong"] == int(wrong.sum()) and gallery["n"] == len(predictions.labels)
            shown_ids = [group["samples"][i]["id"] for i in gallery["items"]]
            expected = [predictions.sample_ids[i] for i in np.argsort(-probs.max(1), kind="stable") if wrong[i]]
            assert shown_ids == [str(s) for s in expected][: len(shown_ids)]
            assert len(shown_ids) == min(24, len(expected))
    assert set(next(g for g in groups if g["dataset"] == "synth:tiny:test-id")["shifts"]) == set(TINY_SHIFTS)


def test_results_data_is_the_store_and_comparisons_are_paired_bootstraps(built: dict[str, Any]) -> None:
    from robustscope.metrics.bootstrap import paired_bootstrap_test

    stored = ResultStore(built["ws"].results_db).query()
    shown = decode_rows(data_part(built["out"], "results"))
    keys = ["model", "dataset", "shift", "metric", "slice_factor", "slice_value"]
    merged = stored.fillna({"slice_factor": "", "slice_value": ""}).merge(shown, on=keys, suffixes=("", "_page"))
    assert len(merged) == len(stored) == len(shown)
    assert np.allclose(merged.value, merged.value_page.astype(float), rtol=1e-5, equal_nan=True)
    assert np.allclose(merged.ci_low, merged.ci_low_page.astype(float), rtol=1e-5, equal_nan=True)

    pairs = data_part(built["out"], "comparisons")
    assert {(p["dataset"], p["shift"]) for p in pairs} == set(zip(stored.dataset, stored["shift"], strict=True))
    pair = next(p for p in pairs if p["shift"] == "none" and p["dataset"] == "synth:tiny:test-id")
    store = PredictionStore(built["ws"].predictions)
    correct = []
    for model in (pair["a"], pair["b"]):
        run = stored[(stored.model == model) & (stored.dataset == pair["dataset"]) & (stored["shift"] == "none")]
        predictions = store.load(run.prediction_key.iloc[0])
        correct.append((predictions.logits.argmax(1) == predictions.labels).astype(float))
    difference, ci, p = paired_bootstrap_test(correct[0], correct[1], n_resamples=1000, seed=0)
    assert pair["difference"] == pytest.approx(difference) and pair["p"] == pytest.approx(p, rel=1e-5)
    assert (pair["ci_low"], pair["ci_high"]) == pytest.approx(ci)


def test_every_name_is_escaped_in_the_data_and_the_pages(built: dict[str, Any]) -> None:
    out = built["out"]
    for path in [*(out / "data").iterdir(), out / "index.html"]:
        assert "<img" not in path.read_text(encoding="utf-8"), path
    galleries = data_part(out, "galleries")
    assert EVIL in {g["model"] for g in galleries}
    colours = next(g for g in galleries if g["dataset"].startswith("folder:"))
    assert EVIL in colours["classes"] and any(EVIL in s["file"] for s in colours["samples"])
    # no data is written into the page's HTML, and the scripts set text only
    scripts = "".join((out / "assets" / n).read_text() for n in ("explorer.js", "gallery.js"))
    assert "innerHTML" not in scripts and "insertAdjacentHTML" not in scripts
    assert len(list(out.rglob("plotly*.js"))) == 1


def test_report_links_the_explorer_next_to_it_and_escapes_names(built: dict[str, Any]) -> None:
    from robustscope.report.from_store import report_from_store
    from robustscope.report.html import _explorer_link

    report = report_from_store(built["ws"], built["out"].parent / "report.html")
    text = report.read_text(encoding="utf-8")
    assert 'href="explorer/index.html"' in text
    assert EVIL not in text and "&lt;img src=x onerror=alert(1)&gt;" in text
    assert _explorer_link(built["out"].parent / "elsewhere" / "report.html") == ""  # no explorer there: no link
    # the per-factor charts keep their legend beside the plot (below it, it covered the x-axis title)
    assert '"legend":{"orientation":"v","x":1.02,"xanchor":"left"' in text and '"y":-0.25' not in text


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_serve_answers_parameterised_read_only_queries_on_loopback(built: dict[str, Any]) -> None:
    from robustscope.errors import OptionError

    with pytest.raises(OptionError, match=r"pass --host 0\.0\.0\.0 explicitly"):
        make_server(built["out"], built["ws"].results_db, host="0.0.0.0")
    sql, params = query_sql({"model": ["x' OR 1=1 --"]}, 5)
    assert "OR 1=1" not in sql and params[0] == "x' OR 1=1 --"
    server = make_server(built["out"], built["ws"].results_db, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        status, body = _get(f"{base}/api/query?model=small-a&metric=top1&slice_factor=&limit=100")
        rows = pd.DataFrame(json.loads(body)["rows"])
        stored = ResultStore(built["ws"].results_db).query(model=["small-a"])
        stored = stored[(stored.metric == "top1") & (stored.slice_factor.fillna("") == "")]
        assert status == 200 and sorted(rows["shift"]) == sorted(stored["shift"])
        assert json.loads(_get(f"{base}/api/query?model=x%27%20OR%201%3D1%20--")[1])["rows"] == []
        assert _get(f"{base}/data/server.js") == (200, b"window.RS_SERVER = true;\n")
        assert _get(f"{base}/index.html")[0] == 200 and _get(f"{base}/../../etc/passwd")[0] == 404
        assert _get(f"{base}/thumbs/")[0] == 404  # no listings
        request = urllib.request.Request(f"{base}/index.html", data=b"x", method="POST")
        with pytest.raises(urllib.error.HTTPError, match="405"):
            urllib.request.urlopen(request, timeout=10)
    finally:
        server.shutdown()
        server.server_close()
    assert len(ResultStore(built["ws"].results_db).query()) == len(decode_rows(data_part(built["out"], "results")))


def test_cli_explore_and_serve_errors(built: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "cli-explorer"
    assert main(["-q", "--workspace", str(built["ws"].root), "explore", "--out", str(out), "--max-samples", "4"]) == 0
    assert (out / "index.html").is_file() and "explorer:" in capsys.readouterr().out
    assert max(len(g["samples"]) for g in data_part(out, "galleries")) <= 4
    assert main(["--workspace", str(tmp_path / "none"), "serve"]) == 2
    assert "no explorer at" in capsys.readouterr().err
