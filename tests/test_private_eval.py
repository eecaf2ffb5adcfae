"""Private evaluation (issue 16): a model owner and a data owner evaluate together with CrypTen, each input secret.

Checked against plaintext torch on the same inputs: a linear+ReLU network within the fixed-point tolerance, a
small CNN of the demo's architecture (trained by the demo's own trainer) agreeing on ≥ 99% of test images, shifts
applied before encryption, and what each party's process held (shares, never the other's input). CrypTen's
multi-process start-up is the cost, so each session is shared by the assertions that read it (module fixtures).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tomllib
import torch
from torch import nn

from conftest import write_colour_folder
from robustscope.compat.crypten_shims import crypten_installed

pytestmark = pytest.mark.skipif(
    not crypten_installed(),
    reason="crypten is not installed (the private extra): "
    "SKLEARN_ALLOW_DEPRECATED_SKLEARN_PACKAGE_INSTALL=True pip install -e '.[private]'",
)

ROOT = Path(__file__).resolve().parents[1]
COLOURS = {"red": (200, 40, 40), "green": (40, 200, 40), "blue": (40, 40, 200)}
#: CrypTen's default 16 fraction bits: one unit of the fixed-point encoding.
UNIT = 2.0**-16


def fixed_point_bound(model: Any, images: torch.Tensor) -> float:
    """Worst-case |MPC logit − plaintext logit| of a Normalize → Linear/ReLU network with 16-bit fixed point.

    Encoding a value errs by ≤ UNIT/2; each product of two encoded values is truncated once (≤ UNIT). So the
    normalised input errs by ≤ (UNIT/2)/min(std) + UNIT, and a Linear layer maps an input error e to
    ‖W‖∞·e (its largest row L1 norm) + ‖a‖₁·UNIT/2 (its own weights' encoding, a = its largest input row) + UNIT/2
    (bias) + UNIT (truncation); ReLU (a product with a 0/1 share: no truncation) does not grow it.
    """
    error = UNIT / 2 / float(model.normalize.std.min()) + UNIT
    activations = model.normalize(images).flatten(1)
    for layer in model.network:
        if isinstance(layer, nn.Linear):
            row_l1 = float(layer.weight.abs().sum(1).max())
            error = row_l1 * error + float(activations.abs().sum(1).max()) * UNIT / 2 + UNIT / 2 + UNIT
        activations = layer(activations)
    return error


@pytest.fixture(scope="module")
def cnn_session(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A demo-architecture CNN (SmallCNN: conv-BN-ReLU stages, global pool, linear), private and in plaintext.

    Trained by robustscope's own trainer on 16-px colour squares; evaluated on 102 held-out images, clean and under
    Gaussian noise, with ``audit=True`` so each party reports what its process held.
    """
    import robustscope
    from robustscope.api import load_dataset, load_model
    from robustscope.engine import PredictionStore
    from robustscope.private import evaluate_private
    from robustscope.train import train_classifier

    base = tmp_path_factory.mktemp("private-cnn")
    train = load_dataset(f"folder:{write_colour_folder(base / 'train', COLOURS, per_class=12, seed=0)}")
    test = load_dataset(f"folder:{write_colour_folder(base / 'test', COLOURS, per_class=34, seed=1)}")
    folder = train_classifier(
        train, base / "model", arch_kwargs={"width": 8, "depth": 2, "blocks": 2}, epochs=4, batch_size=12,
        image_size=16, augment=False, progress=False, num_threads=1,
    )
    model = load_model(f"file:{folder}")
    ws = base / "ws"
    shifts = ["none", "corruption:gaussian_noise:3"]
    private = evaluate_private(
        f"file:{folder}", test, shifts=shifts, metrics=["top1", "ece"], slice_by=None, n_resamples=0, store=ws,
        progress=False, audit=True,
    )
    plain = robustscope.evaluate(
        model, test, shifts=shifts, metrics=["top1", "ece"], slice_by=None, n_resamples=0, store=ws, progress=False,
    )
    store = PredictionStore(ws / "predictions")
    logits = {
        kind: {shift: store.load(table[table["shift"] == shift]["prediction_key"].iloc[0]) for shift in shifts}
        for kind, table in (("private", private), ("plain", plain))
    }
    return {"private": private, "plain": plain, "logits": logits, "model": model, "ws": ws, "shifts": shifts,
            "folder": folder, "test": test}


def test_demo_cnn_under_mpc_agrees_with_plaintext(cnn_session: dict[str, Any]) -> None:
    for shift in cnn_session["shifts"]:
        private, plain = cnn_session["logits"]["private"][shift], cnn_session["logits"]["plain"][shift]
        assert list(private.sample_ids) == list(plain.sample_ids)
        agreement = float((private.logits.argmax(1) == plain.logits.argmax(1)).mean())
        assert agreement >= 0.99, (shift, agreement)
        # fixed point with BatchNorm and 6 conv layers: far below the logits' scale, far above float rounding
        scale = float(np.abs(plain.logits).max())
        assert np.abs(private.logits - plain.logits).max() <= 0.01 * max(1.0, scale)
        assert not np.array_equal(private.logits, plain.logits)  # really computed apart, not read from the cache
    rows = {kind: cnn_session[kind].set_index(["shift", "metric"])["value"] for kind in ("private", "plain")}
    for key, value in rows["plain"].items():
        assert rows["private"][key] == pytest.approx(value, abs=0.011), key  # top1 within one image, ECE close


def test_report_shows_private_and_plaintext_runs_as_two_models(cnn_session: dict[str, Any]) -> None:
    """A view keeping one row per model must not show whichever kind of run was written last."""
    from robustscope.config import Workspace
    from robustscope.engine import ResultStore
    from robustscope.report.from_store import label_private_runs, report_from_store

    stored = ResultStore(cnn_session["ws"] / "results.duckdb").query(metric="top1")
    name = cnn_session["model"].name
    labelled = label_private_runs(stored)
    assert sorted(set(labelled["model"])) == sorted({name, f"{name} (private)"})
    assert (labelled["model"] == f"{name} (private)").tolist() == stored["private"].tolist()
    html = report_from_store(Workspace(cnn_session["ws"]), cnn_session["ws"] / "report.html").read_text()
    assert f"{name} (private)" in html


def test_private_rows_carry_their_protocol_and_never_replace_plaintext(cnn_session: dict[str, Any]) -> None:
    from robustscope.engine import PredictionStore, ResultStore

    stored = ResultStore(cnn_session["ws"] / "results.duckdb").query(metric="top1")
    assert sorted(stored["private"].tolist()) == [False, False, True, True]  # both kinds kept side by side
    row = stored[stored["private"]].iloc[0]
    protocol = json.loads(row["private_protocol"])
    assert (protocol["precision_bits"], protocol["parties"], protocol["provider"]) == (16, 2, "TTP")
    assert protocol["revealed"].startswith("logits") and protocol["crypten_version"] == "0.4.1"
    assert protocol["batchnorm"] == "folded"
    assert set(stored[~stored["private"]]["private_protocol"]) == {"{}"}
    private_keys = set(cnn_session["private"]["prediction_key"])
    assert private_keys.isdisjoint(set(cnn_session["plain"]["prediction_key"]))
    meta = PredictionStore(cnn_session["ws"] / "predictions").read_meta(sorted(private_keys)[0])
    assert meta["private"]["precision_bits"] == 16 and meta["model"]["name"] == cnn_session["model"].name
    assert {"path", "training", "dataset"}.isdisjoint(meta["model"])  # the card withholds the checkpoint's history


def test_each_party_holds_only_shares_of_the_others_input(cnn_session: dict[str, Any]) -> None:
    model_side, data_side = cnn_session["private"].attrs["parties"]
    owner, holder = model_side["audit"], data_side["audit"]
    scale = 2.0**16
    images = holder.images  # the data owner's plaintext images (first two of the first batch)
    assert images is not None and owner.images is None  # the model owner's process was never given an image
    # the model owner's share of those images, decoded as if it were the image: noise over the whole ring
    decoded = owner.input_share.astype(np.float64) / scale
    assert decoded.shape == images.shape
    assert np.abs(decoded - images).mean() > 1e6
    # both shares together are the image (so the shares are of it), neither alone is
    together = (owner.input_share + holder.input_share).astype(np.float64) / scale
    assert np.abs(together - images).max() < 1e-4
    # the data owner received the architecture with every weight zero, and holds only a share of each weight
    assert holder.weights_seen == 0.0 and owner.weights_seen == 0.0
    weights = next(cnn_session["model"].parameters()).detach().flatten()[:16].numpy()
    assert np.abs(holder.parameter_share.astype(np.float64) / scale - weights).mean() > 1e6
    reconstructed = (owner.parameter_share + holder.parameter_share).astype(np.float64) / scale
    assert np.abs(reconstructed).max() > 0  # some weight tensor's values, encrypted by the model owner


def test_linear_relu_network_matches_plaintext_within_fixed_point_tolerance(tmp_path: Path) -> None:
    from robustscope.api import load_dataset
    from robustscope.engine import PredictionStore
    from robustscope.engine.image_loading import RowImages
    from robustscope.models import Model, Preprocessing
    from robustscope.private import evaluate_private

    data = load_dataset(f"folder:{write_colour_folder(tmp_path / 'data', COLOURS, per_class=4, size=4, seed=2)}")
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(48, 16), nn.ReLU(), nn.Linear(16, 3))
    model = Model.from_module(net, Preprocessing(4, 1.0), sorted(COLOURS), name="linear-relu").eval()
    table = evaluate_private(model, data, metrics=["top1"], slice_by=None, n_resamples=0, store=tmp_path / "ws",
                             progress=False)
    stored = PredictionStore(tmp_path / "ws" / "predictions").load(table["prediction_key"].iloc[0])
    rows = {sid: i for i, sid in enumerate(data.manifest["sample_id"])}
    images = torch.stack([RowImages(data, model.preprocessing)[rows[s]][1] for s in stored.sample_ids])
    with torch.no_grad():
        expected = model(images).numpy()
        bound = fixed_point_bound(model, images)
    difference = float(np.abs(stored.logits - expected).max())
    assert 0 < difference <= bound, (difference, bound)
    assert bound < 0.01 * float(np.abs(expected).max())  # a bound that says something: logits are far larger


def test_reveal_metric_reveals_only_the_count_through_the_cli(cnn_session: dict[str, Any], tmp_path: Path) -> None:
    from robustscope.cli import main
    from robustscope.engine import PredictionStore, ResultStore

    ws = tmp_path / "metric-ws"
    data = f"folder:{cnn_session['test'].root}"
    code = main(["--workspace", str(ws), "-q", "run", "--model", f"file:{cnn_session['folder']}", "--data", data,
                 "--private", "--reveal", "metric", "--metric", "top1", "--slice-by", "none"])
    assert code == 0
    rows = ResultStore(ws / "results.duckdb").query()
    assert rows["metric"].tolist() == ["top1"] and bool(rows["private"].iloc[0])
    plain = cnn_session["logits"]["plain"]["none"]
    expected = float((plain.logits.argmax(1) == plain.labels).mean())
    assert rows["value"].iloc[0] == pytest.approx(expected, abs=1 / len(plain.labels) + 1e-9)
    assert rows["ci_low"].iloc[0] < rows["value"].iloc[0] <= rows["ci_high"].iloc[0]  # Wilson, from the count
    assert json.loads(rows["private_protocol"].iloc[0])["revealed"] == "top-1 correct count"
    assert PredictionStore(ws / "predictions").keys() == []  # no logit was decrypted, so none is stored


def test_unsupported_layers_fail_with_the_layer_and_its_replacement(tmp_path: Path) -> None:
    from robustscope.models import Model, Preprocessing
    from robustscope.private import UnsupportedLayerError, check_supported_layers
    from robustscope.private.layers import converter_error
    from robustscope.private.parties import _prepare_model

    norm = nn.Sequential(nn.Flatten(), nn.Linear(12, 4), nn.LayerNorm(4))
    with pytest.raises(UnsupportedLayerError, match=r"layer '2' is a LayerNorm.*replace it with BatchNorm"):
        check_supported_layers(norm, "m")

    class FunctionalTanh(nn.Module):  # no module to walk: the converter's error is translated
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.tanh(x.flatten(1))

    model = Model.from_module(FunctionalTanh(), Preprocessing(2, 1.0), [f"c{i}" for i in range(12)], name="tanh")
    with pytest.raises(UnsupportedLayerError, match=r"ONNX op 'Tanh'.*Sigmoid"):
        _prepare_model(model)
    assert converter_error(RuntimeError("something else")) is None


def test_unsupported_layer_is_reported_from_the_model_owners_process(tmp_path: Path) -> None:
    from robustscope.models import Model, Preprocessing
    from robustscope.private import PrivateEvaluationError, evaluate_private

    root = write_colour_folder(tmp_path / "data", COLOURS, per_class=1, size=2)
    net = nn.Sequential(nn.Flatten(), nn.Linear(12, 3), nn.LeakyReLU())
    model = Model.from_module(net, Preprocessing(2, 1.0), sorted(COLOURS), name="leaky")
    with pytest.raises(PrivateEvaluationError, match=r"LeakyReLU.*replace it with ReLU"):
        evaluate_private(model, f"folder:{root}", metrics=["top1"], slice_by=None, n_resamples=0,
                         store=tmp_path / "ws", progress=False)


def test_private_options_that_cannot_hold_fail_before_any_process(tmp_path: Path) -> None:
    import robustscope
    from robustscope.errors import OptionError
    from robustscope.private import PrivateEvaluationError, evaluate_private

    root = write_colour_folder(tmp_path / "data", COLOURS, per_class=1, size=2)
    with pytest.raises(OptionError, match="reveal='metric' decrypts only"):
        evaluate_private("file:nowhere", f"folder:{root}", metrics=["top1", "ece"], reveal="metric")
    with pytest.raises(PrivateEvaluationError, match="needs the model's gradients"):
        evaluate_private("file:nowhere", f"folder:{root}", shifts=["fgsm:eps=1/255"])
    with pytest.raises(OptionError, match="precision_bits=40"):
        robustscope.evaluate("file:nowhere", f"folder:{root}", private=True, precision_bits=40)
    with pytest.raises(OptionError, match=r"drop \['device'\]"):
        robustscope.evaluate("file:nowhere", f"folder:{root}", private=True, device="cuda")
    from robustscope.cli import main

    assert main(["run", "--model", "file:nowhere", "--suite", "synthetic-clones-offline", "--private"]) == 2


def test_crypten_shims_each_do_what_they_say(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from robustscope.compat import crypten_shims

    crypten = crypten_shims.load_crypten()
    old_name, new_name = crypten_shims.REGISTRATION_ALIAS
    assert sys.modules[old_name] is sys.modules[new_name]  # the moved module, under the name crypten imports
    from crypten.nn import module, onnx_converter

    assert onnx_converter._export_pytorch_model is crypten_shims._export_pytorch_model
    seen: dict[str, Any] = {}
    original = torch.onnx.export

    @functools.wraps(original)  # keeps export's signature, which the shim reads to know `dynamo` exists
    def recording(*args: Any, **kwargs: Any) -> Any:
        seen.update(kwargs)
        return original(*args, **kwargs)

    monkeypatch.setattr(torch.onnx, "export", recording)
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)).eval()
    x = torch.randn(5, 4)
    crypten.init()
    try:
        private = crypten.nn.from_pytorch(net, torch.zeros(1, 4)).encrypt()
        assert seen["dynamo"] is False and "operator_export_type" in seen
        out = private(crypten.cryptensor(x)).get_plain_text()
        assert torch.allclose(out, net(x), atol=100 * UNIT)  # no normalisation here: a few units
        assert module.Identity._robustscope_shim  # the ONNX Identity op converts: a network that is its input
        identity = crypten.nn.from_pytorch(nn.Identity(), x).encrypt()
        assert torch.allclose(identity(crypten.cryptensor(x)).get_plain_text(), x, atol=1e-4)
    finally:
        crypten.uninit()
    assert crypten_shims.load_crypten() is crypten  # idempotent


def test_the_private_extra_pins_crypten_and_ci_installs_it() -> None:
    from importlib import metadata

    assert metadata.version("crypten") == "0.4.1"
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert "crypten==0.4.1" in extras["private"] and "crypten==0.4.1" in extras["dev"]
    assert "SKLEARN_ALLOW_DEPRECATED_SKLEARN_PACKAGE_INSTALL=True" in (ROOT / "Makefile").read_text()


def test_results_rebuild_recomputes_private_rows_from_the_stored_logits(cnn_session: dict[str, Any]) -> None:
    """Last in the file: it replaces the session's results database (no forward pass, no MPC)."""
    from robustscope.engine import ResultStore
    from robustscope.suites.rebuild import rebuild_results

    before = ResultStore(cnn_session["ws"] / "results.duckdb").query()
    report = rebuild_results(cnn_session["ws"])
    after = ResultStore(cnn_session["ws"] / "results.duckdb").query()
    assert report.failures == [] and len(after) == len(before)
    columns = ["private", "private_protocol", "shift", "metric", "value"]
    key = ["private", "shift", "metric"]
    expected = before[columns].sort_values(key).reset_index(drop=True)
    assert after[columns].sort_values(key).reset_index(drop=True).equals(expected)
