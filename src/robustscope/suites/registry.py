"""The robustness axes a suite can name, resolved lazily to the functions that compute their rows.

An axis function takes ``(ctx: AxisContext, datasets: dict[str, Dataset], spec: AxisSpec)`` and
returns a list of result-row frames (see :mod:`robustscope.suites.axes`). Adding an axis is one
``AXIS_FUNCTIONS.add`` line here and a module with the function.

Example:
    >>> "shape_bias" in AXIS_FUNCTIONS, AXIS_FUNCTIONS.entry("ood").summary[:5]
    (True, 'AUROC')
"""

from __future__ import annotations

from typing import Any

from robustscope.registry import Registry

AXIS_FUNCTIONS: Registry[Any] = Registry("axis")
for _name, _target, _summary in (
    (
        "shape_bias",
        "axes:shape_bias_axis",
        "shape vs texture decisions on cue-conflict images (Geirhos et al., ICLR 2019)",
    ),
    (
        "context_bias",
        "axes:context_bias_axis",
        "accuracy P_k with k uncommon context attributes and its relative drop (FOCUS, ICML 2022)",
    ),
    (
        "background_bias",
        "axes:background_bias_axis",
        "accuracy per background variant and BG-gap (ImageNet-9, Xiao et al., ICLR 2021)",
    ),
    ("calibration", "axes:calibration_axis", "ECE, adaptive and class-wise ECE, NLL, Brier (Guo et al., ICML 2017)"),
    ("ood", "axes:ood_axis", "AUROC, AUPR, FPR@95%TPR of MSP/max-logit/entropy/energy scores, ID positive"),
    (
        "corruptions",
        "axes:corruptions_axis",
        "accuracy per ImageNet-C corruption and severity, mean, mCE (Hendrycks & Dietterich, ICLR 2019)",
    ),
    (
        "adversarial",
        "axes:adversarial_axis",
        "clean and robust accuracy under FGSM/PGD (Goodfellow et al. 2015; Madry et al. 2018)",
    ),
):
    AXIS_FUNCTIONS.add(_name, f"robustscope.suites.{_target}", summary=_summary)
