"""The HTML report is one self-contained, escaped file with the table and the charts."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import robustscope
import robustscope.report
import robustscope.report.html
from robustscope.metrics import compute_metrics, reliability_curve, softmax
from robustscope.report import write_report

EVIL = "<script>alert(1)</script>"


def _case(seed: int, n: int = 300, k: int = 5) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, size=n)
    logits = rng.normal(size=(n, k)) * 2
    logits[np.arange(n), labels] += rng.uniform(0, 4, size=n)
    factors = pd.DataFrame({"pose": rng.choice(["front", "side"], size=n), "size": rng.integers(1, 4, size=n)})
    return logits, labels, factors


@pytest.fixture
def report_inputs() -> tuple[pd.DataFrame, list]:
    frames, curves = [], []
    for i, model in enumerate(["resnet18", EVIL]):
        for j, (dataset, shift) in enumerate([("synth", "none"), ("synth", "gaussian_noise:3")]):
            logits, labels, factors = _case(10 * i + j)
            rows = compute_metrics(
                logits, labels, factors, ["top1", "ece", "nll"], slice_by=["pose", "size"], n_resamples=50
            )
            frames.append(rows.assign(model=model, dataset=dataset, shift=shift))
            curves.append((model, dataset, shift, reliability_curve(softmax(logits), labels, n_bins=15)))
    return pd.concat(frames, ignore_index=True), curves


def test_report_is_self_contained_and_complete(tmp_path: Path, report_inputs: tuple[pd.DataFrame, list]) -> None:
    results, curves = report_inputs
    path = write_report(results, tmp_path / "out" / "report.html", reliability=curves, title="My <report>")
    assert path == tmp_path / "out" / "report.html"
    text = path.read_text(encoding="utf-8")

    assert "resnet18" in text
    assert "<table" in text and "gaussian_noise:3" in text
    assert "[0." in text  # CI brackets in the table
    assert robustscope.__version__ in text
    assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC", text)
    assert "My &lt;report&gt;" in text

    # Charts: per (dataset, shift) and factor, top-1 accuracy with a bar group per model:
    # 2 × 2 = 4, plus one reliability diagram per (model, dataset, shift) = 4.
    assert len(re.findall(r'<div id="rs-fig-\d+"', text)) == 8
    assert text.count("Plotly.newPlot") >= 8
    assert "top1 by pose" in text and "nll by pose" not in text and "ECE 0." in text

    # Self-contained: plotly.js inlined once, no external script/link/img sources.
    assert not re.search(r"<script[^>]*\bsrc\s*=", text, flags=re.IGNORECASE)
    assert not re.search(r"<link[^>]*\bhref\s*=\s*[\"']?(https?:)?//", text, flags=re.IGNORECASE)
    assert not re.search(r"<img[^>]*\bsrc\s*=\s*[\"']?(https?:)?//", text, flags=re.IGNORECASE)
    assert len(re.findall(r"plotly\.js v\d", text)) == 1

    # Escaping: the hostile model name never appears as markup.
    assert EVIL not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text


def test_report_accepts_bare_compute_metrics_output(tmp_path: Path) -> None:
    logits, labels, factors = _case(0)
    rows = compute_metrics(logits, labels, factors, ["top1", "top5"], slice_by=["pose"], n_resamples=20)
    text = write_report(rows, tmp_path / "r.html").read_text(encoding="utf-8")
    assert "top1" in text and "top5" in text
    assert "No reliability curves" in text


def test_report_without_charts_skips_plotly(tmp_path: Path) -> None:
    rows = compute_metrics(np.eye(3), np.arange(3), None, ["top1"], n_resamples=0)
    text = write_report(rows.assign(model="m"), tmp_path / "r.html").read_text(encoding="utf-8")
    assert "plotly.js v" not in text
    assert "<table" in text and "1.000" in text


def test_report_rejects_rows_without_the_schema(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="Result rows"):
        write_report(pd.DataFrame({"model": ["m"], "value": [1.0]}), tmp_path / "r.html")


def test_report_from_store_reads_results_and_predictions(tmp_path: Path) -> None:
    pytest.importorskip("duckdb")
    from robustscope.config import Workspace
    from robustscope.engine.prediction_store import PredictionStore
    from robustscope.engine.result_store import ResultStore
    from robustscope.errors import RobustscopeError
    from robustscope.report.from_store import report_from_store

    ws = Workspace(tmp_path / "ws")
    with pytest.raises(RobustscopeError, match="no results"):
        report_from_store(ws, tmp_path / "r.html")

    predictions = PredictionStore(ws.predictions)
    frames = []
    for i, model in enumerate(["small", "wide"]):
        logits, labels, factors = _case(i)
        key = f"key{i}"
        predictions.write_meta(
            key, {"num_rows": len(labels), "shard_size": len(labels), "num_shards": 1, "class_names": list("abcde")}
        )
        predictions.write_shard(key, 0, [str(j) for j in range(len(labels))], labels, logits, factors)
        rows = compute_metrics(logits, labels, factors, ["top1", "ece"], slice_by=["pose"], n_resamples=20)
        frames.append(
            rows.assign(model=model, model_fingerprint=f"fp{i}", dataset="synth", dataset_fingerprint="d",
                        shift="none", prediction_key=key)
        )
    # A third run whose predictions were deleted: the table still shows it, the diagram is skipped.
    frames.append(frames[0].assign(shift="blur", prediction_key="gone"))
    ResultStore(ws.results_db).write(pd.concat(frames, ignore_index=True))

    with pytest.warns(UserWarning, match="no reliability diagram"):
        path = report_from_store(ws, tmp_path / "all.html", title="store report")
    text = path.read_text(encoding="utf-8")
    assert "small" in text and "wide" in text and "store report" in text
    assert text.count("perfect calibration") == 2  # one reliability diagram per stored prediction set

    only = report_from_store(ws, tmp_path / "wide.html", models=["wide"]).read_text(encoding="utf-8")
    assert "wide" in only and ">small<" not in only
