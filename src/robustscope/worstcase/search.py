"""Black-box worst-case search of one instance within a factor box, at an exact rendering budget.

The objective is a *scorer*: a function from a batch of candidate records to the model's margins on their renders
(true-class logit minus the best other class's; below 0 the model is fooled). Two searches, each spending exactly
``budget`` evaluations (renders) per instance — a :class:`Budget` refuses one more:

- **random**: ``budget`` candidates drawn uniformly from the box (also the average-case estimate: the mean of
  their correctness is the accuracy under random sampling of the box);
- **cma**: CMA-ES (the ``cmaes`` package) over the continuous factors in box coordinates ``[0, 1]^d``, started at
  the instance's own values with step 0.3. Categorical factors are not relaxed into fake continuous ones: each has
  its own categorical distribution, uniform at first, which every generation moves halfway towards the value
  frequencies of the generation's better half (a cross-entropy update, floored at ``0.1 / k`` so no value is
  ruled out). CMA-ES needs two dimensions or more, so a single continuous factor is padded with one the objective
  ignores; a box with no continuous factor runs the categorical update alone. The last generation is cut to what
  is left of the budget (and not told to CMA-ES).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from robustscope.errors import MissingDependencyError, RobustscopeError
from robustscope.worstcase.box import FactorBox

__all__ = ["METHODS", "Budget", "BudgetExceededError", "InstanceSearch", "Scorer", "search_instance"]

#: A batch of candidate records -> the model's margins on their renders (below 0: fooled).
Scorer = Callable[[list[dict[str, Any]]], np.ndarray]
METHODS = ("random", "cma")
CMA_SIGMA = 0.3


class BudgetExceededError(RobustscopeError):
    """A search asked for more renders than its budget."""


@dataclass
class Budget:
    """Counts evaluations and refuses any beyond ``limit``.

    Example:
        >>> budget = Budget(2, lambda batch: np.zeros(len(batch)))
        >>> budget([{}, {}]).tolist(), budget.used
        ([0.0, 0.0], 2)
        >>> budget([{}])
        Traceback (most recent call last):
        ...
        robustscope.worstcase.search.BudgetExceededError: search budget: 1 more render would exceed the budget of 2 (2 used)
    """  # noqa: E501

    limit: int
    scorer: Scorer
    used: int = 0

    @property
    def left(self) -> int:
        return self.limit - self.used

    def __call__(self, batch: list[dict[str, Any]]) -> np.ndarray:
        if len(batch) > self.left:
            raise BudgetExceededError(f"search budget: {len(batch)} more render would exceed the budget of "
                                      f"{self.limit} ({self.used} used)")  # fmt: skip
        self.used += len(batch)
        margins = np.asarray(self.scorer(batch), dtype=float)
        if margins.shape != (len(batch),):
            raise RobustscopeError(f"search scorer: returned {margins.shape} margins for {len(batch)} candidates")
        return margins


@dataclass
class InstanceSearch:
    """Every candidate one search evaluated for one instance, in order, with the model's margins.

    Example:
        >>> s = InstanceSearch("random", {"yaw": 0.0}, [{"yaw": 5.0}, {"yaw": 25.0}], np.array([0.3, -0.1]), [0.1, 0.5])
        >>> s.fooled, s.renders_to_break, s.breaking_distance, s.worst_index
        (True, 2, 0.5, 1)
    """

    method: str
    original: dict[str, Any]
    candidates: list[dict[str, Any]]
    margins: np.ndarray
    distances: list[float]
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def renders(self) -> int:
        return len(self.candidates)

    @property
    def fooled(self) -> bool:
        """Whether some candidate fooled the model (a margin below 0)."""
        return bool((self.margins < 0).any())

    @property
    def renders_to_break(self) -> int | None:
        """Renders spent up to and including the first fooling candidate (None: none fooled)."""
        hits = np.flatnonzero(self.margins < 0)
        return int(hits[0]) + 1 if len(hits) else None

    @property
    def worst_index(self) -> int:
        """The candidate with the lowest margin."""
        return int(np.argmin(self.margins))

    @property
    def breaking_index(self) -> int | None:
        """The fooling candidate closest to the instance (ties: the lower margin)."""
        hits = np.flatnonzero(self.margins < 0)
        if not len(hits):
            return None
        return int(min(hits, key=lambda i: (self.distances[i], self.margins[i])))

    @property
    def breaking_distance(self) -> float | None:
        """Normalised (L∞) distance of the closest fooling candidate; None when none fooled."""
        index = self.breaking_index
        return None if index is None else float(self.distances[index])

    @property
    def accuracy(self) -> float:
        """Fraction of the candidates the model got right (the average case, for random candidates)."""
        return float((self.margins >= 0).mean())


#: What a search returns: the candidates in the order they were rendered, and their margins.
Evaluated = tuple[list[dict[str, Any]], np.ndarray]


def _random(original: Mapping[str, Any], box: FactorBox, budget: Budget, rng: np.random.Generator,
            batch_size: int) -> Evaluated:  # fmt: skip
    seen: list[dict[str, Any]] = []
    margins: list[float] = []
    while budget.left:
        batch = [box.sample(original, rng) for _ in range(min(batch_size, budget.left))]
        margins.extend(budget(batch))
        seen.extend(batch)
    return seen, np.asarray(margins, dtype=float)


def _cma(original: Mapping[str, Any], box: FactorBox, budget: Budget, rng: np.random.Generator,
         popsize: int | None) -> Evaluated:  # fmt: skip
    try:
        from cmaes import CMA
    except ImportError:
        raise MissingDependencyError("search method 'cma' needs the cmaes package: pip install "
                                     "'robustscope[worstcase]' (or use method 'random')") from None

    n_cont = len(box.continuous)
    n_dims = max(n_cont, 2)  # cmaes needs two dimensions: pad one the objective ignores
    optimizer = None
    if n_cont:
        start = np.full(n_dims, 0.5)
        start[:n_cont] = np.clip(box.to_unit(original, original), 0.0, 1.0)
        bounds = np.tile([0.0, 1.0], (n_dims, 1))
        optimizer = CMA(mean=start, sigma=CMA_SIGMA, bounds=bounds, seed=int(rng.integers(2**31 - 1)),
                        population_size=popsize)  # fmt: skip
    size = optimizer.population_size if optimizer is not None else (popsize or 8)
    probs = [np.full(len(d.values), 1.0 / len(d.values)) for d in box.categorical]
    seen: list[dict[str, Any]] = []
    margins: list[float] = []
    while budget.left:
        n = min(size, budget.left)
        xs = [optimizer.ask() if optimizer is not None else np.zeros(0) for _ in range(n)]
        picks = [[int(rng.choice(len(p), p=p)) for p in probs] for _ in range(n)]
        batch = [
            box.candidate(original, x[:n_cont], [d.values[i] for d, i in zip(box.categorical, pick, strict=True)])
            for x, pick in zip(xs, picks, strict=True)
        ]
        scores = budget(batch)
        seen.extend(batch)
        margins.extend(scores)
        if n < size:
            break  # the budget's last, partial generation: nothing left to spend on what CMA-ES would learn
        if optimizer is not None:
            optimizer.tell(list(zip(xs, scores.tolist(), strict=True)))
        elite = np.argsort(scores)[: max(1, n // 2)]
        for j, p in enumerate(probs):
            freq = np.bincount([picks[e][j] for e in elite], minlength=len(p)) / len(elite)
            floor = 0.1 / len(p)
            p[:] = np.maximum(0.5 * p + 0.5 * freq, floor)
            p /= p.sum()
    return seen, np.asarray(margins, dtype=float)


def search_instance(
    original: Mapping[str, Any],
    box: FactorBox,
    scorer: Scorer,
    budget: int,
    method: Literal["random", "cma"] = "cma",
    seed: int = 0,
    batch_size: int = 16,
    popsize: int | None = None,
) -> InstanceSearch:
    """Search the box around ``original`` for candidates that fool the model, spending exactly ``budget`` renders.

    Example:
        >>> from robustscope.worstcase.box import parse_box
        >>> box = parse_box({"yaw": {"offset": [-30, 30]}})
        >>> wrong_past_20 = lambda batch: np.array([20.0 - c["yaw"] for c in batch])  # fooled when yaw > 20
        >>> found = search_instance({"yaw": 0.0}, box, wrong_past_20, budget=24, method="cma")
        >>> found.renders, found.fooled, found.breaking_distance >= 20 / 60
        (24, True, True)
    """
    if budget < 1:
        raise RobustscopeError(f"search budget: at least one render per instance, got {budget}")
    if method not in METHODS:
        raise RobustscopeError(f"search method: {method!r} is not one of {', '.join(METHODS)}")
    rng = np.random.default_rng(seed)
    counted = Budget(budget, scorer)
    if method == "random":
        candidates, margins = _random(original, box, counted, rng, batch_size)
    else:
        candidates, margins = _cma(original, box, counted, rng, popsize)
    distances = [box.distance(original, c) for c in candidates]
    return InstanceSearch(method, dict(original), candidates, margins, distances)
