"""Cache keys that cannot go stale (issue 10 §1): model code and image contents are in every key.

Each test pins a case where the code before this change reused predictions that no longer match
what the model computes or what the files hold, or did not say how much was reused.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from torch import nn

from conftest import write_colour_folder
from robustscope.api import evaluate
from robustscope.cli import main
from robustscope.data import Dataset
from robustscope.data import content_index as ci
from robustscope.data.content_index import ContentIndex, hash_file
from robustscope.engine import PredictionStore, Runner
from robustscope.engine.fingerprint import prediction_key
from robustscope.models import Model, Preprocessing
from robustscope.shifts import Identity

PRE = Preprocessing(input_size=8, crop_pct=1.0, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
LABELS = ["r", "g", "b"]


def make_net(sign: float) -> nn.Module:
    """Two classes with one qualified name, no parameters and equal reprs: only ``forward`` differs."""
    if sign > 0:

        class Net(nn.Module):
            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return x.mean(dim=(2, 3))

    else:

        class Net(nn.Module):
            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return -x.mean(dim=(2, 3))

    return Net()


def bmp_dataset(root: Path, n: int = 3) -> Dataset:
    """``n`` 8×8 uncompressed BMPs: a file's size depends only on its dimensions, never on its pixels."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(root / f"{i}.bmp")
    manifest = pd.DataFrame(
        {
            "sample_id": [str(i) for i in range(n)],
            "path": [f"{i}.bmp" for i in range(n)],
            "label": [i % 3 for i in range(n)],
        }
    )
    return Dataset("bmp", root, LABELS, manifest)


def runner(root: Path) -> Runner:
    return Runner(PredictionStore(root), batch_size=4, progress=False)


# -- model code ------------------------------------------------------------------------------------
def test_same_class_name_other_forward_gets_its_own_predictions(tmp_path: Path) -> None:
    plus, minus = (Model.from_module(make_net(s), preprocessing=PRE, labels=LABELS) for s in (1, -1))
    assert repr(plus.network) == repr(minus.network) and plus.name == minus.name
    assert type(plus.network).__qualname__ == type(minus.network).__qualname__
    assert plus.fingerprint() != minus.fingerprint()
    data = bmp_dataset(tmp_path / "d")
    assert prediction_key(plus, data, Identity(), 0) != prediction_key(minus, data, Identity(), 0)

    first = runner(tmp_path / "p").run(plus, data)
    second = runner(tmp_path / "p").run(minus, data)
    assert second.shards_computed == 1 and second.shards_reused == 0
    np.testing.assert_allclose(second.predictions.logits, -first.predictions.logits, atol=1e-6)


def test_editing_forward_and_reloading_gives_a_new_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # a stale .pyc would hide the edit from Python itself
    monkeypatch.syspath_prepend(str(tmp_path))
    source = "from torch import nn\n\nclass Edited(nn.Module):\n    def forward(self, x):\n        return {}\n"
    module_file = tmp_path / "rs_user_edited_net.py"
    module_file.write_text(source.format("x.mean(dim=(2, 3))"))
    data = bmp_dataset(tmp_path / "d")
    try:
        module = importlib.import_module("rs_user_edited_net")
        before = Model.from_module(module.Edited(), preprocessing=PRE, labels=LABELS)
        assert runner(tmp_path / "p").run(before, data).shards_computed == 1

        module_file.write_text(source.format("x.mean(dim=(2, 3)) * 2.0"))
        importlib.invalidate_caches()
        module = importlib.reload(module)
        after = Model.from_module(module.Edited(), preprocessing=PRE, labels=LABELS)
        assert after.fingerprint() != before.fingerprint()
        assert prediction_key(after, data, Identity(), 0) != prediction_key(before, data, Identity(), 0)
        rerun = runner(tmp_path / "p").run(after, data)
        assert rerun.shards_computed == 1
        np.testing.assert_allclose(
            rerun.predictions.logits, 2 * runner(tmp_path / "p").run(before, data).predictions.logits, rtol=1e-6
        )
    finally:
        sys.modules.pop("rs_user_edited_net", None)


def test_unreadable_source_warns_once_and_keys_on_version() -> None:
    namespace: dict = {}
    exec("from torch import nn\nclass FromExec(nn.Module):\n    def forward(self, x):\n        return x\n", namespace)
    cls = namespace["FromExec"]
    with pytest.warns(UserWarning, match=r"FromExec.*version="):
        unversioned = Model.from_module(cls(), preprocessing=PRE, labels=LABELS).fingerprint()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per class: no second warning, and none with a version
        assert Model.from_module(cls(), preprocessing=PRE, labels=LABELS).fingerprint() == unversioned
        v1 = Model.from_module(cls(), preprocessing=PRE, labels=LABELS, version="v1").fingerprint()
        v2 = Model.from_module(cls(), preprocessing=PRE, labels=LABELS, version="v2").fingerprint()
    assert len({unversioned, v1, v2}) == 3


def test_torchscript_code_is_in_the_key(tmp_path: Path) -> None:
    fingerprints = []
    for sign in (1, -1):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.jit is deprecated in this torch
            traced = torch.jit.trace(make_net(sign), torch.rand(1, 3, 8, 8))
            traced.save(str(tmp_path / f"{sign}.pt"))
            loaded = torch.jit.load(str(tmp_path / f"{sign}.pt"))
        model = Model.from_module(loaded, preprocessing=PRE, labels=LABELS, name="scripted")
        fingerprints.append(model.fingerprint())
        assert "0x" not in repr(loaded)
    assert fingerprints[0] != fingerprints[1]


FINGERPRINT_CHILD = textwrap.dedent(
    """
    import sys, warnings
    warnings.simplefilter("ignore")
    from robustscope.api import load_model
    print(" ".join(load_model(f"file:{path}").fingerprint() for path in sys.argv[1:]))
    """
)


def test_demo_style_models_fingerprint_the_same_in_another_process(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    from robustscope.api import load_model
    from robustscope.models.smallcnn import SmallCNN

    torch.manual_seed(0)
    small = SmallCNN(3, width=4, depth=1)
    (tmp_path / "cnn").mkdir()
    save_file(small.state_dict(), str(tmp_path / "cnn" / "model.safetensors"))
    config = {
        "arch": "smallcnn",
        "arch_kwargs": {"width": 4, "depth": 1},
        "labels": LABELS,
        "preprocessing": PRE.to_dict(),
    }
    (tmp_path / "cnn" / "config.json").write_text(json.dumps(config))
    (tmp_path / "ts").mkdir()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.script(small).save(str(tmp_path / "ts" / "model.ts"))
        (tmp_path / "ts" / "config.json").write_text(json.dumps({"labels": LABELS, "preprocessing": PRE.to_dict()}))
        here = [load_model(f"file:{tmp_path / kind}").fingerprint() for kind in ("cnn", "ts")]
    child = subprocess.run(
        [sys.executable, "-c", FINGERPRINT_CHILD, str(tmp_path / "cnn"), str(tmp_path / "ts")],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONHASHSEED": "123"},
    )
    assert child.returncode == 0, child.stderr[-2000:]
    assert child.stdout.split() == here


# -- image contents --------------------------------------------------------------------------------
def test_same_size_overwrite_changes_the_key_and_the_runner_recomputes(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = Model.from_module(nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 3)), preprocessing=PRE, labels=LABELS)
    data = bmp_dataset(tmp_path / "d")
    before = runner(tmp_path / "p").run(model, data)
    target = tmp_path / "d" / "0.bmp"
    old = os.stat(target)
    with Image.open(target) as image:
        new_pixels = 255 - np.asarray(image.convert("RGB"))
    Image.fromarray(new_pixels).save(target)
    os.utime(target, ns=(old.st_atime_ns, old.st_mtime_ns))  # as a timestamp-preserving copy would leave it
    assert os.stat(target).st_size == old.st_size and os.stat(target).st_mtime_ns == old.st_mtime_ns

    after = runner(tmp_path / "p").run(model, data)
    assert after.key != before.key and after.shards_computed == 1
    with torch.no_grad():
        expected = model(torch.from_numpy(new_pixels).permute(2, 0, 1)[None].float() / 255).numpy()
    np.testing.assert_allclose(after.predictions.logits[0], expected[0], atol=1e-5)
    np.testing.assert_allclose(after.predictions.logits[1:], before.predictions.logits[1:])


def test_same_size_mask_overwrite_changes_the_background_swap_key(tmp_path: Path) -> None:
    from robustscope.shifts.overlays import BackgroundSwap

    data = bmp_dataset(tmp_path / "d", n=2)
    data.manifest["mask_filename"] = ["m0.bmp", "m1.bmp"]
    for i in range(2):
        Image.new("L", (8, 8), 255).save(tmp_path / "d" / f"m{i}.bmp")
    model = Model.from_module(make_net(1), preprocessing=PRE, labels=LABELS)
    swap = BackgroundSwap(background="solid")
    before = runner(tmp_path / "p").key(model, data, swap)
    size = (tmp_path / "d" / "m1.bmp").stat().st_size
    Image.new("L", (8, 8), 0).save(tmp_path / "d" / "m1.bmp")  # the object vanishes: all background
    assert (tmp_path / "d" / "m1.bmp").stat().st_size == size
    assert runner(tmp_path / "p").key(model, data, swap) != before


def count_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    reads: list[str] = []

    def counting(path: str | Path) -> str:
        reads.append(str(path))
        return hash_file(path)

    monkeypatch.setattr(ci, "hash_file", counting)
    return reads


def test_unchanged_files_are_not_read_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = bmp_dataset(tmp_path / "d", n=5)
    reads = count_reads(monkeypatch)
    # Window 0: trust entries as soon as they are older than their hashing (exact ext4 timestamps).
    index = ContentIndex(tmp_path / "index.sqlite", racy_window_ns=0)
    first = data.fingerprint(index)
    assert len(reads) == 5
    assert data.fingerprint(index) == first and len(reads) == 5  # nothing read the second time
    (tmp_path / "d" / "3.bmp").write_bytes((tmp_path / "d" / "4.bmp").read_bytes())  # same size, new bytes
    assert data.fingerprint(index) != first
    assert reads[5:] == [str(tmp_path / "d" / "3.bmp")]  # only the changed file is read
    # Without a persistent index every file is read on every call, and the digests agree.
    assert data.fingerprint(ContentIndex(None)) == data.fingerprint(index)


# -- shards reused / computed ----------------------------------------------------------------------
def test_run_reports_shards_computed_and_reused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from safetensors.torch import save_file

    from robustscope.models.smallcnn import SmallCNN
    from robustscope.suites import AxisSpec, SuiteSpec, run_suite

    root = write_colour_folder(tmp_path / "d", {"b": (0, 0, 255), "g": (0, 255, 0), "r": (255, 0, 0)}, per_class=2)
    shifts = ["none", "corruption:brightness:1"]
    for expected in [(2, 0), (0, 2)]:  # first call computes both shifts' shards, the second reuses them
        model = Model.from_module(make_net(1), preprocessing=PRE, labels=["b", "g", "r"])
        table = evaluate(model, f"folder:{root}", shifts=shifts, metrics=["top1"], n_resamples=0, progress=False)
        assert (table.attrs["shards_computed"], table.attrs["shards_reused"]) == expected

    (tmp_path / "m").mkdir()
    save_file(SmallCNN(3, width=4, depth=1).state_dict(), str(tmp_path / "m" / "model.safetensors"))
    arch = {"arch": "smallcnn", "arch_kwargs": {"width": 4, "depth": 1}}
    config = {**arch, "labels": ["b", "g", "r"], "preprocessing": PRE.to_dict()}
    (tmp_path / "m" / "config.json").write_text(json.dumps(config))
    args = ["-q", "run", "--model", f"file:{tmp_path / 'm'}", "--data", f"folder:{root}", "--metric", "top1"]
    for expected in ["2 computed, 0 reused", "0 computed, 2 reused"]:
        assert main([*args, "--n-resamples", "0", "--shift", *shifts]) == 0
        assert f"prediction shards: {expected}" in capsys.readouterr().out

    other = write_colour_folder(tmp_path / "e", {"b": (0, 0, 255), "g": (0, 255, 0), "r": (255, 0, 0)}, per_class=3)
    suite = SuiteSpec("tiny", "calibration", (AxisSpec("calibration", {"test": f"folder:{other}"}, params={}),))
    for expected in [(1, 0), (0, 1)]:
        result = run_suite(f"file:{tmp_path / 'm'}", suite, n_resamples=0, progress=False)
        assert (result.shards_computed, result.shards_reused) == expected
