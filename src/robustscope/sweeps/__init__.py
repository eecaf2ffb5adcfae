"""Sweeps: models × suites × (worlds or data roots) from one YAML file, every cell cached, fits across the models.

Example:
    >>> from robustscope.sweeps import SweepSpec
    >>> SweepSpec.from_dict({"models": ["file:a", "file:b"], "suites": ["synthetic-clones-offline"]}).cells()[1].model
    'file:b'
"""

from robustscope.sweeps.run import CellOutcome, SweepResult, run_sweep
from robustscope.sweeps.spec import SuiteEntry, SweepCell, SweepSpec, SweepSpecError, load_sweep

__all__ = ["CellOutcome", "SuiteEntry", "SweepCell", "SweepResult", "SweepSpec", "SweepSpecError", "load_sweep",
           "run_sweep"]
