"""Search every instance of a world split, per factor and jointly, by each method: the worst-case run.

For a box with factors ``f1 … fk`` the run searches the box restricted to each factor alone (the others stay at
the instance's values) and, with ``joint=True``, the whole box; each (box, method) spends exactly ``budget`` renders
per instance. The ``random`` method's candidates are uniform draws from the box, so the same searches give the
average-case accuracy (mean correctness of the draws) next to the worst case (no draw fools the model).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from robustscope.progress import step_bar
from robustscope.worstcase.box import FactorBox
from robustscope.worstcase.oracle import RenderOracle
from robustscope.worstcase.search import InstanceSearch, search_instance

__all__ = ["BoxResult", "WorstCaseRun", "instance_seed", "search_world"]


def instance_seed(seed: int, box: str, method: str, instance: int) -> int:
    """The search seed of one (box, method, instance): independent of the order things run in.

    Example:
        >>> instance_seed(0, "yaw", "cma", 3) == instance_seed(0, "yaw", "cma", 3) != instance_seed(0, "yaw", "cma", 4)
        True
    """
    import hashlib

    digest = hashlib.sha256(f"{seed}/{box}/{method}/{instance}".encode()).hexdigest()
    return int(digest[:8], 16)


@dataclass
class BoxResult:
    """One (box, method): the search of every instance, in instance order."""

    box: FactorBox
    method: str
    searches: list[InstanceSearch]

    @property
    def fooled(self) -> np.ndarray:
        """Per instance: did some render in the budget fool the model?"""
        return np.array([s.fooled for s in self.searches], dtype=bool)

    @property
    def average_correct(self) -> np.ndarray:
        """Per instance: the fraction of its renders the model got right."""
        return np.array([s.accuracy for s in self.searches], dtype=float)


@dataclass
class WorstCaseRun:
    """Everything a worst-case run measured; :mod:`robustscope.suites.worst_case` turns it into result rows."""

    instances: list[dict[str, Any]]
    clean_margins: np.ndarray
    box: FactorBox
    budget: int
    seed: int
    variant: str
    results: list[BoxResult] = field(default_factory=list)

    def result(self, box: str, method: str) -> BoxResult:
        """The result of one (box name, method)."""
        for r in self.results:
            if r.box.name == box and r.method == method:
                return r
        raise KeyError(f"{box}/{method}")


def boxes_to_search(box: FactorBox, per_factor: bool = True, joint: bool = True) -> list[FactorBox]:
    """Each factor's own box (``per_factor``, when the box has several), then the whole box (``joint``).

    Example:
        >>> from robustscope.worstcase.box import parse_box
        >>> [b.name for b in boxes_to_search(parse_box({"yaw": {"offset": [-9, 9]}, "texture": "all"}))]
        ['yaw', 'texture', 'all']
        >>> [b.name for b in boxes_to_search(parse_box({"yaw": {"offset": [-9, 9]}}))]
        ['all']
    """
    boxes = [box.only(f) for f in box.factors] if per_factor and len(box.factors) > 1 else []
    if joint or not boxes:
        boxes.append(box)
    return boxes


def search_world(
    oracle: RenderOracle,
    instances: Sequence[dict[str, Any]],
    box: FactorBox,
    budget: int,
    methods: Sequence[str] = ("random", "cma"),
    per_factor: bool = True,
    joint: bool = True,
    seed: int = 0,
    progress: bool = True,
    gradient_variant: str | None = None,
    gradient_instances: int = 8,
) -> WorstCaseRun:
    """Search each instance in each box (:func:`boxes_to_search`) by each method at ``budget`` renders each.

    With ``gradient_variant`` (a differentiable Mitsuba variant, :func:`~robustscope.worstcase.gradient.
    differentiable_variant`), boxes whose factors all have gradients are also searched by
    :func:`~robustscope.worstcase.gradient.gradient_search` on the first ``gradient_instances`` instances (method
    ``gradient``; its successes are verified on the oracle's own renderer).

    Example:
        >>> import torch
        >>> from torch import nn
        >>> from robustscope.models import Model, Preprocessing
        >>> from robustscope.synth.spec import load_spec
        >>> from robustscope.worstcase.box import parse_box
        >>> spec = load_spec("tiny").resolve("test-id")
        >>> model = Model.from_module(nn.Sequential(nn.Flatten(), nn.Linear(3072, 4)), Preprocessing(32, crop_pct=1.0),
        ...                           spec.classes)
        >>> run = search_world(RenderOracle(spec, model), spec.samples()[:2], parse_box({"yaw": {"offset": [-9, 9]}}),
        ...                    budget=3, methods=["random"], progress=False)
        >>> [(r.box.name, r.method, [s.renders for s in r.searches]) for r in run.results]
        [('all', 'random', [3, 3])]
    """
    instances = list(instances)
    clean = oracle.margins(instances) if instances else np.zeros(0)
    run = WorstCaseRun(instances, clean, box, budget, seed, oracle.variant)
    boxes = boxes_to_search(box, per_factor, joint)
    graded = [b for b in boxes if gradient_variant and _differentiable(b)]
    total = len(boxes) * len(methods) * len(instances) + len(graded) * min(gradient_instances, len(instances))
    with step_bar(progress, "worst-case search", total) as advance:
        for searched in boxes:
            for method in methods:
                searches = []
                for i, record in enumerate(instances):
                    searches.append(search_instance(record, searched, oracle, budget, method,  # type: ignore[arg-type]
                                                    seed=instance_seed(seed, searched.name, method, i)))  # fmt: skip
                    advance(1, f"worst-case search: {searched.name} / {method}")
                run.results.append(BoxResult(searched, method, searches))
            if searched in graded:
                from robustscope.worstcase.gradient import gradient_search

                searches = []
                for record in instances[:gradient_instances]:
                    searches.append(gradient_search(oracle.spec, record, searched, oracle.model, budget,
                                                    str(gradient_variant), verify=oracle))  # fmt: skip
                    advance(1, f"worst-case search: {searched.name} / gradient")
                run.results.append(BoxResult(searched, "gradient", searches))
    return run


def _differentiable(box: FactorBox) -> bool:
    """Whether the gradient search can move every factor of ``box``."""
    from robustscope.worstcase.gradient import DIFFERENTIABLE_FACTORS

    return not box.categorical and all(d.factor in DIFFERENTIABLE_FACTORS for d in box.continuous)
