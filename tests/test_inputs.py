"""Inputs read as they are: 16-bit images, decompression bombs, assumed preprocessing, integer labels, .pt2 files.

Grayscale models (one channel through shifts and attacks) are tested in ``test_inputs_grey.py``.
"""

from __future__ import annotations

import io
import json
import struct
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from torch import nn

from robustscope.cli import build_parser
from robustscope.data import Dataset, read_image
from robustscope.engine import PredictionStore, Runner
from robustscope.engine.label_space import label_mapping
from robustscope.errors import BadImageError, CheckpointError, LabelSpaceError, RobustscopeError
from robustscope.models import Model, Preprocessing
from robustscope.models.registry import load_model

EXACT = Preprocessing(input_size=4, crop_pct=1.0, interpolation="nearest")


def _png(width: int, height: int, rows: list[bytes], colour_type: int, bit_depth: int) -> bytes:
    """A PNG written by hand from raw big-endian rows (filter 0), independently of PIL's encoder."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    raw = b"".join(b"\x00" + row for row in rows)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


# -- 16-bit and other wide images ---------------------------------------------------------------------
def test_sixteen_bit_grey_png_is_scaled_not_white(tmp_path: Path) -> None:
    values = np.array([[0, 128, 129, 257], [1000, 32768, 40000, 65535]] * 2, dtype=">u2")  # a 4×4 ramp
    path = tmp_path / "grey16.png"
    path.write_bytes(_png(4, 4, [row.tobytes() for row in values], colour_type=0, bit_depth=16))
    assert Image.open(path).mode == "I;16"  # what Pillow makes of it (convert("RGB") clipped this to white)
    pixels = EXACT.to_tensor(read_image(path))[0].numpy()
    # Hand-computed nearest 8-bit levels round(v / 257): 0, 0 (0.498), 1 (0.502), 1, 4 (3.89), 128 (127.5), 156, 255.
    expected_levels = np.array([[0, 0, 1, 1], [4, 128, 156, 255]] * 2)
    np.testing.assert_array_equal(np.round(pixels * 255), expected_levels)
    # and so within half an 8-bit level of the true value v / 65535
    assert np.abs(pixels - values.astype(np.float64) / 65535).max() <= 0.5 / 255 + 1e-6


def test_sixteen_bit_rgb_png_keeps_its_colours(tmp_path: Path) -> None:
    values = np.array([[[0, 32768, 65535], [65280, 383, 127]]], dtype=">u2")
    path = tmp_path / "rgb16.png"
    path.write_bytes(_png(2, 1, [values[0].tobytes()], colour_type=2, bit_depth=16))
    pixels = np.asarray(read_image(path), dtype=np.float64) / 255
    assert np.abs(pixels - values.astype(np.float64) / 65535).max() < 1 / 255  # Pillow keeps the high byte


def test_integer_and_float_images_read_on_their_scales_or_refused(tmp_path: Path) -> None:
    Image.fromarray(np.array([[0, 32768, 65535]], dtype=np.int32)).save(tmp_path / "i32.tif")
    Image.fromarray(np.array([[0.0, 0.5, 1.0]], dtype=np.float32)).save(tmp_path / "f32.tif")
    assert [read_image(tmp_path / "i32.tif").getpixel((i, 0))[0] for i in range(3)] == [0, 128, 255]
    assert [read_image(tmp_path / "f32.tif").getpixel((i, 0))[0] for i in range(3)] == [0, 128, 255]
    # values whose scale cannot be known are refused, never clipped
    Image.fromarray(np.array([[0, 70000]], dtype=np.int32)).save(tmp_path / "wide.tif")
    Image.fromarray(np.array([[0.0, 255.0]], dtype=np.float32)).save(tmp_path / "f255.tif")
    for name in ("wide.tif", "f255.tif"):
        with pytest.raises(BadImageError, match=name):
            read_image(tmp_path / name)


# -- decompression bombs ------------------------------------------------------------------------------
def test_pixel_limit_makes_a_bad_image_naming_the_count_and_the_option(tmp_path: Path) -> None:
    Image.new("RGB", (30, 30)).save(tmp_path / "big.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # PIL's DecompressionBombWarning must not escape
        with pytest.raises(BadImageError) as caught:
            read_image(tmp_path / "big.png", max_pixels=899)
        assert read_image(tmp_path / "big.png", max_pixels=900).size == (30, 30)
        with pytest.raises(BadImageError):  # between 1× and 2× the limit, where PIL alone only warns
            read_image(tmp_path / "big.png", max_pixels=600)
    message = str(caught.value)
    assert "big.png" in message and "900 pixels" in message and "--max-image-pixels" in message
    assert "\n" not in message
    assert Image.MAX_IMAGE_PIXELS == 89_478_485  # PIL's own limit is left as it was


def test_real_decompression_bomb_is_a_bad_image(tmp_path: Path) -> None:
    Image.new("1", (14_000, 14_000)).save(tmp_path / "bomb.png")  # 24 kB on disk, 196 Mpx decoded
    assert (tmp_path / "bomb.png").stat().st_size < 100_000
    with pytest.raises(Image.DecompressionBombError):  # what PIL alone does: an exception that aborted runs
        Image.open(tmp_path / "bomb.png")
    with pytest.raises(BadImageError, match="196,000,000 pixels exceed the limit of 89,478,485"):
        read_image(tmp_path / "bomb.png")


def _dataset(root: Path, sizes: list[int]) -> Dataset:
    for i, side in enumerate(sizes):
        Image.new("RGB", (side, side), (40 * i, 100, 200)).save(root / f"{i}.png")
    frame = pd.DataFrame({"sample_id": [str(i) for i in range(len(sizes))],
                          "path": [f"{i}.png" for i in range(len(sizes))], "label": [0] * len(sizes)})
    return Dataset("sizes", root, ["a"], frame)


def test_oversized_image_is_skipped_under_the_policy(tmp_path: Path) -> None:
    data = _dataset(tmp_path, [8, 40, 8])  # the middle one has 1,600 pixels
    model = Model.from_module(nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 1)), EXACT, ["a"])
    skip = Runner(PredictionStore(tmp_path / "p1"), on_bad_image="skip", max_image_pixels=1000, progress=False)
    result = skip.run(model, data)
    assert result.bad_images == [str(tmp_path / "1.png")]
    assert list(result.predictions.sample_ids) == ["0", "2"]
    strict = Runner(PredictionStore(tmp_path / "p2"), max_image_pixels=1000, progress=False)
    with pytest.raises(BadImageError, match="1,600 pixels"):
        strict.run(model, data)
    with pytest.raises(RobustscopeError, match="max_image_pixels"):
        Runner(PredictionStore(tmp_path / "p3"), max_image_pixels=0)


def test_raising_the_pixel_limit_reads_what_a_lower_limit_skipped(tmp_path: Path) -> None:
    data = _dataset(tmp_path, [8, 40, 8])  # the middle one has 1,600 pixels
    model = Model.from_module(nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 1)), EXACT, ["a"])
    store = PredictionStore(tmp_path / "shared")  # one store: the second run must not reuse the first's shards
    low = Runner(store, on_bad_image="skip", max_image_pixels=1000, progress=False).run(model, data)
    high = Runner(store, on_bad_image="skip", max_image_pixels=2000, progress=False).run(model, data)
    default = Runner(store, on_bad_image="skip", progress=False).run(model, data)
    assert list(low.predictions.sample_ids) == ["0", "2"] and low.bad_images
    for run in (high, default):
        assert list(run.predictions.sample_ids) == ["0", "1", "2"] and not run.bad_images
        assert run.shards_computed == 1 and run.key != low.key


def test_cli_takes_a_positive_pixel_limit() -> None:
    base = ["run", "--model", "file:m", "--data", "folder:d"]
    assert build_parser().parse_args([*base, "--max-image-pixels", "250000000"]).max_image_pixels == 250_000_000
    assert build_parser().parse_args(base).max_image_pixels is None  # PIL's default
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args([*base, "--max-image-pixels", "0"])
    assert exited.value.code == 2


# -- assumed preprocessing ----------------------------------------------------------------------------
def test_from_module_without_preprocessing_says_what_it_assumed() -> None:
    with pytest.warns(UserWarning) as record:
        model = Model.from_module(nn.Identity(), labels=["a"])
    (warning,) = record
    message = str(warning.message)
    for text in ("input_size=224", "crop_pct=0.875", "mean=(0.485, 0.456, 0.406)", "resize shorter side to 256",
                 "preprocessing="):
        assert text in message
    assert warning.filename == __file__  # points at the caller, not at robustscope's code
    assert set(model.describe()["assumed"]) == {"input_size", "crop_pct", "interpolation", "mean", "std"}


def test_only_defaulted_geometry_warns() -> None:
    with pytest.warns(UserWarning, match=r"crop_pct=0\.875.*resize shorter side to 32 \(bicubic\); centre-crop 28×28"):
        Preprocessing(28)  # 28 / 0.875 = 32
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        explicit = Preprocessing(input_size=28, crop_pct=1.0)
    assert explicit.assumed == ("interpolation", "mean", "std")
    assert "assumed: interpolation, mean, std" in explicit.describe()
    with pytest.warns(UserWarning, match="mean="):  # a grey model's mean/std has no convention to fall back on
        Preprocessing(28, 1.0, channels=1)


def test_rgb_preprocessing_dict_is_unchanged_and_round_trips() -> None:
    pre = Preprocessing(32, 1.0, "bilinear", (0.5, 0.4, 0.3), (0.2, 0.25, 0.3))
    assert set(pre.to_dict()) == {"input_size", "crop_pct", "interpolation", "mean", "std"}  # fingerprints kept
    assert Preprocessing.from_dict(pre.to_dict()) == pre
    grey = Preprocessing(32, 1.0, "bilinear", (0.5,), (0.2,), channels=1)
    assert Preprocessing.from_dict(grey.to_dict()) == grey and grey != pre


def test_report_shows_the_effective_transform(tmp_path: Path) -> None:
    from robustscope.api import evaluate
    from robustscope.config import Workspace
    from robustscope.report.from_store import report_from_store

    data = _dataset(tmp_path, [8, 8])
    with pytest.warns(UserWarning, match="crop_pct"):
        pre = Preprocessing(16)  # crop_pct assumed: 16 / 0.875 → 18
    model = Model.from_module(nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 1)), pre, ["a"], name="guessed")
    ws = Workspace(tmp_path / "ws")
    evaluate(model, data, metrics=["top1"], slice_by=None, n_resamples=0, store=ws, progress=False)
    page = report_from_store(ws, tmp_path / "report.html").read_text(encoding="utf-8")
    assert "resize shorter side to 18 (bicubic)" in page and "centre-crop 16×16" in page
    assert "assumed: crop_pct" in page and model.fingerprint() in page


# -- integer labels ----------------------------------------------------------------------------------
def test_integer_labels_become_class_names() -> None:
    model = Model.from_module(nn.Identity(), EXACT, labels=list(range(10)))
    assert model.labels == [str(i) for i in range(10)]
    digits = Dataset("digits", ".", ["3", "7"], pd.DataFrame({"sample_id": ["a"], "path": ["a.png"], "label": [1]}))
    assert label_mapping(model, digits) == (3, 7)
    animals = Dataset("animals", ".", ["cat"], pd.DataFrame({"sample_id": ["a"], "path": ["a.png"], "label": [0]}))
    with pytest.raises(LabelSpaceError, match="'cat'"):  # was AttributeError: 'int' object has no attribute 'lower'
        label_mapping(model, animals)
    for bad in ([1, "1"], [0.5, 1.5], [None]):
        with pytest.raises(LabelSpaceError):
            Model.from_module(nn.Identity(), EXACT, labels=bad)


# -- torch.export archives ----------------------------------------------------------------------------
class _TinyNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.head = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.conv(x).relu().mean(dim=(2, 3)))


def _export(folder: Path) -> tuple[nn.Module, Path]:
    torch.manual_seed(0)
    net = _TinyNet().eval()
    batch = torch.export.Dim("batch", min=1, max=1024)
    program = torch.export.export(net, (torch.rand(2, 3, 8, 8),), dynamic_shapes=({0: batch},))
    folder.mkdir(parents=True, exist_ok=True)
    torch.export.save(program, folder / "model.pt2")
    config = {"labels": ["cat", "dog"], "preprocessing": {"input_size": 8, "crop_pct": 1.0, "mean": [0, 0, 0],
                                                          "std": [1, 1, 1]}}
    (folder / "config.json").write_text(json.dumps(config))
    return net, folder / "model.pt2"


def test_file_reads_torch_export_archives(tmp_path: Path) -> None:
    net, _ = _export(tmp_path / "exported")
    model = load_model(f"file:{tmp_path / 'exported'}").eval()  # eval(): what the Runner does
    images = torch.rand(5, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(model(images), net(images), rtol=0, atol=1e-6)
    assert model.labels == ["cat", "dog"] and model.metadata["format"] == "torch.export"


def _rewritten(archive: Path, edit: dict[str, bytes]) -> Path:
    """A copy of ``archive`` with the entries whose names end with a key of ``edit`` replaced."""
    out = archive.with_name("edited.pt2")
    with zipfile.ZipFile(archive) as source, zipfile.ZipFile(out, "w") as target:
        for name in source.namelist():
            data = next((value for suffix, value in edit.items() if name.endswith(suffix)), source.read(name))
            target.writestr(name, data)
    return out


class _Marker:
    """Unpickling this creates a file: the proof that code from the archive ran."""

    path = ""

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (self.path, "w"))


def test_pickled_payloads_are_refused_before_any_code_runs(tmp_path: Path) -> None:
    _, archive = _export(tmp_path / "exported")
    _Marker.path = str(tmp_path / "code-ran")
    payload = io.BytesIO()
    torch.save(((_Marker(),), {}), payload)
    hostile = _rewritten(archive, {"data/sample_inputs/model.pt": payload.getvalue()})
    with pytest.raises(CheckpointError, match="sample inputs"):
        load_model(f"file:{hostile}", labels=["cat", "dog"])
    assert not (tmp_path / "code-ran").exists()
    # The finding behind the check: torch.export.load itself (torch 2.14) unpickles it with weights_only=False.
    with warnings.catch_warnings(), pytest.raises(Exception):  # noqa: B017 - whatever it raises afterwards
        warnings.simplefilter("ignore")
        torch.export.load(hostile)
    assert (tmp_path / "code-ran").exists()


def test_archives_naming_arbitrary_code_are_refused(tmp_path: Path) -> None:
    _, archive = _export(tmp_path / "exported")
    with zipfile.ZipFile(archive) as source:
        name = next(n for n in source.namelist() if n.endswith("models/model.json"))
        text = source.read(name).decode()
    assert "torch.ops.aten.conv2d.default" in text and "expr_str" in text  # what the edits below replace
    calls_torch_load = text.replace("torch.ops.aten.conv2d.default", "torch.load", 1)
    evals_code = text.replace("Symbol(", "__import__('os').getcwd() or Symbol(", 1)
    for edited, why in ((calls_torch_load, "torch.load"), (evals_code, "__import__")):
        hostile = _rewritten(archive, {"models/model.json": edited.encode()})
        with pytest.raises(CheckpointError, match=why):
            load_model(f"file:{hostile}", labels=["cat", "dog"])
