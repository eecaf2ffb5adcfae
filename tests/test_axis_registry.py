"""Every registered robustness axis, one parametrised test each: its record is complete, its typed params load
and refuse typos, its doc page exists, its report view is registered under its name, and it runs (on the tiny
synthetic world, or on release-layout fixtures for the axes that need ImageNet-1k data), writing rows labelled
with its name whose headline columns reach the suite table."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from robustscope.config import Workspace, workspace
from robustscope.errors import SpecError
from robustscope.models import Model, Preprocessing
from robustscope.suites import (
    AxisSpec,
    SuiteSpec,
    axis_names,
    get_axis,
    headlines,
    load_suite,
    run_suite,
    typed_params,
)
from robustscope.suites.axis import Axis, NoParams

ROOT = Path(__file__).resolve().parents[1]
AXES = axis_names()


def test_every_axis_module_is_registered_once() -> None:
    assert len(AXES) == len(set(AXES)) >= 11
    labels = [h.label for _, h in headlines()]
    assert len(labels) == len(set(labels)), "two axes share a suite-table column label"


@pytest.mark.parametrize("name", AXES)
def test_record_is_complete(name: str) -> None:
    record = get_axis(name)
    assert isinstance(record, Axis) and record.name == name
    assert record.title and record.summary and callable(record.run)
    assert re.search(r"\b(19|20)\d\d\b", record.paper), f"{name}: the paper citation needs its year"
    assert record.headlines, f"{name}: an axis puts at least one number in the suite table"


@pytest.mark.parametrize("name", AXES)
def test_params_are_a_frozen_dataclass_whose_defaults_load(name: str) -> None:
    record = get_axis(name)
    params = record.params
    assert dataclasses.is_dataclass(params) and params.__dataclass_params__.frozen  # type: ignore[attr-defined]
    fields = dataclasses.fields(params)
    assert all(f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING for f in fields)
    assert record.default_params() == params()
    # a typo is refused with the known params listed, before any forward pass
    with pytest.raises(SpecError, match="known params of the " + name + " axis: " + (
        re.escape(", ".join(sorted(f.name for f in fields))) if fields else "none")):
        record.parse_params({"not_a_param": 1}, where="x.params")
    # a value of the wrong type is refused, naming the param
    if fields:
        with pytest.raises(SpecError, match=rf"x\.params\.{fields[0].name}: expected"):
            record.parse_params({fields[0].name: object()}, where="x.params")


def test_the_builtin_suites_params_load_typed() -> None:
    from robustscope.suites import builtin_suites

    for suite in builtin_suites():
        for axis in load_suite(suite).axes:
            typed = typed_params(axis)
            assert isinstance(typed, get_axis(axis.axis).params), (suite, axis.axis)


@pytest.mark.parametrize("name", AXES)
def test_doc_page_exists_and_is_indexed(name: str) -> None:
    page = ROOT / get_axis(name).doc
    assert page.is_file(), f"{name}: doc page {page} is missing"
    assert f"`{name}`" in (ROOT / "docs" / "axes" / "README.md").read_text(), f"docs/axes/README.md lacks {name}"


@pytest.mark.parametrize("name", AXES)
def test_report_view_is_registered_under_the_axis_name(name: str) -> None:
    from robustscope.report.suite import AXIS_VIEWS

    assert name in AXIS_VIEWS, f"register {name!r}'s report view in AXIS_VIEWS (robustscope.report.suite)"


# -- every axis runs ----------------------------------------------------------------------------------------


class _Mean(nn.Module):
    """An untrained but deterministic classifier: a fixed linear map of the mean colour (gradients flow)."""

    def __init__(self, classes: int) -> None:
        super().__init__()
        self.linear = nn.Linear(3, classes)
        torch.nn.init.normal_(self.linear.weight, generator=torch.Generator().manual_seed(0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.mean(dim=(2, 3)))


def _model_for(spec: str, ws: Workspace, name: str) -> Model:
    """A model whose labels are the classes of dataset ``spec`` (rendered into ``ws``)."""
    from robustscope.data.registry import load_dataset

    classes = load_dataset(spec, root=ws.renders, progress=False).classes
    return Model.from_module(_Mean(len(classes)), Preprocessing(16, 1.0), list(classes), name=name)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """One workspace for every tiny-world axis: the world is rendered once."""
    return workspace(tmp_path_factory.mktemp("registry-ws"))


def _one_axis(suite: str, axis: str, **params: Any) -> SuiteSpec:
    spec = load_suite(suite).axis(axis)
    return SuiteSpec(f"registry-{axis}", "", (dataclasses.replace(spec, params={**spec.params, **params}),))


def _tiny_case(suite: str, **params: Any) -> Callable[[str, Workspace, Path], dict[str, Any]]:
    def case(axis: str, ws: Workspace, tmp_path: Path) -> dict[str, Any]:
        spec = _one_axis(suite, axis, **params)
        first = next(iter(spec.axes[0].datasets.values())).replace("{world}", "tiny")
        reference = "synth:tiny:test-id" if first.startswith("synth-bench") else first
        return {"model": _model_for(reference, ws, f"tiny-{axis}"), "suite": spec, "world": "tiny", "store": ws}

    return case


def _imagenet_x_case(axis: str, ws: Workspace, tmp_path: Path) -> dict[str, Any]:
    from robustscope.models.labels import imagenet_wnids
    from test_factors import FIXTURE, SAID  # skips this case where the imagenet-x package is missing
    from test_suites import colour_code_model, solid

    wnids = imagenet_wnids()
    for (key, cls, _), (said, confidence) in zip(FIXTURE, SAID, strict=True):
        solid(tmp_path / f"imagenet/val/{wnids[cls]}/{key}.png", said, confidence)
    return {"model": colour_code_model(), "suite": _one_axis("factors", axis), "data_root": tmp_path}


def _geography_case(axis: str, ws: Workspace, tmp_path: Path) -> dict[str, Any]:
    from test_geography import DOLLAR_STREET, write_dollar_street
    from test_suites import colour_code_model

    write_dollar_street(tmp_path / "dataset_dollarstreet", DOLLAR_STREET)
    spec = _one_axis("geography", axis, factor_min_count=0)
    only = dataclasses.replace(spec.axes[0], datasets={"dollar_street": spec.axes[0].datasets["dollar_street"]})
    return {"model": colour_code_model(), "suite": dataclasses.replace(spec, axes=(only,)), "data_root": tmp_path}


def _representation_case(axis: str, ws: Workspace, tmp_path: Path) -> dict[str, Any]:
    spec = _one_axis("representation-offline", axis, k=3, slice_by="none")
    datasets = {role: spec.axes[0].datasets[role] for role in ("train", "test_id")}  # two splits: fast
    only = dataclasses.replace(spec.axes[0], datasets=datasets)
    model = _model_for("synth:tiny:test-id", ws, f"tiny-{axis}")
    return {"model": model, "suite": dataclasses.replace(spec, axes=(only,)), "world": "tiny", "store": ws}


#: How each registered axis is run here. A new axis adds its line (the test below fails until it does).
CASES: dict[str, Callable[[str, Workspace, Path], dict[str, Any]]] = {
    **dict.fromkeys(
        ("shape_bias", "context_bias", "background_bias", "calibration", "ood", "adversarial"),
        _tiny_case("synthetic-clones-offline"),
    ),
    "corruptions": _tiny_case("synthetic-clones-offline", corruptions=["fog", "contrast"], severities=[3]),
    "pug": _tiny_case("pug-offline"),
    "shortcuts": _tiny_case("shortcuts-offline"),
    "imagenet_x": _imagenet_x_case,
    "geography": _geography_case,
    "representation": _representation_case,
    "disentanglement": _tiny_case("disentanglement-offline", dci_train=40, dci_test=20, bins=3),
    "worst_case": _tiny_case("worst-case-offline", budget=3, instances=2, gradient="never", gallery=1),
}


@pytest.mark.parametrize("name", AXES)
def test_axis_runs_and_labels_its_rows(name: str, tiny: Workspace, tmp_path: Path) -> None:
    assert name in CASES, f"add a way to run axis {name!r} to CASES"
    inputs = CASES[name](name, tiny, tmp_path)
    result = run_suite(n_resamples=5, progress=False, **inputs)
    rows = result.table
    assert not rows.empty and not result.skipped, result.skipped
    assert set(rows["axis"]) == {name} and set(rows["suite"]) == {inputs["suite"].name}
    summary = result.summary()
    labels = {h.label for h in get_axis(name).headlines}
    assert labels & set(summary.columns), f"{name}: none of its headline columns {labels} in the suite table"


def test_axis_without_params_takes_none() -> None:
    assert NoParams in {get_axis(a).params for a in AXES}
    with pytest.raises(SpecError, match="known params of the adversarial axis: none"):
        typed_params(AxisSpec("adversarial", {"clean": "folder:x"}, params={"eps": 1}))
