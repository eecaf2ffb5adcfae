"""robustscope.worstcase: search the synthetic world's factors for the natural changes that break a model.

A :class:`~robustscope.worstcase.box.FactorBox` declares how far each factor of an instance may move (yaw ± 30°,
light × 0.5 … 2, a set of backgrounds); :func:`~robustscope.worstcase.search.search_instance` spends an exact
rendering budget per instance by random search or CMA-ES (black box), and
:func:`~robustscope.worstcase.gradient.gradient_search` by projected gradient steps through Mitsuba's
differentiable renderer where ``llvm_ad_rgb`` or ``cuda_ad_rgb`` runs. Every example is a record of factor values,
re-rendered from them alone (:func:`~robustscope.worstcase.oracle.render_example`). The ``worst_case`` axis
(:mod:`robustscope.suites.worst_case`) turns a run into result rows; docs/worst-case.md has the protocol.

Example:
    >>> from robustscope.worstcase import parse_box
    >>> parse_box({"yaw": {"offset": [-30, 30]}, "background": "all"}).factors
    ['yaw', 'background']
"""

from __future__ import annotations

from robustscope.worstcase.box import FactorBox, parse_box
from robustscope.worstcase.oracle import RenderOracle, example_spec, render_example
from robustscope.worstcase.run import WorstCaseRun, search_world
from robustscope.worstcase.search import InstanceSearch, search_instance

__all__ = [
    "FactorBox",
    "InstanceSearch",
    "RenderOracle",
    "WorstCaseRun",
    "example_spec",
    "parse_box",
    "render_example",
    "search_instance",
    "search_world",
]
