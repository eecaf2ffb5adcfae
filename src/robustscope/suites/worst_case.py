"""The ``worst_case`` axis: how often does a small natural change (pose, light, background, texture) that breaks
the model exist, and how far from the instance is it? Searched by rendering, within a declared factor box.

For each instance of a synthetic split (the role's dataset, ``synth:WORLD:SPLIT``), the search
(:mod:`robustscope.worstcase`) spends exactly ``budget`` renders per instance, per box (each factor alone and the
whole box) and per method (``random``, ``cma``, and ``gradient`` through the differentiable renderer where it
runs). Rows (CIs: percentile bootstrap over instances):

- ``clean_acc`` (shift ``none``): the instances' own renders;
- ``average_acc`` (shift ``random``): mean accuracy over uniform draws from the box — the average case;
- ``worst_case_acc`` (shift = the method): fraction of instances for which no render in the budget fools the model;
- ``renders_per_success``: renders up to the first fooling one, over fooled instances;
- ``breaking_distance``: median L∞ distance (normalised per factor by the box) of the closest fooling render, over
  fooled instances (every instance's distance is in the protocol);
- ``example``: up to ``gallery`` found examples per box and method, each with its spec (factor values, world,
  variant, spp, seed) and both renders, the original and the one re-rendered from the found factor values alone.

Rows of the whole box are whole-set rows; rows of one factor's box are sliced by ``box`` = the factor. The box and
the budget are in every row's protocol. Where no differentiable variant runs, a ``gradient_available`` row (0)
says why.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from robustscope.errors import SpecError
from robustscope.suites.axis import Axis, Headline

if TYPE_CHECKING:
    from robustscope.data.base import Dataset
    from robustscope.engine.evaluation import Evaluation
    from robustscope.suites.axis_spec import AxisSpec
    from robustscope.synth.spec import WorldSpec
    from robustscope.worstcase.run import BoxResult, WorstCaseRun

__all__ = ["AXIS", "DEFAULT_BOX", "Params", "worst_case_axis", "worst_case_rows"]

log = logging.getLogger(__name__)

PAPER = ("Alcorn et al., Strike (with) a Pose: Neural Networks Are Easily Fooled by Strange Poses of Familiar "
         "Objects, CVPR 2019; Engstrom et al., Exploring the Landscape of Spatial Robustness, ICML 2019")
DISTANCE = "L-inf of per-factor distances normalised by the box (categorical: 0 same, 1 changed)"
#: The default factor box: the pose, the light's strength, the background and the texture.
DEFAULT_BOX: dict[str, Any] = {
    "yaw": {"offset": [-30.0, 30.0]},
    "light_intensity": {"scale": [0.5, 2.0]},
    "background": "all",
    "texture": "all",
}


@dataclass(frozen=True)
class Params:
    """Params of the ``worst_case`` axis.

    Attributes:
        box: the factor box (docs/worst-case.md: ``offset``/``scale``/``range`` bounds, or a set of values).
        budget: renders per instance, per box and per method (exactly).
        instances: how many of the split's instances to search (its first ones).
        methods: black-box methods (``random``, ``cma``).
        gradient: ``auto`` (where a differentiable variant runs), ``never``.
        gradient_instances: instances the (slow) gradient search covers: the first ones of the searched instances.
        per_factor: also search each factor's box alone (the average- vs worst-case comparison per factor).
        gallery: found examples stored per box and method (with both renders).

    Example:
        >>> Params(budget=0)
        Traceback (most recent call last):
        ...
        robustscope.errors.SpecError: budget: at least one render per instance, got 0
    """

    box: Mapping[str, Any] = field(default_factory=lambda: dict(DEFAULT_BOX))
    budget: int = 64
    instances: int = 32
    methods: tuple[str, ...] = ("random", "cma")
    gradient: Literal["auto", "never"] = "auto"
    gradient_instances: int = 4
    per_factor: bool = True
    gallery: int = 3

    def __post_init__(self) -> None:
        from robustscope.worstcase.box import parse_box
        from robustscope.worstcase.search import METHODS

        if self.budget < 1:
            raise SpecError(f"budget: at least one render per instance, got {self.budget}")
        if self.instances < 1:
            raise SpecError(f"instances: at least one instance to search, got {self.instances}")
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown or not self.methods:
            raise SpecError(f"methods: a list of {', '.join(METHODS)}, got {list(self.methods)}")
        parse_box(self.box)  # a bad box fails when the suite is loaded, before any render


def _png_b64(image: np.ndarray) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def _protocol(run: WorstCaseRun, result: BoxResult, spec: WorldSpec) -> dict[str, Any]:
    return {"box": result.box.describe(), "box_name": result.box.name, "budget": run.budget, "method": result.method,
            "world": spec.name, "split": spec.split, "variant": run.variant, "spp": spec.spp, "seed": run.seed,
            "resolution": spec.resolution, "instances": len(result.searches), "paper": PAPER,
            "distance": DISTANCE}  # fmt: skip


def _mean_ci(ev: Evaluation, values: np.ndarray) -> tuple[float, tuple[float, float]]:
    if len(values) == 0:
        return float("nan"), (float("nan"), float("nan"))
    return float(np.mean(values)), ev.bootstrap(lambda v: float(np.mean(v)), values)


def _result_rows(ev: Evaluation, run: WorstCaseRun, result: BoxResult, spec: WorldSpec,
                 oracle_image: Any, gallery: int) -> list[dict[str, Any]]:  # fmt: skip
    """The rows of one (box, method); ``oracle_image(record)`` renders a record (for the gallery)."""
    protocol = _protocol(run, result, spec)
    whole = result.box.name == "all"
    sliced = {"slice_factor": "" if whole else "box", "slice_value": "" if whole else result.box.name}
    n = len(result.searches)
    rows: list[dict[str, Any]] = []
    robust = (~result.fooled).astype(float)
    value, ci = _mean_ci(ev, robust)
    rows.append(ev.custom_row("worst_case_acc", value, n, {**protocol, "name": "worst_case_acc"}, ci, **sliced))
    if result.method == "random":
        value, ci = _mean_ci(ev, result.average_correct)
        rows.append(ev.custom_row("average_acc", value, n, {**protocol, "name": "average_acc"}, ci, **sliced))
    fooled = [s for s in result.searches if s.fooled]
    to_break = np.array([s.renders_to_break for s in fooled], dtype=float)
    value, ci = _mean_ci(ev, to_break)
    rows.append(ev.custom_row("renders_per_success", value, len(fooled),
                              {**protocol, "name": "renders_per_success"}, ci, **sliced))  # fmt: skip
    distances = np.array([s.breaking_distance for s in fooled], dtype=float)
    median = float(np.median(distances)) if len(distances) else float("nan")
    dci = ev.bootstrap(lambda v: float(np.median(v)), distances) if len(distances) else (float("nan"),) * 2
    rows.append(ev.custom_row("breaking_distance", median, len(fooled),
                              {**protocol, "name": "breaking_distance (median over fooled instances)",
                               "distances": [round(float(d), 4) for d in distances]}, dci, **sliced))  # fmt: skip
    if result.method == "gradient":
        rows[-1]["protocol"] = json.dumps({**json.loads(rows[-1]["protocol"]), "verification_renders": sum(
            int(s.extra.get("verification_renders", 0)) for s in result.searches)}, sort_keys=True)
    rows.extend(_examples(ev, run, result, spec, protocol, oracle_image, gallery))
    return rows


def _examples(ev: Evaluation, run: WorstCaseRun, result: BoxResult, spec: WorldSpec, protocol: dict[str, Any],
              oracle_image: Any, gallery: int) -> list[dict[str, Any]]:  # fmt: skip
    """``example`` rows: the closest fooling render of the first ``gallery`` fooled instances, re-rendered."""
    from robustscope.worstcase.oracle import example_spec

    rows = []
    fooled = [(i, s) for i, s in enumerate(result.searches) if s.fooled][:gallery]
    for i, search in fooled:
        index = search.breaking_index
        assert index is not None
        found, worst = search.candidates[index], search.candidates[search.worst_index]
        example = {**protocol, "name": "example", "instance": i, "margin": float(search.margins[index]),
                   "worst_margin": float(search.margins[search.worst_index]),
                   "spec": example_spec(spec, found, run.variant), "original": search.original,
                   "worst_factors": worst, "per_factor_distance": result.box.distances(search.original, found),
                   "image": _png_b64(oracle_image(found)), "original_image": _png_b64(oracle_image(search.original))}
        rows.append(ev.custom_row("example", float(search.distances[index]), 1, example, slice_factor="instance",
                                  slice_value=f"{result.box.name}/{i}"))  # fmt: skip
    return rows


def worst_case_rows(ev: Evaluation, run: WorstCaseRun, spec: WorldSpec, oracle_image: Any,
                    gallery: int = 3, gradient_note: str = "") -> pd.DataFrame:  # fmt: skip
    """Every row of one run: the clean accuracy, then each (box, method)'s rows; ``gradient_note`` (why the
    gradient search did not run) becomes a ``gradient_available`` row.

    Example:
        >>> # worst_case_rows(ev, search_world(oracle, instances, box, 64), spec, oracle.image)
    """
    clean = (run.clean_margins >= 0).astype(float)
    value, ci = _mean_ci(ev, clean)
    base = {"world": spec.name, "split": spec.split, "variant": run.variant, "spp": spec.spp,
            "box": run.box.describe(), "budget": run.budget}  # fmt: skip
    rows = [{**ev.custom_row("clean_acc", value, len(clean), {**base, "name": "clean_acc"}, ci), "_shift": "none"}]
    for result in run.results:
        rows.extend({**row, "_shift": result.method}
                    for row in _result_rows(ev, run, result, spec, oracle_image, gallery))  # fmt: skip
    if gradient_note:
        rows.append({**ev.custom_row("gradient_available", 0.0, 0, {**base, "name": "gradient_available",
                                                                   "reason": gradient_note}), "_shift": "gradient"})
    return pd.DataFrame(rows)


def _world_split(dataset: Dataset) -> WorldSpec:
    """The resolved world split a ``synth:`` dataset was rendered from (its ``world.json``)."""
    from robustscope.synth.spec import WorldSpec

    info_path = Path(dataset.root) / "world.json"
    if not info_path.is_file():
        raise SpecError(f"axis worst_case: {dataset.name} is not a rendered world split (no world.json); give a "
                        "synth:WORLD:SPLIT dataset")  # fmt: skip
    return WorldSpec.from_dict(json.loads(info_path.read_text())["spec"])


def worst_case_axis(ev: Evaluation, datasets: dict[str, Dataset], spec: AxisSpec, params: Params) -> list[pd.DataFrame]:
    """Search each dataset's instances (its world split's sample records) and return the rows.

    Example:
        >>> # run_suite("file:model", "worst-case-offline", world="tiny")
    """
    from robustscope.worstcase.box import parse_box
    from robustscope.worstcase.oracle import RenderOracle
    from robustscope.worstcase.run import search_world

    frames = []
    box = parse_box(params.box)
    variant, note = None, ""
    if params.gradient == "auto":
        from robustscope.worstcase.gradient import differentiable_variant

        variant, why = differentiable_variant()
        if variant is None:
            note = f"gradient search skipped: {why}"
            log.warning("worst_case: %s", note)
    else:
        note = "gradient search skipped: params.gradient is 'never'"
    for dataset in datasets.values():
        world = _world_split(dataset)
        oracle = RenderOracle(world, ev.model)
        run = search_world(oracle, world.samples()[: params.instances], box, params.budget, params.methods,
                           per_factor=params.per_factor, seed=ev.seed, progress=ev.runner.progress,
                           gradient_variant=variant, gradient_instances=params.gradient_instances)  # fmt: skip
        table = worst_case_rows(ev, run, world, oracle.image, params.gallery, note)
        key = "worst-case:" + hashlib.sha256(
            json.dumps([ev.model_fingerprint, world.fingerprint("worst-case"), box.describe(), params.budget,
                        params.instances, ev.seed], sort_keys=True, default=str).encode()).hexdigest()[:16]  # fmt: skip
        for shift, part in table.groupby("_shift", sort=False):
            frames.append(ev.rows(part.drop(columns="_shift"), dataset, str(shift), key))
    return frames


AXIS = Axis(
    name="worst_case",
    title="Worst-case natural shifts",
    summary="worst-case vs average accuracy within a factor box (pose, light, background, texture) by search",
    paper=PAPER,
    params=Params,
    run=worst_case_axis,
    headlines=(Headline("worst_case_acc", "cma", "worst-case top-1 (CMA-ES)"),
               Headline("average_acc", "random", "average top-1 (box)")),
    doc="docs/axes/worst_case.md",
)
