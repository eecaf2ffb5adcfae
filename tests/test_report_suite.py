"""Report views of the seven robustness axes, from a ResultStore and PredictionStore built by hand."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from robustscope.metrics import compute_metrics
from robustscope.metrics.ood import ood_score
from robustscope.report import write_report
from robustscope.report.kit import score_histogram
from robustscope.report.views_adversarial import attack_label
from robustscope.report.views_corruptions import corruption_cell

pytest.importorskip("duckdb")

SUITE = "synthetic-clones"
MODELS = ("alpha", "beta")
PGD = "pgd:alpha=2/255,eps=1/255,norm=linf,random_start=True,steps=20"


def _row(model: str, axis: str, dataset: str, metric: str, value: float, **extra: object) -> dict[str, object]:
    ci = extra.pop("ci", (value - 0.05, value + 0.05))
    row = {
        "model": model,
        "model_fingerprint": f"fp-{model}",
        "dataset": dataset,
        "dataset_fingerprint": f"dfp-{dataset}",
        "shift": "none",
        "metric": metric,
        "slice_factor": "",
        "slice_value": "",
        "value": value,
        "ci_low": ci[0],
        "ci_high": ci[1],
        "n": 100,
        "protocol": json.dumps({"name": metric}),
        "prediction_key": "",
        "suite": SUITE,
        "axis": axis,
    }
    row.update(extra)
    return row


def _logits(seed: int, n: int, k: int, confident: bool) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, size=n)
    logits = rng.normal(size=(n, k)).astype(np.float32)
    if confident:
        logits[np.arange(n), labels] += 4.0
    return logits, labels


def _store_predictions(store: object, key: str, logits: np.ndarray, labels: np.ndarray) -> None:
    n = len(labels)
    store.write_meta(key, {"num_rows": n, "shard_size": n, "num_shards": 1, "class_names": list("abcde")})
    store.write_shard(key, 0, [f"s{j}" for j in range(n)], labels, logits, pd.DataFrame(index=range(n)))


def _suite_rows(predictions: object) -> pd.DataFrame:
    """Rows of every axis for two models, shaped like the suite axes (``robustscope.suites``) write them."""
    rows = []
    for i, model in enumerate(MODELS):
        shape = (0.213, 0.687)[i]
        rows += [
            _row(model, "shape_bias", "cue-conflict", "shape_bias", shape),
            _row(model, "shape_bias", "cue-conflict", "shape_match", 0.111 + i / 10),
            _row(model, "shape_bias", "cue-conflict", "texture_match", 0.333 - i / 10),
        ]
        for j, category in enumerate(("airplane", "bear", "bicycle")):
            rows.append(
                _row(
                    model,
                    "shape_bias",
                    "cue-conflict",
                    "shape_bias",
                    0.1 + 0.2 * j + 0.3 * i,
                    slice_factor="shape",
                    slice_value=category,
                )
            )
        for k, value in enumerate((0.912, 0.801, 0.654, 0.432)):
            rows.append(_row(model, "context_bias", "focus", f"P{k}", value - i / 100))
            if k:
                rows.append(_row(model, "context_bias", "focus", f"relative_drop_P{k}", 0.1 * k, ci=(np.nan, np.nan)))
        for variant, value in (("original", 0.951), ("only_fg", 0.772), ("mixed_same", 0.843), ("mixed_rand", 0.701)):
            rows.append(
                _row(
                    model,
                    "background_bias",
                    "in9",
                    "top1",
                    value - i / 100,
                    slice_factor="variant",
                    slice_value=variant,
                )
            )
        rows.append(_row(model, "background_bias", "in9", "bg_gap", 0.142 + i / 100))

        id_key, far_key = f"id-{model}", f"far-{model}"
        id_logits, id_labels = _logits(i, 200, 5, confident=True)
        far_logits, far_labels = _logits(10 + i, 150, 5, confident=False)
        _store_predictions(predictions, id_key, id_logits, id_labels)
        _store_predictions(predictions, far_key, far_logits, far_labels)
        table = compute_metrics(
            id_logits,
            id_labels,
            None,
            ["top1", "ece20", "adaptive_ece", "classwise_ece", "nll", "brier"],
            n_resamples=20,
        )
        for record in table.to_dict("records"):
            rows.append(
                _row(
                    model,
                    "calibration",
                    "test-id",
                    record["metric"],
                    record["value"],
                    ci=(record["ci_low"], record["ci_high"]),
                    protocol=record["protocol"],
                    prediction_key=id_key,
                )
            )
        for score, auroc in (("entropy", 0.871 + i / 100), ("msp", 0.861 + i / 100)):
            for measure, value in (("auroc", auroc), ("aupr", auroc - 0.1), ("fpr95", 0.456)):
                rows.append(
                    _row(
                        model,
                        "ood",
                        "ood-far",
                        f"{measure}_{score}",
                        value,
                        protocol=json.dumps({"name": measure, "score": score, "id_dataset": "test-id"}),
                        prediction_key=f"{id_key}+{far_key}",
                    )
                )

        rows.append(_row(model, "corruptions", "test-id", "top1", 0.9, prediction_key=id_key))
        for c, corruption in enumerate(("fog", "snow")):
            for severity in (1, 2, 3):
                value = 0.8 - 0.1 * severity - 0.05 * c - 0.1 * i
                rows.append(
                    _row(
                        model,
                        "corruptions",
                        "test-id",
                        "top1",
                        value,
                        shift=f"corruption:corruption={corruption},severity={severity}",
                    )
                )
                rows.append(
                    _row(
                        model,
                        "corruptions",
                        "imagenet-c",
                        "top1",
                        value - 0.01,
                        slice_factor="corruption_severity",
                        slice_value=f"{corruption}:{severity}",
                    )
                )
        rows += [
            _row(
                model,
                "corruptions",
                "test-id",
                "mean_corruption_top1[on_the_fly]",
                0.525 - i / 10,
                shift="summary",
                ci=(np.nan, np.nan),
            ),
            _row(
                model,
                "corruptions",
                "test-id",
                "mean_corruption_top1[imagenet_c]",
                0.515 - i / 10,
                shift="summary",
                ci=(np.nan, np.nan),
            ),
            _row(
                model, "corruptions", "test-id", "mce[imagenet_c]", 0.765 + i / 10, shift="summary", ci=(np.nan, np.nan)
            ),
        ]
        for shift, value in (("none", 0.9), ("fgsm:eps=1/255", 0.377), (PGD, 0.055)):
            rows.append(_row(model, "adversarial", "test-id", "top1", value + i / 100, shift=shift))
    return pd.DataFrame(rows)


def _section(text: str, anchor: str) -> str:
    start = text.index(f'<section id="{anchor}">')
    return text[start : text.index("</section>", start)]


@pytest.fixture
def suite_workspace(tmp_path: Path) -> object:
    from robustscope.config import Workspace
    from robustscope.engine.prediction_store import PredictionStore
    from robustscope.engine.result_store import ResultStore

    ws = Workspace(tmp_path / "ws")
    rows = _suite_rows(PredictionStore(ws.predictions))
    # Plain `evaluate` rows beside the suite's: the usual sections still show them.
    plain = compute_metrics(*_logits(5, 100, 5, True), None, ["top1", "ece"], n_resamples=0)
    plain = plain.assign(
        model="alpha",
        model_fingerprint="fp-alpha",
        dataset="plain-set",
        dataset_fingerprint="p",
        shift="none",
        prediction_key="missing",
    )
    ResultStore(ws.results_db).write(pd.concat([rows, plain], ignore_index=True))
    return ws


def test_suite_report_has_every_axis_view(tmp_path: Path, suite_workspace: object) -> None:
    from robustscope.report.from_store import report_from_store

    with pytest.warns(UserWarning, match="no reliability diagram for alpha on plain-set"):
        path = report_from_store(suite_workspace, tmp_path / "suite.html")
    text = path.read_text(encoding="utf-8")
    anchor = "suite-synthetic-clones"

    # The main table: models × headline numbers, with CIs.
    main = _section(text, anchor)
    for label in (
        "shape bias",
        "context P0",
        "BG-gap",
        "ECE (20 bins)",
        "OOD AUROC (entropy)",
        "corruption top-1",
        "clean top-1",
        "FGSM top-1",
        "PGD top-1",
    ):
        assert f">{label}</th>" in main, label
    assert "0.213" in main and "[0.163, 0.263]" in main  # alpha's shape bias with its CI
    assert "0.520" in main  # alpha's corruption top-1: mean of the two sources (0.525, 0.515)
    assert "0.871" in main and "0.881" in main  # OOD AUROC (entropy) of both models

    shape = _section(text, f"{anchor}-shape-bias")
    assert "Shape bias per category" in shape and "alpha (0.21)" in shape and "beta (0.69)" in shape
    assert shape.count("Plotly.newPlot") == 1 and '"bicycle"' in shape and "0.687" in shape
    assert '"x0":0.213' in shape and '"x0":0.687' in shape  # overall values as vertical lines

    context = _section(text, f"{anchor}-context-bias")
    assert "with k uncommon attributes" in context and ">P3</th>" in context and ">relative_drop_P2</th>" in context
    assert "0.912" in context and "0.422" in context  # alpha's P0, beta's P3

    background = _section(text, f"{anchor}-background-bias")
    assert "per background variant" in background and ">BG-gap</th>" in background
    assert background.index(">original</th>") < background.index(">mixed_rand</th>")
    assert "0.142" in background and "0.152" in background and "0.691" in background

    calibration = _section(text, f"{anchor}-calibration")
    for metric in ("ece20", "adaptive_ece", "classwise_ece", "nll", "brier"):
        assert f">{metric}</th>" in calibration
    assert calibration.count("perfect calibration") == 2  # a reliability diagram per model
    assert "20 bins" in calibration  # the diagram uses the bins of the ECE it sits beside

    corruptions = _section(text, f"{anchor}-corruptions")
    assert corruptions.count("Plotly.newPlot") == 4  # 2 models × (on the fly, ImageNet-C)
    assert "test-id (on the fly)" in corruptions and "imagenet-c" in corruptions
    assert ">imagenet_c</th>" in corruptions and ">mce</th>" in corruptions and "0.865" in corruptions
    assert '"fog"' in corruptions and '"snow"' in corruptions

    ood = _section(text, f"{anchor}-ood")
    assert "OOD set ood-far" in ood and "ID: test-id" in ood
    assert ">FPR@95%TPR</th>" in ood and ">entropy</th>" in ood and ">msp</th>" in ood
    assert ood.count("Plotly.newPlot") == 2 and "AUROC 0.871" in ood  # one histogram per model

    adversarial = _section(text, f"{anchor}-adversarial")
    assert "FGSM (eps=1/255)" in adversarial and "PGD (linf, eps=1/255, 20 steps)" in adversarial
    assert "0.377" in adversarial and "0.065" in adversarial

    # The plain rows keep their sections, and the suite's rows stay out of them.
    comparison = _section(text, "comparison")
    assert "plain-set" in comparison and "cue-conflict" not in comparison
    assert '<nav class="toc">' in text and len(re.findall(r"plotly\.js v\d", text)) == 1


def test_ood_histograms_come_from_both_prediction_sets(suite_workspace: object) -> None:
    from robustscope.engine.prediction_store import PredictionStore
    from robustscope.engine.result_store import ResultStore
    from robustscope.report.from_store import ood_histograms_from_store

    rows = ResultStore(suite_workspace.results_db).query()
    histograms = ood_histograms_from_store(suite_workspace, rows)
    assert [(h.model, h.id_dataset, h.ood_dataset, h.score) for h in histograms] == [
        ("alpha", "test-id", "ood-far", "entropy"),
        ("beta", "test-id", "ood-far", "entropy"),
    ]
    store = PredictionStore(suite_workspace.predictions)
    for h in histograms:
        assert (h.n_id, h.n_ood) == (200, 150)
        widths = np.diff(h.bin_edges)
        assert np.isclose((h.id_density * widths).sum(), 1) and np.isclose((h.ood_density * widths).sum(), 1)
        id_scores = ood_score(store.load(f"id-{h.model}").logits, "entropy")
        assert h.bin_edges[0] <= id_scores.min() and h.bin_edges[-1] == pytest.approx(id_scores.max())
        centers = (h.bin_edges[:-1] + h.bin_edges[1:]) / 2
        # Confident ID logits score higher (lower entropy) than the random OOD ones.
        assert (centers * h.id_density * widths).sum() > (centers * h.ood_density * widths).sum()


def test_store_without_suite_rows_renders_as_before(tmp_path: Path) -> None:
    logits, labels = _logits(0, 100, 5, True)
    rows = compute_metrics(logits, labels, None, ["top1", "ece"], n_resamples=0).assign(model="m")
    text = write_report(rows, tmp_path / "r.html").read_text(encoding="utf-8")
    assert 'id="suite-' not in text and "<nav" not in text
    assert all(f'<section id="{s}">' in text for s in ("comparison", "factors", "reliability"))
    # Rows that name no suite column and rows with an empty one are the same thing.
    again = write_report(rows.assign(suite="", axis=""), tmp_path / "s.html").read_text(encoding="utf-8")
    assert re.sub(r"generated [^·]*", "", again) == re.sub(r"generated [^·]*", "", text)


def test_write_report_with_only_suite_rows_drops_the_plain_sections(tmp_path: Path) -> None:
    rows = pd.DataFrame([_row("m", "adversarial", "d", "top1", 0.5, shift=s) for s in ("none", "fgsm:eps=1/255")])
    text = write_report(rows, tmp_path / "r.html").read_text(encoding="utf-8")
    assert '<section id="suite-synthetic-clones-adversarial">' in text
    assert '<section id="comparison">' not in text


def test_helpers() -> None:
    assert corruption_cell("corruption:corruption=zoom_blur,severity=4") == ("zoom_blur", 4)
    assert corruption_cell("none", "corruption_severity", "motion_blur:2") == ("motion_blur", 2)
    assert corruption_cell("fgsm:eps=1/255") is None
    assert attack_label("pgd:linf:eps=4/255:steps=10:alpha=1/255") == "PGD (linf, eps=4/255, 10 steps)"
    h = score_histogram("m", "a", "b", np.array([np.nan, 1.0, 2.0]), np.array([]), bins=3)
    assert h.n_id == 2 and h.n_ood == 0 and h.ood_density.tolist() == [0.0, 0.0, 0.0]
