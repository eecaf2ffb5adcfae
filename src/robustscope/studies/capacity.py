"""``robustscope study progress-gap``: effective robustness and the progress gap across a capacity family, offline.

The family (:mod:`robustscope.train.capacity`, ``train/data/capacity.yaml``) is the clean recipe's network at
growing width and epochs. Each member is trained on the world, runs ``synthetic-clones-offline`` (optional
``--clones-axes``) and a suite of in-distribution and shifted accuracies (:func:`shift_suite`); on a geography
world (``--geo-world``, the built-in ``geo``) a second family, trained on that world's ``train`` split, runs
``geography-offline`` and the same shift suite. The fits are :mod:`robustscope.metrics.progress`'s and
:func:`robustscope.suites.progress_gap.progress_summary`'s:

* effective robustness (Taori et al., NeurIPS 2020): per shifted benchmark, the line of its accuracy on the
  in-distribution ``test-id`` top-1 across the family, both axes logit-scaled as Taori et al. do; each member's
  residual from it;
* the progress gap (Richards et al. 2023): slope(standard) / slope(geographic) of the linear fits, with a
  bootstrap CI over models — "standard" benchmarks are the world's shifted splits (``test-pose``…) and the
  corrupted ``test-id`` (an ImageNet-C-like shift), "geographic" the geo world's region-balanced ``test``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from robustscope.studies.base import Study
from robustscope.studies.headline_cells import format_cell, markdown_table
from robustscope.train.capacity import CapacityMember, capacity_family, train_capacity_member

__all__ = ["STUDY", "FamilyResult", "family_points", "run_family", "shift_suite", "write_family"]

REFERENCE_SPLIT = "test-id"


def shift_suite(world: str, corruptions: bool = True) -> object:
    """A suite built in code: top-1 on ``world``'s ``test-id`` and on every other ``test*`` split, plus (with
    ``corruptions``) the mean top-1 over the common corruptions of ``test-id`` at severity 1–5 (ImageNet-C-like).

    Example:
        >>> suite = shift_suite("tiny", corruptions=False)
        >>> sorted(suite.axes[0].datasets)[:2]
        ['test_background', 'test_id']
    """
    from robustscope.suites.axis_spec import AxisSpec
    from robustscope.suites.spec import SuiteSpec
    from robustscope.synth.spec import load_spec

    # test-id and test-* splits; a geography world's "test" is its geographic benchmark (geography-offline)
    splits = [s for s in load_spec(world).split_names() if s.startswith("test-")]
    datasets = {s.replace("-", "_"): f"synth:{{world}}:{s}" for s in splits}
    axes = [AxisSpec("calibration", datasets, params={"metrics": ["top1"]})]
    if corruptions and REFERENCE_SPLIT in splits:
        axes.append(AxisSpec("corruptions", {"clean": f"synth:{{world}}:{REFERENCE_SPLIT}"},
                             params={"corruptions": "common", "severities": [1, 2, 3, 4, 5], "on_the_fly": "auto"}))
    return SuiteSpec("capacity-shifts", "in-distribution and shifted top-1 of a world (robustscope study "
                     "progress-gap)", tuple(axes))  # fmt: skip


def _split_of(dataset: str) -> str:
    return str(dataset).rsplit(":", 1)[-1]


def _benchmark(dataset: str) -> str:
    """``WORLD:SPLIT`` of a ``synth:WORLD:SPLIT`` dataset (a world file by its stem): two worlds' benchmarks never
    share a fit.

    Example:
        >>> _benchmark("synth:demo:test-pose"), _benchmark("synth:/w/mine.yaml:test-id")
        ('demo:test-pose', 'mine:test-id')
    """
    world, _, split = str(dataset).rpartition(":")
    world = world.split(":", 1)[-1]
    return f"{Path(world).stem if world.endswith(('.yaml', '.yml')) else world}:{split}"


def family_points(rows: pd.DataFrame, geo_metric: str = "top1") -> pd.DataFrame:
    """Progress points (``model, imagenet_acc, benchmark, kind, acc``) from a family's suite rows.

    x (``imagenet_acc``) is each model's top-1 on its world's ``test-id`` (the ``calibration`` or ``geography``
    axis); standard benchmarks are top-1 on the other ``test*`` splits and the mean corruption top-1; the
    geographic one is the geography axis's ``geo_metric`` on its non-reference dataset (kind from the row's
    protocol).

    Example:
        >>> rows = pd.DataFrame({"model": ["m"] * 2, "axis": ["calibration"] * 2, "metric": ["top1"] * 2,
        ...     "shift": ["none"] * 2, "slice_factor": ["", ""], "dataset": ["synth:w:test-id", "synth:w:test-pose"],
        ...     "value": [0.8, 0.5], "protocol": ["{}", "{}"]})
        >>> family_points(rows).values.tolist()
        [['m', 0.8, 'w:test-pose', 'standard', 0.5]]
    """
    import json

    columns = ["model", "imagenet_acc", "benchmark", "kind", "acc"]
    if rows.empty:
        return pd.DataFrame(columns=columns)
    whole = rows[rows["slice_factor"].fillna("").astype(str) == ""]
    split = whole["dataset"].map(_split_of)
    top1 = whole[(whole["metric"] == "top1") & (whole["shift"].astype(str) == "none")]
    reference = top1[split.loc[top1.index] == REFERENCE_SPLIT].groupby("model")["value"].mean()
    records = []
    shifted = top1[(top1["axis"] == "calibration") & (split.loc[top1.index] != REFERENCE_SPLIT)]
    for row in shifted.itertuples():
        records.append((row.model, _benchmark(row.dataset), "standard", row.value))
    corrupted = whole[(whole["axis"] == "corruptions") & (whole["metric"].str.startswith("mean_corruption_top1"))
                      & (whole["shift"].astype(str).str.startswith("summary"))]  # fmt: skip
    for row in corrupted.itertuples():
        records.append((row.model, f"{_benchmark(row.dataset)}+corruptions", "standard", row.value))
    geo = whole[(whole["axis"] == "geography") & (whole["metric"] == geo_metric) & (whole["shift"] == "none")]
    for row in geo.itertuples():
        try:
            kind = json.loads(row.protocol).get("kind", "")
        except (TypeError, ValueError):
            kind = ""
        if kind == "geographic":
            records.append((row.model, _benchmark(row.dataset), "geographic", row.value))
    points = pd.DataFrame(records, columns=["model", "benchmark", "kind", "acc"])
    points = points.groupby(["model", "benchmark", "kind"], sort=False)["acc"].mean().reset_index()
    points = points[points["model"].isin(reference.index)]
    points.insert(1, "imagenet_acc", points["model"].map(reference).astype(float))
    return points[columns].reset_index(drop=True)


@dataclass
class FamilyResult:
    """What the study measured.

    Attributes:
        models: one row per trained member: ``world, member, width, epochs, model, id_acc, train_seconds,
            eval_seconds``.
        points: :func:`family_points` of every model (both worlds).
        fits: per benchmark, the logit-scale line (``slope, slope_ci_low, slope_ci_high, intercept, r, n_models``)
            of the effective-robustness fit.
        robustness: per model and benchmark, the effective robustness (logit residual).
        gaps: the progress gaps (Richards et al.) of :func:`~robustscope.suites.progress_gap.progress_summary`.
        linear_slopes: the linear slopes behind the gaps.
        seconds: wall time of the study.
    """

    models: pd.DataFrame
    points: pd.DataFrame
    fits: pd.DataFrame
    robustness: pd.DataFrame
    gaps: pd.DataFrame
    linear_slopes: pd.DataFrame
    seconds: float


def summarise_family(points: pd.DataFrame, n_resamples: int = 1000, seed: int = 0) -> dict[str, pd.DataFrame]:
    """The effective-robustness fits (logit scale), residuals, linear slopes and progress gaps of ``points``.

    Example:
        >>> points = pd.DataFrame({"model": ["a", "b", "c"], "imagenet_acc": [0.6, 0.7, 0.8],
        ...     "benchmark": ["test-pose"] * 3, "kind": ["standard"] * 3, "acc": [0.3, 0.4, 0.6]})
        >>> fits = summarise_family(points, n_resamples=0)["fits"]
        >>> import numpy as np; logit = lambda p: np.log(np.asarray(p) / (1 - np.asarray(p)))
        >>> bool(np.isclose(fits["slope"].iloc[0], np.polyfit(logit([0.6, 0.7, 0.8]), logit([0.3, 0.4, 0.6]), 1)[0]))
        True
    """
    from robustscope.metrics.progress import effective_robustness, progress_slopes
    from robustscope.suites.progress_gap import progress_summary

    table = points[["model", "imagenet_acc", "benchmark", "acc"]]
    fits = progress_slopes(table, n_resamples=n_resamples, seed=seed, scale="logit")
    residuals = effective_robustness(table, scale="logit")
    summary = progress_summary(points, n_resamples=n_resamples, seed=seed)
    gaps = summary.gaps[summary.gaps["n_models"] >= 2].reset_index(drop=True)  # pairs of two worlds share no model
    return {"fits": fits, "robustness": residuals, "gaps": gaps, "linear_slopes": summary.slopes}


def run_family(
    world: str = "demo",
    *,
    geo_world: str | None = None,
    members: Sequence[CapacityMember] | None = None,
    seed: int = 0,
    clones_axes: Sequence[str] | None = None,
    corruptions: bool = True,
    store: object = None,
    n_resamples: int = 1000,
    workers: int | None = None,
    progress: bool = True,
) -> FamilyResult:
    """Train the family on ``world`` (and ``geo_world``), evaluate every member, fit the lines across them.

    Args:
        world: a world with ``test-id`` and shifted ``test-*`` splits (``demo``, ``tiny``).
        geo_world: a geography world (``geo``) for the geographic benchmark; None: none.
        members: the family (default: ``train/data/capacity.yaml``).
        clones_axes: axes of ``synthetic-clones-offline`` to run on ``world``'s members (None: all; ``[]``: none).
        corruptions: include the corrupted ``test-id`` as a standard benchmark.

    Example:
        >>> result = run_family("tiny", members=[CapacityMember("w8-e1", 8, 1), CapacityMember("w16-e2", 16, 2)],
        ...                     clones_axes=[], corruptions=False, progress=False)  # doctest: +SKIP
    """
    import json

    from robustscope.config import Workspace, workspace
    from robustscope.suites.run import run_suite

    started = time.perf_counter()
    ws = store if isinstance(store, Workspace) else workspace(store)  # type: ignore[arg-type]
    family = list(members) if members is not None else capacity_family()
    plan = [(world, ["synthetic-clones-offline"] if clones_axes != [] else [])]
    if geo_world:
        plan.append((geo_world, ["geography-offline"]))
    records, tables = [], []
    for target, suites in plan:
        for member in family:
            folder = train_capacity_member(member, target, models_dir=ws.models, renders=ws.renders,
                                           content_index=ws.content_index, seed=seed, workers=workers,
                                           progress=progress)  # fmt: skip
            config = json.loads((folder / "config.json").read_text())
            evaluated = time.perf_counter()
            for suite in suites:
                axes = list(clones_axes) if suite == "synthetic-clones-offline" and clones_axes else None
                tables.append(run_suite(f"file:{folder}", suite, world=target, axes=axes, store=ws,
                                        progress=progress, n_resamples=n_resamples).table)  # fmt: skip
            shifts = run_suite(f"file:{folder}", shift_suite(target, corruptions), world=target, store=ws,
                               progress=progress, n_resamples=n_resamples).table  # fmt: skip
            tables.append(shifts)
            records.append({"world": target, "member": member.name, "width": member.width, "epochs": member.epochs,
                            "model": config.get("name", folder.name),
                            "train_seconds": config["training"].get("seconds"),
                            "eval_seconds": round(time.perf_counter() - evaluated, 2)})  # fmt: skip
    rows = pd.concat([t for t in tables if len(t)], ignore_index=True) if tables else pd.DataFrame()
    points = family_points(rows)
    models = pd.DataFrame(records)
    reference = points.groupby("model")["imagenet_acc"].first()
    models.insert(5, "id_acc", models["model"].map(reference))
    fitted = summarise_family(points, n_resamples=n_resamples, seed=seed)
    return FamilyResult(models, points, fitted["fits"], fitted["robustness"], fitted["gaps"],
                        fitted["linear_slopes"], time.perf_counter() - started)  # fmt: skip


def _fit_table(result: FamilyResult) -> pd.DataFrame:
    fits = result.fits
    linear = result.linear_slopes.set_index("benchmark")
    return pd.DataFrame({
        "benchmark": fits["benchmark"],
        "kind": fits["benchmark"].map(linear["kind"]) if len(linear) else "",
        "logit slope [95% CI]": [format_cell(s, lo, hi) for s, lo, hi in
                                 zip(fits["slope"], fits["slope_ci_low"], fits["slope_ci_high"], strict=True)],
        "logit intercept": fits["intercept"].round(3), "r": fits["r"].round(3), "models": fits["n_models"],
        "linear slope [95% CI]": [format_cell(*linear.loc[b, ["slope", "slope_ci_low", "slope_ci_high"]])
                                  if b in linear.index else "—" for b in fits["benchmark"]],
    })  # fmt: skip


def write_family(result: FamilyResult, out: str | Path, command: str = "") -> list[Path]:
    """Write ``family_models.csv``, ``family_points.csv``, ``family_fits.csv``, ``family_gaps.csv`` and
    ``progress_gap.md`` (the tables the study prints) into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = {"family_models.csv": result.models, "family_points.csv": result.robustness, "family_fits.csv":
             _fit_table(result), "family_gaps.csv": result.gaps}  # fmt: skip
    for name, frame in files.items():
        frame.to_csv(out / name, index=False)
    gaps = result.gaps.assign(cell=[format_cell(v, lo, hi) for v, lo, hi in
                                    zip(result.gaps["progress_gap"], result.gaps["ci_low"], result.gaps["ci_high"],
                                        strict=True)])  # fmt: skip
    text = ["# Capacity family: effective robustness and progress gap", ""]
    if command:
        text += [f"Command: `{command}`", ""]
    gap_table = gaps[["standard", "geographic", "cell", "n_models"]].rename(columns={"cell": "gap [95% CI]"})
    text += ["## Members", "", markdown_table(result.models.round(3)), "",
             "## Fits across the family (x: test-id top-1; logit scale as Taori et al. 2020, linear as Richards "
             "et al.)", "", markdown_table(_fit_table(result)), "",
             "## Progress gap: slope(standard) / slope(geographic)", "", markdown_table(gap_table) if len(gaps)
             else "(no geographic benchmark with the same models: pass --geo-world)", "",
             "## Effective robustness (logit residual) per model", "",
             markdown_table(result.robustness.pivot_table(index="model", columns="benchmark",
                                                          values="effective_robustness", sort=False)
                            .round(3).reset_index()) if len(result.robustness) else "(none)", "",
             f"Study wall time: {result.seconds:.0f} s."]  # fmt: skip
    (out / "progress_gap.md").write_text("\n".join(text) + "\n", encoding="utf-8")
    return [out / name for name in files] + [out / "progress_gap.md"]


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--world", default="demo", help="the world the family is trained and tested on")
    parser.add_argument("--geo-world", default=None, help="also train the family on this geography world and run "
                        "geography-offline there (the geographic benchmark of the progress gap), e.g. geo")
    parser.add_argument("--members", nargs="+", help="only these members of train/data/capacity.yaml")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--clones-axes", nargs="*", help="axes of synthetic-clones-offline to run (default: all; "
                        "none given: skip the suite)")  # fmt: skip
    parser.add_argument("--no-corruptions", action="store_true", help="leave out the corrupted test-id benchmark")
    parser.add_argument("--n-resamples", type=int, default=1000, help="bootstrap resamples of every CI")
    parser.add_argument("--workers", type=int, default=None, help="render processes")
    parser.add_argument("--out", required=True, help="folder for the tables")


def _run(args: argparse.Namespace) -> int:
    import sys

    from robustscope.config import workspace

    result = run_family(args.world, geo_world=args.geo_world,
                        members=capacity_family(args.members) if args.members else None, seed=args.seed,
                        clones_axes=args.clones_axes, corruptions=not args.no_corruptions,
                        store=workspace(args.workspace), n_resamples=args.n_resamples, workers=args.workers,
                        progress=not args.quiet)  # fmt: skip
    command = "robustscope " + " ".join(sys.argv[1:]) if sys.argv and "robustscope" in sys.argv[0] else ""
    written = write_family(result, args.out, command)
    print((Path(args.out) / "progress_gap.md").read_text())
    print(f"wrote {', '.join(str(p) for p in written)}")
    return 0


STUDY = Study(
    "progress-gap",
    "a capacity family of reference models: effective robustness and the progress gap across it, offline",
    "robustscope study progress-gap --world tiny --members w8-e5 w16-e5 --clones-axes --out gap",
    _add_arguments,
    _run,
)
