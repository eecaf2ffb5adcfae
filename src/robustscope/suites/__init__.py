"""robustscope.suites: declarative sets of robustness axes, run for a model with one call.

Example:
    >>> from robustscope.suites import builtin_suites, load_suite
    >>> {'synthetic-clones', 'synthetic-clones-offline'} <= set(builtin_suites())
    True
    >>> [a.axis for a in load_suite("synthetic-clones").axes][-2:]
    ['corruptions', 'adversarial']
"""

from robustscope.suites.run import SuiteResult, run_suite, suite_summary
from robustscope.suites.spec import AXES, AxisSpec, SuiteSpec, builtin_suites, load_suite

__all__ = ["AXES", "AxisSpec", "SuiteResult", "SuiteSpec", "builtin_suites", "load_suite", "run_suite", "suite_summary"]
