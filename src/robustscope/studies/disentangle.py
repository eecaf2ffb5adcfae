"""``robustscope study disentangle``: β-VAE vs β-VAE + HFS trained on correlated factors, scored on uncorrelated ones.

The experiment of Roth et al., "Disentanglement of Correlated Factors via Hausdorff Factorized Support" (ICLR
2023), on the rendered world: the world's ``disentangle`` split varies five factors independently (shape, yaw,
size, horizontal position, light direction; everything else fixed). Training batches are drawn with the
correlated sampler (:func:`~robustscope.represent.hfs.correlation_sampler`: factor pairs correlated with σ = 0.4
weak, 0.1 medium, 0.04 strong; ``none`` = uniform), the model is the reference's ``vae_locatello`` β-VAE
(:mod:`robustscope.represent.vae`; β = 1) or β-VAE + HFS (the reference README's β = 0, γ = 300), and the
posterior means on the uncorrelated ``disentangle-test`` split are scored with DCI-Disentanglement and MIG
(:mod:`robustscope.metrics.disentanglement`).

Per (correlation, method): the mean over seeds with a Student-t 95% CI over seeds; per correlation: HFS − β-VAE
DCI-D with a Welch t-interval, and the relative improvement (HFS/β-VAE − 1) with that interval divided by the
β-VAE mean. Departures (2 CPU cores): a few thousand iterations (``--iterations``, default
:data:`~robustscope.represent.vae.DEFAULT_ITERATIONS`) instead of the reference's hundreds of thousands, and
a few seeds: the numbers answer "does HFS help at this scale", not "does it reproduce the paper's".
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from robustscope.studies.base import Study

__all__ = ["FACTOR_COLUMNS", "STUDY", "DisentangleResult", "run_disentangle", "t_interval", "write_disentangle"]

#: The ``disentangle`` split's varying factors, as ``labels.csv`` columns.
FACTOR_COLUMNS = ("character_label", "character_rotation_yaw", "character_scale", "position_x", "light_azimuth")
#: The factor pairs the correlated sampler ties together (by index into :data:`FACTOR_COLUMNS`): yaw–size.
DEFAULT_PAIRS = ((1, 2),)
#: The correlation strengths in order (the x axis of the study's charts).
CORRELATION_LEVELS = {"none": 0, "weak": 1, "medium": 2, "strong": 3}
LEVEL_TITLE = "correlation in training (0 none, 1 weak, 2 medium, 3 strong)"
METHODS = {"betavae": {"beta": 1.0, "gamma": 0.0}, "hfs": {"beta": 0.0, "gamma": 300.0}}


def t_interval(values: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """Student-t interval of the mean of ``values`` (NaN bounds for fewer than two values).

    Example:
        >>> [round(v, 3) for v in t_interval(np.array([1.0, 2.0, 3.0]))]  # 2 ± 4.303 · 1/√3
        [-0.484, 4.484]
    """
    from scipy import stats

    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return float("nan"), float("nan")
    half = stats.t.ppf((1 + confidence) / 2, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return float(values.mean() - half), float(values.mean() + half)


def _welch(a: np.ndarray, b: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    from scipy import stats

    if len(a) < 2 or len(b) < 2:
        return float("nan"), float("nan")
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    if va + vb == 0:
        return float(a.mean() - b.mean()), float(a.mean() - b.mean())
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = stats.t.ppf((1 + confidence) / 2, df) * np.sqrt(va + vb)
    return float(a.mean() - b.mean() - half), float(a.mean() - b.mean() + half)


@dataclass
class DisentangleResult:
    """Per (correlation, method, seed) scores and seconds; the summary and comparison tables."""

    iterations: int
    scores: list[dict[str, Any]] = field(default_factory=list)
    summary: pd.DataFrame = field(default_factory=pd.DataFrame)
    comparison: pd.DataFrame = field(default_factory=pd.DataFrame)


def _load(world: str, split: str, renders: Path, progress: bool) -> tuple[Any, np.ndarray]:
    """The split's uint8 images at 64 px and its factor matrix (class as its index)."""
    from robustscope.data.synthetic import load_synth
    from robustscope.models.preprocessing import Preprocessing
    from robustscope.train.trainer import load_images

    data = load_synth(f"{world}:{split}", root=renders, progress=progress)
    frame = pd.read_csv(Path(data.root) / "labels.csv")
    factors = frame[list(FACTOR_COLUMNS)].copy()
    factors["character_label"] = pd.Categorical(factors["character_label"]).codes
    return load_images(data, Preprocessing(64, 1.0)), factors.to_numpy(float)


def run_disentangle(world: str, correlations: list[str], methods: list[str], seeds: tuple[int, ...], renders: Path,
                    *, iterations: int | None = None, pairs: tuple[tuple[int, int], ...] = DEFAULT_PAIRS,
                    num_train: int = 10_000, num_test: int = 5_000, dci_bins: int = 20,
                    progress: bool = True) -> DisentangleResult:  # fmt: skip
    """Train every (correlation, method, seed), score DCI-D and MIG on ``disentangle-test`` (see the module doc).

    Example:
        >>> # result = run_disentangle("tiny", ["none"], ["betavae"], (0,), renders, iterations=10)
    """
    import torch

    from robustscope.metrics.disentanglement import dci, mig
    from robustscope.represent.hfs import CORRELATION_SIGMA, correlation_sampler
    from robustscope.represent.vae import DEFAULT_ITERATIONS, encode, train_vae

    iterations = iterations or DEFAULT_ITERATIONS
    train_images, train_factors = _load(world, "disentangle", renders, progress)
    test_images, test_factors = _load(world, "disentangle-test", renders, progress)
    n_train = min(num_train, len(test_images) * 2 // 3)
    n_test = min(num_test, len(test_images) - n_train)
    result = DisentangleResult(iterations)
    for correlation in correlations:
        sigma = None if correlation == "none" else CORRELATION_SIGMA[correlation]
        for method in methods:
            for seed in seeds:
                started = time.perf_counter()
                sampler = correlation_sampler(train_factors, pairs, sigma, torch.Generator().manual_seed(seed))
                trained = train_vae(train_images, iterations=iterations, sampler=sampler, seed=seed,
                                    progress=progress, **METHODS[method])  # fmt: skip
                latents = encode(trained.model, test_images)
                scores = dci(latents, test_factors, num_train=n_train, num_test=n_test, seed=seed, bins=dci_bins)
                result.scores.append({"correlation": correlation, "method": method, "seed": seed,
                                      "dci_d": scores.disentanglement, "dci_completeness": scores.completeness,
                                      "dci_informativeness": scores.informativeness_test,
                                      "mig": mig(latents, test_factors),
                                      "seconds": time.perf_counter() - started})  # fmt: skip
    result.summary, result.comparison = _tables(pd.DataFrame(result.scores))
    return result


def _tables(scores: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    summary = []
    for (correlation, method), group in scores.groupby(["correlation", "method"], sort=False):
        row: dict[str, Any] = {"correlation": correlation, "level": CORRELATION_LEVELS[correlation], "method": method,
                               "seeds": len(group)}
        for metric in ("dci_d", "mig"):
            low, high = t_interval(group[metric].to_numpy())
            row.update({metric: group[metric].mean(), f"{metric}_ci_low": low, f"{metric}_ci_high": high})
        row["seconds"] = group["seconds"].mean()
        summary.append(row)
    comparison = []
    for correlation, group in scores.groupby("correlation", sort=False):
        hfs = group[group.method == "hfs"]["dci_d"].to_numpy()
        beta = group[group.method == "betavae"]["dci_d"].to_numpy()
        if len(hfs) and len(beta):
            low, high = _welch(hfs, beta)
            base = beta.mean()
            comparison.append({"correlation": correlation, "hfs_minus_betavae_dci_d": hfs.mean() - base,
                               "ci_low": low, "ci_high": high, "relative": hfs.mean() / base - 1 if base else np.nan,
                               "relative_ci_low": low / base if base else np.nan,
                               "relative_ci_high": high / base if base else np.nan})  # fmt: skip
    return pd.DataFrame(summary), pd.DataFrame(comparison)


def write_disentangle(result: DisentangleResult, out: str | Path, command: str = "") -> list[Path]:
    """``scores.csv``, ``summary.csv``, ``disentangle.md`` and ``disentangle.html`` (DCI-D and MIG against the
    correlation strength, one line per method, CIs over seeds) in ``out``."""
    from robustscope.report.kit import Figures
    from robustscope.report.study_page import curve_chart, write_study_page

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(result.scores).to_csv(out / "scores.csv", index=False)
    result.summary.to_csv(out / "summary.csv", index=False)
    lines = [f"Command: `{command}`", "", f"Iterations per model: {result.iterations} (batch 64)", "",
             "| correlation | method | DCI-D [95% CI over seeds] | MIG [95% CI] | seeds | s / model |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for r in result.summary.itertuples():
        dci_cell = f"{r.dci_d:.3f} [{r.dci_d_ci_low:.3f}, {r.dci_d_ci_high:.3f}]"
        mig_cell = f"{r.mig:.3f} [{r.mig_ci_low:.3f}, {r.mig_ci_high:.3f}]"
        lines.append(f"| {r.correlation} | {r.method} | {dci_cell} | {mig_cell} | {r.seeds} | {r.seconds:.0f} |")
    if len(result.comparison):
        lines += ["", "| correlation | HFS − β-VAE DCI-D [95% Welch CI] | relative [CI] |", "|---|---|---|"]
        for r in result.comparison.itertuples():
            lines.append(f"| {r.correlation} | {r.hfs_minus_betavae_dci_d:+.3f} [{r.ci_low:+.3f}, {r.ci_high:+.3f}] | "
                         f"{r.relative:+.1%} [{r.relative_ci_low:+.1%}, {r.relative_ci_high:+.1%}] |")  # fmt: skip
    (out / "disentangle.md").write_text("\n".join(lines) + "\n")
    figures = Figures()
    charts = "".join(curve_chart(result.summary, "level", "method", figures, f"{label} on uncorrelated test data",
                                 LEVEL_TITLE, label, y=metric, low=f"{metric}_ci_low", high=f"{metric}_ci_high")
                     for metric, label in (("dci_d", "DCI-Disentanglement"), ("mig", "MIG")))  # fmt: skip
    sections = [("DCI-D and MIG", charts), ("Summary", result.summary)]
    page = write_study_page(out / "disentangle.html", "Disentanglement of correlated factors", sections, figures,
                            note=command)  # fmt: skip
    return [out / "scores.csv", out / "summary.csv", out / "disentangle.md", page]


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--world", default="demo", help="world with disentangle / disentangle-test splits")
    parser.add_argument("--correlation", nargs="+", default=["none", "strong"],
                        choices=["none", "weak", "medium", "strong"], help="σ = none, 0.4, 0.1, 0.04")
    parser.add_argument("--method", nargs="+", default=["betavae", "hfs"], choices=sorted(METHODS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--iterations", type=int, default=None, help="training iterations per model (batch 64)")
    parser.add_argument("--out", required=True, help="folder for the tables and disentangle.html")


def _run(args: argparse.Namespace) -> int:
    import sys

    from robustscope.config import workspace
    from robustscope.report.study_page import record_study

    result = run_disentangle(args.world, args.correlation, args.method, tuple(args.seeds),
                             workspace(args.workspace).renders, iterations=args.iterations,
                             progress=not args.quiet)  # fmt: skip
    command = "robustscope " + " ".join(sys.argv[1:])
    paths = write_disentangle(result, args.out, command)
    record_study(workspace(args.workspace).root, "disentangle", "Disentanglement of correlated factors (HFS)",
                 f"{command} ({result.iterations} iterations per model)",
                 {"summary": result.summary, "HFS vs β-VAE": result.comparison},
                 {"table": "summary", "x": "level", "y": "dci_d", "series": "method", "low": "dci_d_ci_low",
                  "high": "dci_d_ci_high", "title": "DCI-D on uncorrelated test data",
                  "x_title": LEVEL_TITLE, "y_title": "DCI-D"})  # fmt: skip
    print(paths[2].read_text())
    return 0


STUDY = Study("disentangle", "β-VAE vs β-VAE + HFS on correlated factors: DCI-D and MIG with CIs over seeds",
              "robustscope study disentangle --correlation none strong --method betavae hfs --out dis/",
              _add_arguments, _run)
