"""Synthetic-data mixing (issue 12): the mixed training set has exactly the declared composition, the cache key
follows the fraction and the seed, and ``robustscope study mixing`` runs end to end on the tiny world."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from robustscope.cli import main
from robustscope.config import workspace
from robustscope.data.base import Dataset
from robustscope.engine.result_store import ResultStore
from robustscope.errors import OptionError
from robustscope.train.mixing import (
    DEFAULT_FRACTIONS,
    MIX_FILE,
    mix_counts,
    mixed_dataset,
    mixed_model_key,
    parse_fraction,
    train_mixed,
)


def _split(root: Path, name: str, n: int, classes: int = 4) -> Dataset:
    """A manifest-only split (files need not exist to compose a training set) with a factor column."""
    rows = {"sample_id": [f"{name}-{i:03d}" for i in range(n)], "path": [f"images/{i:03d}.png" for i in range(n)],
            "label": [i % classes for i in range(n)], "background": [f"bg{i % 3}" for i in range(n)]}
    return Dataset(f"synth:w:{name}", root / f"w-{name}-abc", [f"c{k}" for k in range(classes)], pd.DataFrame(rows))


@pytest.mark.parametrize("p", DEFAULT_FRACTIONS)
def test_mixed_set_has_the_declared_composition(tmp_path: Path, p: float | str) -> None:
    narrow, diverse = _split(tmp_path, "train-narrow", 40), _split(tmp_path, "train-diverse", 60)
    mix = mixed_dataset(narrow, diverse, p, seed=3)
    sources = mix.manifest["mix_source"]
    expected_narrow, expected_diverse = (0, 40) if p == "only" else (40, round(float(p) * 40))
    assert (int((sources == "narrow").sum()), int((sources == "diverse").sum())) == (expected_narrow, expected_diverse)
    # every image is a real image of its split: same file, same label, same factors
    for source, split in (("narrow", narrow), ("diverse", diverse)):
        part = mix.manifest[sources == source]
        originals = split.manifest.set_index("sample_id").loc[[s.split("/", 1)[1] for s in part["sample_id"]]]
        assert part["label"].tolist() == originals["label"].tolist()
        assert part["background"].tolist() == originals["background"].tolist()
        for i, row in zip(part.index[:3], range(3), strict=False):
            original = split.manifest.index[split.manifest["sample_id"] == part.at[i, "sample_id"].split("/", 1)[1]]
            assert mix.image_path(i) == split.image_path(int(original[0])), row
    assert mix.manifest["sample_id"].is_unique


def test_diverse_images_are_a_seeded_nested_subset(tmp_path: Path) -> None:
    narrow, diverse = _split(tmp_path, "train-narrow", 40), _split(tmp_path, "train-diverse", 60)

    def chosen(p: float, seed: int) -> list[str]:
        manifest = mixed_dataset(narrow, diverse, p, seed=seed).manifest
        return manifest.loc[manifest["mix_source"] == "diverse", "sample_id"].tolist()

    assert chosen(0.5, 0) == chosen(0.5, 0)  # seeded
    assert chosen(0.5, 0) != chosen(0.5, 1)  # the seed draws other images
    assert set(chosen(0.1, 0)) < set(chosen(0.25, 0)) < set(chosen(1.0, 0))  # nested along p
    assert len(set(chosen(1.0, 0))) == 40  # no image twice


def test_p_zero_is_the_narrow_set(tmp_path: Path) -> None:
    narrow, diverse = _split(tmp_path, "train-narrow", 40), _split(tmp_path, "train-diverse", 60)
    mix = mixed_dataset(narrow, diverse, 0, seed=0)
    assert len(mix) == len(narrow)
    assert [mix.image_path(i) for i in range(len(mix))] == [narrow.image_path(i) for i in range(len(narrow))]
    assert mix.manifest["label"].tolist() == narrow.manifest["label"].tolist()


def test_bad_fractions_are_refused_with_the_fix() -> None:
    with pytest.raises(OptionError, match="needs 80 diverse images but train-diverse has 60"):
        mix_counts(2, 40, 60)
    for bad in ("-0.1", "half", "nan"):
        with pytest.raises(OptionError, match="or 'only'"):
            parse_fraction(bad)



def test_cli_refuses_a_bad_fraction_as_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["study", "mixing", "--world", "tiny", "--fractions", "lots", "--out", "x"])
    assert exit_.value.code == 2
    assert "fraction lots: must be a number >= 0" in capsys.readouterr().err


def test_cache_key_changes_with_fraction_and_seed() -> None:
    base = mixed_model_key(0.1, 0, {"epochs": 20}, "data", "code")
    assert base == mixed_model_key(0.1, 0, {"epochs": 20}, "data", "code")
    assert base != mixed_model_key(0.25, 0, {"epochs": 20}, "data", "code")
    assert base != mixed_model_key(0.1, 1, {"epochs": 20}, "data", "code")
    assert base != mixed_model_key("only", 0, {"epochs": 20}, "data", "code")
    assert base != mixed_model_key(0.1, 0, {"epochs": 20}, "data", "other code")


@pytest.fixture(scope="module")
def tiny_ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One workspace for the tiny-world tests of this module: the splits are rendered once."""
    return tmp_path_factory.mktemp("mixing") / "ws"


def test_train_mixed_on_the_tiny_world_records_and_caches_its_composition(tiny_ws: Path) -> None:
    ws = workspace(tiny_ws)
    kwargs = {"models_dir": ws.models, "renders": ws.renders, "epochs": 1, "workers": 1, "progress": False}
    none = train_mixed("tiny", 0, **kwargs)
    full = train_mixed("tiny", 1, **kwargs)
    assert none != full
    narrow = len(pd.read_csv(next(ws.renders.glob("tiny-train-narrow-*")) / "labels.csv"))
    for folder, expected in ((none, (narrow, 0)), (full, (narrow, narrow))):
        composition = json.loads((folder / MIX_FILE).read_text())
        config = json.loads((folder / "config.json").read_text())
        assert (composition["n_narrow"], composition["n_diverse"]) == expected
        assert config["dataset"]["num_samples"] == sum(expected)
        assert config["training"]["label_smoothing"] == 0.03  # the clean recipe's trainer
    stamp = (full / "model.safetensors").stat().st_mtime_ns
    assert train_mixed("tiny", 1, **kwargs) == full and (full / "model.safetensors").stat().st_mtime_ns == stamp
    assert train_mixed("tiny", 1, seed=1, **kwargs) != full


def test_study_mixing_end_to_end_on_the_tiny_world(tmp_path: Path, tiny_ws: Path) -> None:
    out = tmp_path / "curve"
    argv = ["-q", "--workspace", str(tiny_ws), "study", "mixing", "--world", "tiny", "--fractions", "0", "only",
            "--epochs", "1", "--axes", "calibration", "background_bias", "--n-resamples", "20", "--out", str(out)]
    assert main(argv) == 0
    curve = pd.read_csv(out / "mixing_curve.csv")
    assert sorted(curve["fraction"].astype(str).unique()) == ["0", "only"]
    assert set(curve["column"]) == {"ECE (20 bins)", "BG-gap"}
    assert (curve["ci_low"] <= curve["value"]).all() and (curve["value"] <= curve["ci_high"]).all()
    table = (out / "mixing_curve.md").read_text()
    assert "| only | 0 |" in table and "ECE (20 bins)" in table
    # the curve's numbers are the rows the suite stored for each model
    stored = ResultStore(workspace(tiny_ws).results_db).query(metric="ece20", slice_factor="", shift="none")
    for row in curve[curve["column"] == "ECE (20 bins)"].itertuples():
        model = f"tiny-mix-{row.fraction}"
        assert stored.loc[stored["model"] == model, "value"].iloc[-1] == pytest.approx(row.value)


def test_cli_mitigate_mix_trains_the_declared_mix(tmp_path: Path, tiny_ws: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "m-mix"
    argv = ["-q", "--workspace", str(tiny_ws), "mitigate", "mix", "--world", "tiny", "--fraction", "0.5",
            "--epochs", "1", "--out", str(out)]
    assert main(argv) == 0
    composition = json.loads((out / MIX_FILE).read_text())
    assert composition["n_diverse"] == round(0.5 * composition["n_narrow"]) and composition["fraction"] == "0.5"
    assert f"robustscope run --model file:{out}" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_:
        main(["mitigate", "mix", "--world", "tiny", "--out", str(out)])  # no --fraction
    assert exit_.value.code == 2
