"""Worst-case natural shifts on the demo world's two known-answer models (issue 18): does search break more
instances than random sampling of the same box at the same budget, and what do gradients through the renderer add?

Part A (black box): the first ``--instances`` instances of ``demo/test-id``; the box yaw ± 30°, light intensity
× 0.5–2, every background, every texture (or ``--box``), each factor alone and jointly; ``--budget`` renders per
instance, box and method; random search (= random sampling of the box: the reference) vs CMA-ES. Part B
(gradient): the box itself where every factor has gradients (else its yaw alone) on the first
``--gradient-instances`` instances at ``--gradient-budget`` renders, gradient vs random vs CMA-ES on the same
instances and budget. CIs: percentile bootstrap over instances (1,000 resamples).

    python benchmarks/worst_case_demo.py --models MODEL_DIR_CLEAN MODEL_DIR_BACKGROUND --out results.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def _ci(values: np.ndarray, seed: int = 0) -> tuple[float, float, float]:
    from robustscope.metrics.bootstrap import bootstrap_ci

    values = np.asarray(values, dtype=float)
    if len(values) == 0:
        return float("nan"), float("nan"), float("nan")
    low, high = bootstrap_ci(lambda v: float(np.mean(v)), values, n_resamples=1000, seed=seed)
    return float(values.mean()), low, high


def _summary(result) -> dict:
    fooled = result.fooled
    to_break = [s.renders_to_break for s in result.searches if s.fooled]
    distances = [s.breaking_distance for s in result.searches if s.fooled]
    return {"worst_case_acc": _ci(~fooled), "fooled": _ci(fooled), "average_acc": _ci(result.average_correct),
            "renders_per_success": _ci(np.array(to_break, dtype=float)),
            "median_breaking_distance": float(np.median(distances)) if distances else float("nan"),
            "n": len(fooled)}  # fmt: skip


def _fmt(triple: tuple[float, float, float]) -> str:
    value, low, high = triple
    return f"{value:.3f} [{low:.3f}, {high:.3f}]"


def main() -> None:
    from robustscope.models import load_model
    from robustscope.suites.worst_case import DEFAULT_BOX
    from robustscope.synth.spec import load_spec
    from robustscope.worstcase.box import parse_box
    from robustscope.worstcase.gradient import DIFFERENTIABLE_FACTORS, differentiable_variant
    from robustscope.worstcase.oracle import RenderOracle
    from robustscope.worstcase.run import search_world

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", nargs="+", required=True, help="model folders (file: checkpoints)")
    parser.add_argument("--world", default="demo")
    parser.add_argument("--split", default="test-id")
    parser.add_argument("--instances", type=int, default=32)
    parser.add_argument("--budget", type=int, default=32)
    parser.add_argument("--gradient-instances", type=int, default=6)
    parser.add_argument("--gradient-budget", type=int, default=16)
    parser.add_argument("--box", help="the factor box as JSON (default: the axis's default box)")
    parser.add_argument("--no-gradient", action="store_true", help="skip part B")
    parser.add_argument("--no-black-box", action="store_true", help="skip part A")
    parser.add_argument("--out", default="worst_case_demo.json")
    args = parser.parse_args()

    spec = load_spec(args.world).resolve(args.split)
    instances = spec.samples()[: args.instances]
    box = parse_box(json.loads(args.box) if args.box else DEFAULT_BOX)
    models = [load_model(f"file:{m}") for m in args.models]
    oracle = RenderOracle(spec, models[0])  # one oracle: random candidates are rendered once for every model
    report: dict = {"world": spec.name, "split": spec.split, "box": box.describe(), "budget": args.budget,
                    "instances": len(instances), "models": {}}  # fmt: skip
    for model in [] if args.no_black_box else models:
        oracle.set_model(model)
        start, renders = time.perf_counter(), oracle.renders
        run = search_world(oracle, instances, box, args.budget, ["random", "cma"], seed=0, progress=False)
        wall = time.perf_counter() - start
        entry = {"clean_acc": _ci(run.clean_margins >= 0), "wall_s": round(wall, 1),
                 "renders_made": oracle.renders - renders, "boxes": {}}  # fmt: skip
        print(f"\n== {model.name}: clean {_fmt(entry['clean_acc'])}; black box {wall:.0f} s, "
              f"{entry['renders_made']} renders made (the rest from the render cache)", flush=True)  # fmt: skip
        print(f"{'box':<16} {'average (random)':<24} {'worst: random':<24} {'worst: CMA-ES':<24} "
              f"{'fooled CMA/random':>17} {'renders/success rnd | cma':>26}")  # fmt: skip
        for name in [b.box.name for b in run.results if b.method == "random"]:
            rnd, cma = _summary(run.result(name, "random")), _summary(run.result(name, "cma"))
            entry["boxes"][name] = {"random": rnd, "cma": cma}
            ratio = cma["fooled"][0] / rnd["fooled"][0] if rnd["fooled"][0] else float("nan")
            print(f"{name:<16} {_fmt(rnd['average_acc']):<24} {_fmt(rnd['worst_case_acc']):<24} "
                  f"{_fmt(cma['worst_case_acc']):<24} {ratio:>17.2f} "
                  f"{rnd['renders_per_success'][0]:>12.1f} | {cma['renders_per_success'][0]:.1f}",
                  flush=True)  # fmt: skip
        report["models"][model.name] = entry
        Path(args.out).write_text(json.dumps(report, indent=2, default=str))

    if args.no_gradient:
        return
    variant, why = differentiable_variant()
    report["gradient"] = {"variant": variant, "why": why}
    if variant is None:
        print(f"\ngradient search skipped: {why}")
    else:
        # Part B searches the box itself where every factor has gradients, else its yaw alone.
        differentiable = not box.categorical and all(d.factor in DIFFERENTIABLE_FACTORS for d in box.continuous)
        yaw = box if differentiable else parse_box({"yaw": DEFAULT_BOX["yaw"]})
        few = instances[: args.gradient_instances]
        for model in models:
            oracle.set_model(model)
            start = time.perf_counter()
            run = search_world(oracle, few, yaw, args.gradient_budget, ["random", "cma"], seed=0, progress=False,
                               gradient_variant=variant, gradient_instances=len(few))  # fmt: skip
            wall = time.perf_counter() - start
            rows = {m: _summary(run.result("all", m)) for m in ("random", "cma", "gradient")}
            entry = report["models"].setdefault(model.name, {})
            entry["gradient"] = {"box": yaw.describe(), "wall_s": round(wall, 1), **rows}
            print(f"\n== {model.name}: box {yaw.factors}, {len(few)} instances x {args.gradient_budget} renders "
                  f"({variant}, {wall:.0f} s)")  # fmt: skip
            for method, row in rows.items():
                print(f"{method:<9} fooled {_fmt(row['fooled'])}  renders/success "
                      f"{row['renders_per_success'][0]:.1f}", flush=True)  # fmt: skip
            Path(args.out).write_text(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
