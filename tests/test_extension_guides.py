"""The "Add a shift", "Add a benchmark" and "Add a model adapter" guides of docs/architecture.md, followed to the
letter: each guide's code block becomes a module in a temporary folder, registered with the one call the guide
gives, and then used through the public entry points. Every registry is restored afterwards."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

import robustscope
from conftest import write_colour_folder
from robustscope.data import registry as data_registry
from robustscope.data.benchmarks.catalog import BENCHMARKS
from robustscope.errors import CheckpointError, MissingDataError, ShiftSpecError
from robustscope.models.registry import MODEL_SCHEMES, load_model
from robustscope.shifts.registry import SHIFTS, check_shift_spec, load_shift
from test_api import COLOURS, colour_model

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"


def guide_blocks(heading: str) -> list[str]:
    """The Python blocks of one ``## heading`` section of the architecture doc, in order."""
    text = GUIDE.read_text()
    start = text.index(f"## {heading}\n")
    end = text.find("\n## ", start + 1)
    return re.findall(r"```python\n(.*?)```", text[start : end if end > 0 else None], re.S)


def install(folder: Path, block: str) -> str:
    """Write a guide block to the module its first line names (``# gamma.py (...)``); returns the module name."""
    module = re.match(r"# (\w+)\.py", block).group(1)  # type: ignore[union-attr]
    (folder / f"{module}.py").write_text(block)
    return module


@pytest.fixture
def plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder on ``sys.path`` for the guides' modules; every registry they touch is restored afterwards."""
    folder = tmp_path / "plugins"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    for registry in (SHIFTS, MODEL_SCHEMES, data_registry.DATASET_SCHEMES):
        monkeypatch.setattr(registry, "_entries", dict(registry._entries))
    monkeypatch.setattr(BENCHMARKS, "_by_scheme", dict(BENCHMARKS._by_scheme))
    monkeypatch.setattr(data_registry, "ARGUMENT_KINDS", dict(data_registry.ARGUMENT_KINDS))
    yield folder
    for name in ("gamma", "stylized_toy", "npz_linear"):
        sys.modules.pop(name, None)


def test_the_guides_shift_round_trips_is_checked_and_runs(plugins: Path, tmp_path: Path,
                                                         isolated_workspace: Path) -> None:
    (block,) = guide_blocks("Add a shift")
    module = install(plugins, block)
    SHIFTS.add("gamma", f"{module}:Gamma", summary="x ** gamma", example="gamma:2")  # the guide's one registration
    shift = load_shift("gamma:3")
    assert shift.spec() == "gamma:3" and load_shift(shift.spec()).key() == shift.key()
    with pytest.raises(ShiftSpecError, match="gamma must lie in"):
        check_shift_spec("gamma:100")
    folder = write_colour_folder(tmp_path / "colours", COLOURS, per_class=4)
    data = robustscope.load_dataset(f"folder:{folder}")
    model = colour_model()
    table = robustscope.evaluate(model, data, shifts=["none", "gamma:3"], metrics=["top1"], n_resamples=0,
                                 progress=False, slice_by=None)
    row = table[table["shift"] == "gamma:3"].iloc[0]
    assert json.loads(row["shift_params"]) == {"gamma": 3.0}
    # top-1 under the shift, by hand: the model on every image cubed
    images = torch.stack([model.preprocessing.to_tensor(data.load_image(i)) for i in range(len(data))])
    with torch.no_grad():
        predicted = model(images**3).argmax(1).numpy()
    assert row["value"] == pytest.approx(float((predicted == data.manifest["label"].to_numpy()).mean()))


def _stylized_toy_release(root: Path) -> Path:
    """The guide's release layout: images beside labels.csv (file, class, style), two styles per class."""
    root.mkdir(parents=True)
    rows = []
    for cls, colour in COLOURS.items():
        for style, shade in (("flat", 1.0), ("dim", 0.6)):
            file = f"{cls}_{style}.png"
            Image.new("RGB", (16, 16), tuple(int(c * shade) for c in colour)).save(root / file)
            rows.append({"file": file, "class": cls, "style": style})
    pd.DataFrame(rows).to_csv(root / "labels.csv", index=False)
    return root


def test_the_guides_benchmark_loads_by_scheme_and_by_data_root(plugins: Path, tmp_path: Path,
                                                               isolated_workspace: Path) -> None:
    module_block, registration = guide_blocks("Add a benchmark")
    module = install(plugins, module_block)
    assert module == "stylized_toy"
    exec(registration, {"register_benchmark": data_registry.register_benchmark,  # the guide's registration
                        "Benchmark": data_registry.Benchmark})
    release = _stylized_toy_release(tmp_path / "data" / "StylizedToy")
    by_path = robustscope.load_dataset(f"stylized-toy:{release}")
    by_root = robustscope.load_dataset("stylized-toy:", root=tmp_path / "data")  # found in the folders named
    assert by_root.root == by_path.root == release and len(by_path) == 6
    assert by_path.classes == sorted(COLOURS) and by_path.factor_columns == ["style"]
    assert "stylized-toy" in data_registry.DATASET_SCHEMES
    with pytest.raises(MissingDataError, match=r"labels\.csv"):
        robustscope.load_dataset(f"stylized-toy:{tmp_path}")
    # sliced by its factor: pure and dimmed colours are both read right by the colour model
    table = robustscope.evaluate(colour_model(by_path.classes), by_path, metrics=["top1"], n_resamples=0,
                                 progress=False, slice_by=["style"])
    per_style = table[table["slice_factor"] == "style"].set_index("slice_value")["value"].to_dict()
    assert per_style == {"dim": 1.0, "flat": 1.0}


def _save_channel_mean_classifier(path: Path, size: int) -> list[str]:
    """weight[k] averages channel k over the image, so the logits are the mean R, G and B: class k = colour k."""
    classes = ["red", "green", "blue"]
    weight = np.zeros((3, 3 * size * size), np.float32)
    for k in range(3):
        weight[k, k * size * size : (k + 1) * size * size] = 1.0 / (size * size)
    np.savez(path, weight=weight, bias=np.zeros(3, np.float32), classes=np.array(classes), size=np.array(size))
    return classes


def test_the_guides_model_adapter_loads_and_evaluates(plugins: Path, tmp_path: Path, isolated_workspace: Path) -> None:
    (block,) = guide_blocks("Add a model adapter")
    module = install(plugins, block)
    MODEL_SCHEMES.add("npz-linear", f"{module}:load_npz_linear", summary="linear .npz", example="npz-linear:m.npz")
    weights = tmp_path / "linear.npz"
    classes = _save_channel_mean_classifier(weights, size=16)
    model = load_model(f"npz-linear:{weights}")
    assert model.labels == classes and model.preprocessing.input_size == 16
    # the logits of one image, by hand: its mean R, G and B in [0, 1]
    folder = write_colour_folder(tmp_path / "colours", COLOURS, per_class=4)
    image = Image.open(folder / "red" / "000.png").convert("RGB")
    expected = np.asarray(image, np.float64).reshape(-1, 3).mean(0) / 255
    with torch.no_grad():
        logits = model(model.preprocessing.to_tensor(image)[None])[0].numpy()
    np.testing.assert_allclose(logits, expected, atol=1e-5)
    table = robustscope.evaluate(f"npz-linear:{weights}", f"folder:{folder}", metrics=["top1"], n_resamples=0,
                                 progress=False, slice_by=None)
    assert table["value"].iloc[0] == 1.0 and table["model"].iloc[0] == f"npz-linear:{weights}"
    # a file holding pickled objects is refused, not executed
    np.savez(tmp_path / "pickled.npz", weight=np.array([object()], dtype=object), bias=np.zeros(3),
             classes=np.array(classes), size=np.array(16))
    with pytest.raises(CheckpointError, match="plain arrays"):
        load_model(f"npz-linear:{tmp_path / 'pickled.npz'}")
