"""The robustness axes a suite can name, resolved lazily to the functions that compute their rows.

An axis function takes ``(ctx: AxisContext, datasets: dict[str, Dataset], spec: AxisSpec)`` and
returns a list of result-row frames (see :mod:`robustscope.suites.axes`). Adding an axis is one
``AXIS_FUNCTIONS.add`` line here and a module with the function; that module may define
``HEADLINES`` (rows of ``(axis, metric, shift kind, column label)``) for the suite's main table.

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
    ("imagenet_x", "factors:imagenet_x_axis",
     "accuracy, error ratio and ECE per ImageNet-X factor of variation (Idrissi et al., ICLR 2023)"),
    ("geography", "geography:geography_axis",
     "accuracy per region, income and country, disparities (Dollar Street, GeoDE; Richards et al. 2023)"),
    ("shortcuts", "shortcuts:shortcuts_axis",
     "UrbanCars group accuracies and shortcut gaps, ImageNet-W gaps (Li et al., Whac-A-Mole, CVPR 2023)"),
    ("pug", "pug:pug_axis", "accuracy per controlled factor value on PUG datasets (Bordes et al., NeurIPS 2023)"),
):
    AXIS_FUNCTIONS.add(_name, f"robustscope.suites.{_target}", summary=_summary)


def axis_module(axis: str) -> Any:
    """The module that defines an axis's function (it may also define ``HEADLINES`` for the suite table).

    Example:
        >>> axis_module("ood").__name__
        'robustscope.suites.axes'
    """
    import importlib

    return importlib.import_module(str(AXIS_FUNCTIONS.entry(axis).target).partition(":")[0])
