"""robustscope.suites: declarative sets of robustness axes, run for a model with one call.

Each axis is one module with one record (:class:`Axis`: name, title, summary, paper, typed params, run
function, headlines, doc page), registered once in :mod:`robustscope.suites.registry`.

Example:
    >>> from robustscope.suites import builtin_suites, get_axis, load_suite
    >>> {'synthetic-clones', 'synthetic-clones-offline'} <= set(builtin_suites())
    True
    >>> [a.axis for a in load_suite("synthetic-clones").axes][-2:]
    ['corruptions', 'adversarial']
    >>> get_axis("shape_bias").title
    'Shape bias'
"""

from robustscope.suites.axis import Axis, Headline, NoParams
from robustscope.suites.axis_spec import AxisSpec
from robustscope.suites.registry import axis_names, get_axis, register_axis
from robustscope.suites.run import SuiteResult, headlines, run_suite, suite_summary
from robustscope.suites.spec import AXES, SuiteSpec, builtin_suites, load_suite, typed_params

__all__ = [
    "AXES",
    "Axis",
    "AxisSpec",
    "Headline",
    "NoParams",
    "SuiteResult",
    "SuiteSpec",
    "axis_names",
    "builtin_suites",
    "get_axis",
    "headlines",
    "load_suite",
    "register_axis",
    "run_suite",
    "suite_summary",
    "typed_params",
]
