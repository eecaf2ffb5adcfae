"""DFR^Val_Tr as the reference code does it, and a mitigated model saved and loaded back (issue 12, part 2)."""

from __future__ import annotations

import json
import re
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

import dfr_reference as ref
from robustscope.data.base import Dataset
from robustscope.engine.features import extract_features
from robustscope.errors import CheckpointError
from robustscope.mitigate import dfr_mitigate, fit_dfr, save_mitigated
from robustscope.mitigate.dfr import (
    C_OPTIONS,
    NUM_RETRAINS,
    _logistic_regression,
    balanced_indices,
    fold_scaler,
    worst_group_accuracy,
)
from robustscope.models import load_model
from robustscope.models.features import split_model
from robustscope.models.smallcnn import SmallCNN


def _problem(n: int, seed: int, p_agree: float = 0.5, noise_dims: int = 6) -> tuple[np.ndarray, ...]:
    """Features [core, spurious, noise…] (float32), labels, groups 2·y + s; s agrees with y with ``p_agree``."""
    rng = np.random.RandomState(seed)
    y = rng.randint(0, 2, n)
    s = np.where(rng.rand(n) < p_agree, y, 1 - y)
    core = (2 * y - 1) + rng.randn(n)
    spurious = (2 * s - 1) + 0.3 * rng.randn(n)
    x = np.c_[core, spurious, rng.randn(n, noise_dims)].astype(np.float32)
    return x, y, 2 * y + s


def _sklearn(c: float, rng: np.random.RandomState) -> LogisticRegression:
    return _logistic_regression(c, rng)  # L1, liblinear, uniform class weights, default tol and max_iter


@pytest.fixture(autouse=True)
def _quiet() -> None:
    warnings.filterwarnings("ignore", category=FutureWarning)  # the reference's penalty="l1" on sklearn >= 1.8
    warnings.filterwarnings("ignore", message="Inconsistent values: penalty")


@pytest.mark.parametrize("seed", [0, 3])
def test_same_c_and_coefficients_as_the_reference_code(seed: int) -> None:
    x_train, y_train, g_train = _problem(300, 100 + seed, p_agree=0.9)
    x_val, y_val, g_val = _problem(240, 200 + seed)
    emb, ys, gs = {"train": x_train, "val": x_val}, {"train": y_train, "val": y_val}, {"train": g_train, "val": g_val}
    np.random.seed(seed)  # the reference draws from the global generator; ours from RandomState(seed)
    (c, w1, w2), scores = ref.dfr_on_validation_tune(emb, ys, gs, balance_val=True, add_train=False)
    coef, intercept = ref.dfr_on_validation_eval(c, w1, w2, emb, ys, gs, balance_val=True, add_train=False)

    ours = fit_dfr(x_val, y_val, g_val, train_features=x_train, seed=seed)
    assert ours.c == c and ours.num_retrains == NUM_RETRAINS == 20
    assert ours.worst_group_accuracy == {k[0]: float(v) for k, v in scores.items()}
    np.testing.assert_array_equal(ours.coef, coef)
    np.testing.assert_array_equal(ours.intercept, intercept)


def _by_hand(x: np.ndarray, y: np.ndarray, g: np.ndarray, train: np.ndarray, c: float, seed: int, fits: int):
    """The retraining loop written out: the same draws, one direct scikit-learn call per balanced subset."""
    rng = np.random.RandomState(seed)
    scaler = StandardScaler().fit(train)
    coefs, intercepts = [], []
    for _ in range(fits):
        keep = balanced_indices(g, rng)
        rng.shuffle(np.arange(len(train)))  # the reference's unused train shuffle
        model = _sklearn(c, rng).fit(scaler.transform(x[keep]), y[keep])
        coefs.append(model.coef_)
        intercepts.append(model.intercept_)
    return scaler, coefs, intercepts


def test_fixed_c_equals_a_direct_sklearn_call_on_the_balanced_subset() -> None:
    x_train, _, _ = _problem(200, 1, p_agree=0.95)
    x, y, g = _problem(160, 2)
    dfr = fit_dfr(x, y, g, train_features=x_train, seed=7, c=0.3, num_retrains=1)
    scaler, coefs, intercepts = _by_hand(x, y, g, x_train, 0.3, 7, 1)
    np.testing.assert_array_equal(dfr.coef, coefs[0])
    np.testing.assert_array_equal(dfr.intercept, intercepts[0])
    np.testing.assert_array_equal(dfr.scaler_mean, scaler.mean_)  # the final scaler is the train features'
    assert dfr.c == 0.3 and dfr.worst_group_accuracy == {}


def test_the_twenty_fits_are_averaged_exactly() -> None:
    x_train, _, _ = _problem(200, 1, p_agree=0.95)
    x, y, g = _problem(160, 2)
    dfr = fit_dfr(x, y, g, train_features=x_train, seed=5, c=0.1)
    _, coefs, intercepts = _by_hand(x, y, g, x_train, 0.1, 5, NUM_RETRAINS)
    assert len({c.tobytes() for c in coefs}) > 1  # the subsets differ, so the average is not one fit
    np.testing.assert_array_equal(dfr.coef, np.mean(coefs, axis=0))
    np.testing.assert_array_equal(dfr.intercept, np.mean(intercepts, axis=0))


def test_c_is_chosen_by_worst_group_accuracy() -> None:
    x, y, g = _problem(240, 4)
    # C = 1e-4 and 3e-4 zero every weight (one class predicted: worst-group accuracy 0); 0.3, listed second, wins.
    dfr = fit_dfr(x, y, g, train_features=x, seed=0, c_options=(1e-4, 0.3, 3e-4))
    assert dfr.c == 0.3
    assert dfr.worst_group_accuracy[1e-4] == dfr.worst_group_accuracy[3e-4] == 0.0
    assert dfr.worst_group_accuracy[0.3] > 0.6
    # the reference's options and tie rule: the first C (the largest) of those with the best score
    full = fit_dfr(x, y, g, train_features=x, seed=0, num_retrains=1)
    scores = full.worst_group_accuracy
    assert list(scores) == list(C_OPTIONS) and full.c == next(c for c in C_OPTIONS if scores[c] == max(scores.values()))


def test_worst_group_accuracy_recomputed_by_hand() -> None:
    x, y, g = _problem(200, 6)
    dfr = fit_dfr(x, y, g, train_features=x, seed=2, num_retrains=1)
    rng = np.random.RandomState(2)
    idx = np.arange(len(x))
    rng.shuffle(idx)
    fit, held = idx[100:], idx[:100]
    keep = fit[balanced_indices(g[fit], rng)]
    scaler = StandardScaler().fit(x[keep])  # the tuning scaler: the balanced half's, as in the reference
    for c in C_OPTIONS:
        model = _sklearn(c, rng).fit(scaler.transform(x[keep]), y[keep])
        expected = worst_group_accuracy(model.predict(scaler.transform(x[held])), y[held], g[held])
        assert dfr.worst_group_accuracy[c] == expected


def test_balanced_subsets_have_equal_group_counts() -> None:
    groups = np.repeat([0, 1, 2, 3], [50, 7, 19, 3])
    rng = np.random.RandomState(0)
    seen = set()
    for _ in range(5):
        idx = balanced_indices(groups, rng)
        assert len(set(idx.tolist())) == len(idx) and np.bincount(groups[idx]).tolist() == [3, 3, 3, 3]
        seen.add(tuple(idx))
    assert len(seen) > 1  # fresh subsets each time
    x, y, g = _problem(400, 8, p_agree=0.8)
    dfr = fit_dfr(x, y, g, train_features=x, seed=0, c=1.0, num_retrains=2)
    assert dfr.per_group == np.bincount(g).min() and dfr.groups == ["0", "1", "2", "3"]


def test_head_on_raw_features_equals_scaler_then_logistic_regression() -> None:
    x, y, g = _problem(200, 9)
    train = x * 3 + 1  # a scaler far from the identity
    dfr = fit_dfr(x, y, g, train_features=train, seed=0, c=0.3, num_retrains=3)
    model = _sklearn(0.3, np.random.RandomState(0)).fit(x[:4], [0, 1, 0, 1])
    model.coef_, model.intercept_ = dfr.coef, dfr.intercept
    scaled = StandardScaler().fit(train).transform(x)
    logits = dfr.logits(x)
    assert logits.shape == (200, 2)
    # the two logits' difference is the logistic regression's score; their softmax its predict_proba
    np.testing.assert_allclose(logits[:, 1] - logits[:, 0], model.decision_function(scaled), rtol=1e-6, atol=1e-6)
    probs = torch.softmax(torch.from_numpy(logits), dim=1).numpy()
    np.testing.assert_allclose(probs, model.predict_proba(scaled), rtol=1e-6, atol=1e-9)
    assert (logits.argmax(1) == model.predict(scaled)).all()
    w, b = fold_scaler(np.array([[1.0, -2.0]]), np.array([0.5]), np.array([1.0, 2.0]), np.array([2.0, 4.0]))
    np.testing.assert_allclose(np.array([[3.0, 6.0]]) @ w.T + b, [[1.0 - 2.0 + 0.5]])


def test_three_classes_one_vs_rest() -> None:
    rng = np.random.RandomState(0)
    y = np.repeat([0, 1, 2], 60)
    g = 2 * y + rng.randint(0, 2, 180)
    x = (np.eye(3)[y] * 2 + rng.randn(180, 3)).astype(np.float32)
    dfr = fit_dfr(x, y, g, train_features=x, seed=0, c=1.0, num_retrains=2)
    assert dfr.weight.shape == (3, 3) and dfr.coef.shape == (3, 3)
    scaled = StandardScaler().fit(x).transform(x)
    np.testing.assert_allclose(dfr.logits(x), scaled @ dfr.coef.T + dfr.intercept, rtol=1e-6, atol=1e-6)
    assert (dfr.logits(x).argmax(1) == y).mean() > 0.8


def test_dfr_beats_erm_on_a_spurious_feature() -> None:
    x_train, y_train, _ = _problem(3000, 10, p_agree=0.95)  # spurious feature agrees with the label 95% of the time
    x_val, y_val, g_val = _problem(800, 11)  # balanced
    x_test, y_test, g_test = _problem(4000, 12)
    erm = LogisticRegression().fit(x_train, y_train)
    erm_worst = worst_group_accuracy(erm.predict(x_test), y_test, g_test)
    dfr = fit_dfr(x_val, y_val, g_val, train_features=x_train, seed=0)
    dfr_worst = worst_group_accuracy(dfr.logits(x_test).argmax(1), y_test, g_test)
    assert erm_worst < 0.5 < 0.75 < dfr_worst, (erm_worst, dfr_worst)


# --- a mitigated model, saved and loaded back -------------------------------------------------------------------


def _base(folder: Path, seed: int = 0) -> str:
    torch.manual_seed(seed)
    folder.mkdir(parents=True, exist_ok=True)
    save_file(SmallCNN(2, width=4, depth=2).state_dict(), str(folder / "model.safetensors"))
    config = {"arch": "smallcnn", "arch_kwargs": {"width": 4, "depth": 2}, "labels": ["a", "b"],
              "preprocessing": {"input_size": 16, "crop_pct": 1.0}}  # fmt: skip
    (folder / "config.json").write_text(json.dumps(config))
    return f"file:{folder}"


def test_saved_model_round_trips_through_file_and_refuses_a_changed_base(tmp_path: Path) -> None:
    spec = _base(tmp_path / "base")
    base = load_model(spec)
    split = split_model(base)
    weight, bias = np.random.RandomState(0).randn(3, split.dim), np.array([0.1, -0.2, 0.3])
    out = save_mitigated(spec, split, weight, bias, ["x", "y", "z"], tmp_path / "dfr", "dfr", {"c": np.float64(0.3)},
                         base_fingerprint=base.fingerprint())  # fmt: skip
    config = json.loads((out / "config.json").read_text())
    assert config["format"] == "robustscope-mitigated/1" and config["base"]["fingerprint"] == base.fingerprint()
    assert config["head"]["path"] == "head" and config["method"] == {"name": "dfr", "params": {"c": 0.3}}

    model = load_model(f"file:{out}")
    images = torch.rand(4, 3, 16, 16)
    with torch.no_grad():
        expected = split.features(images).double().numpy() @ weight.T + bias
        np.testing.assert_allclose(model(images).numpy(), expected, rtol=1e-4, atol=1e-5)
    assert model.labels == ["x", "y", "z"] and model.name == f"file:{out}"
    first = model.fingerprint()
    assert first != base.fingerprint() and split_model(model).head_path == "head"  # it can be cut again

    save_mitigated(spec, split, weight + 1, bias, ["x", "y", "z"], out, "dfr", {})  # same folder, other head
    assert load_model(f"file:{out}").fingerprint() != first  # the head's weights are in the fingerprint

    _base(tmp_path / "base", seed=1)  # the base is retrained in place
    with pytest.raises(CheckpointError, match=r"the base changed .* no longer fits its features"):
        load_model(f"file:{out}")


def test_a_model_its_spec_does_not_reproduce_is_not_saved(tmp_path: Path) -> None:
    spec = _base(tmp_path / "base")
    other = load_model(_base(tmp_path / "other", seed=3))
    split = split_model(other)
    with pytest.raises(CheckpointError, match="must load from its spec"):
        save_mitigated(spec, split, np.zeros((2, split.dim)), np.zeros(2), ["a", "b"], tmp_path / "out", "dfr", {},
                       base_fingerprint=other.fingerprint())  # fmt: skip
    assert not (tmp_path / "out").exists()


def test_dfr_mitigate_end_to_end(tmp_path: Path) -> None:
    rows, root = [], tmp_path / "images"
    root.mkdir()
    rng = np.random.RandomState(0)
    for i in range(48):
        label, place = i % 2, int(rng.rand() < 0.5)
        pixels = np.clip(rng.normal(60 + 120 * label, 30, (16, 16, 3)), 0, 255).astype(np.uint8)
        pixels[:4] = 250 * place  # the "place": a band at the top
        Image.fromarray(pixels).save(root / f"{i}.png")
        rows.append({"sample_id": str(i), "path": f"{i}.png", "label": label, "place": place})
    frame = pd.DataFrame(rows)
    train = Dataset("train", root, ["a", "b"], frame.iloc[:24].copy())
    val = Dataset("val", root, ["a", "b"], frame.iloc[24:].copy())
    model = load_model(_base(tmp_path / "base"))
    store = tmp_path / "store"
    folder, dfr = dfr_mitigate(model, train, val, "place", store=store, out=tmp_path / "dfr", seed=1, progress=False)
    assert dfr.seed == 1 and dfr.groups == ["a|0", "a|1", "b|0", "b|1"] and dfr.c in C_OPTIONS
    params = json.loads((folder / "config.json").read_text())["method"]["params"]
    assert params["group_of"] == "place" and params["c"] == dfr.c and params["num_retrains"] == 20

    features = extract_features(model, val, store=store, progress=False)
    assert features.shards_computed == 0  # dfr_mitigate stored them
    mitigated = load_model(f"file:{folder}")
    images = torch.stack([mitigated.preprocessing.to_tensor(val.load_image(i)) for i in range(len(val))])
    with torch.no_grad():
        np.testing.assert_allclose(mitigated(images).numpy(), dfr.logits(features.features), rtol=1e-4, atol=1e-4)


def test_docs_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    text = (Path(__file__).resolve().parents[1] / "docs" / "mitigations.md").read_text()
    (code,) = re.findall(r"```python\n(.*?)```", text, re.S)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the example's mkdtemp() lands in this test's folder
    exec(compile(code, "docs/mitigations.md", "exec"), {"__name__": "docs_mitigations"})
    assert capsys.readouterr().out.splitlines() == [
        "['landbird|0', 'landbird|1', 'waterbird|0', 'waterbird|1'] True (2, 32)",
        "['landbird', 'waterbird'] True",
    ]
