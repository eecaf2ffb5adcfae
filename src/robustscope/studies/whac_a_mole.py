"""``robustscope study whac-a-mole``: the Whac-A-Mole table on the synthetic UrbanCars — mitigating one shortcut,
what happens to the other.

Li et al., "A Whac-A-Mole Dilemma: Shortcuts Come in Multiples Where Mitigating One Amplifies Others", CVPR 2023,
Table 2 (UrbanCars): rows are methods, columns the I.D. accuracy and the BG, CoObj and BG+CoObj gaps. Here, per
seed: the ERM reference model (:func:`robustscope.train.urbancars.train_urbancars_reference`, trained or reused
with that seed), then each last-layer method on its frozen features, each saved as a model and evaluated with the
``shortcuts-offline`` suite in the study's workspace (the rows land in the result store like any run):

- ``erm``: the reference model itself; ``erm-last-layer``: its head retrained on ``train`` (ERM, the control).
- ``dfr``: DFR^Val_Tr (:func:`robustscope.mitigate.dfr_mitigate`): fitted on ``val``, scaler on ``train``.
- ``lle``: Last Layer Ensemble on ``train`` plus its background and co-occurring-object augmentations
  (``urbancars:bg``, ``urbancars:co_occur_obj``, as the reference's ``urbancars_trainers/lle.py``).
- ``groupdro``, ``jtt``, ``group-balanced``: the last-layer baselines on ``train``.

Groups are the 8 (object, background, co-occurring object) cells — the reference's ``--group_label both``
(``dataset/urbancars.py``: ``group = object · 4 + background · 2 + co_occur_obj``), the first of the three
groupings its DFR and GroupDRO scripts sweep (``scripts/train_urbancars/dfr.sh``); here via the loader's ``group``
factor (class × whether each shortcut agrees), which names the same 8 cells.
The numbers and their paired bootstrap: :mod:`robustscope.studies.whac_a_mole_stats`.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from robustscope.studies.base import Study
from robustscope.studies.whac_a_mole_stats import METRICS, SeedOutcome, cell_index, differences, measure, table

__all__ = ["METHODS", "STUDY", "WhacAMoleResult", "run_whac_a_mole"]

#: Every method the study runs, in the table's order.
METHODS: tuple[str, ...] = ("erm", "erm-last-layer", "dfr", "lle", "groupdro", "jtt", "group-balanced")
#: The group of every image: the loader's ``group`` factor (shortcut agreement) × the class = the 8 cells.
GROUP_BY = "group"
#: The LLE augmentations, head name → materialised mode (the reference's background and co-occurring-object
#: augmentations of the train split, ``dataset/urbancars_aug.py``).
LLE_AUGMENTATIONS = {"bg": "bg", "co_occur_obj": "co_occur_obj"}
#: robustscope's last-layer method name of each of the study's.
LAST_LAYER = {"erm-last-layer": "erm", "groupdro": "groupdro", "jtt": "jtt", "group-balanced": "group-balanced"}


@dataclass
class WhacAMoleResult:
    """The study's tables: ``table`` (method × measure, mean over seeds, CI), ``differences`` (paired, vs ERM),
    ``per_seed`` (every seed's measures), and where the models and files are."""

    table: pd.DataFrame
    differences: pd.DataFrame
    per_seed: pd.DataFrame
    models: dict[tuple[int, str], str]
    files: list[Path]


def _apply(method: str, model: Any, base_spec: str, data: dict[str, Any], ws: Any, out: Path, seed: int,
           config: Any, progress: bool) -> Path:  # fmt: skip
    """Fit ``method`` on ``model``'s features, save it to ``out``; return the folder."""
    from robustscope.mitigate import dfr_mitigate, last_layer_mitigate, lle_mitigate, materialise_urbancars_aug

    common = {"store": ws, "out": out, "seed": seed, "base_spec": base_spec, "progress": progress}
    if method == "dfr":
        return dfr_mitigate(model, data["train"], data["val"], GROUP_BY, **common)[0]
    if method == "lle":
        # the reference draws a fresh augmentation every epoch; here one materialised copy per image and seed
        augmentations = {name: materialise_urbancars_aug(data["train"], mode, seed=seed, root=ws, progress=progress)
                         for name, mode in LLE_AUGMENTATIONS.items()}  # fmt: skip
        return lle_mitigate(model, data["train"], augmentations, config=config, **common)[0]
    return last_layer_mitigate(LAST_LAYER[method], model, data["train"], group_of=GROUP_BY, config=config,
                               **common)[0]  # fmt: skip


def _correct(spec: str, test: Any, ws: Any) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Sample ids, per-image correctness and factors of ``spec`` on ``test``, read from the prediction store."""
    from robustscope.engine.evaluation import Evaluation
    from robustscope.models.registry import load_model

    predictions, _ = Evaluation.in_workspace(load_model(spec), ws, n_resamples=0, progress=False).predict(test)
    return predictions.sample_ids, predictions.logits.argmax(1) == predictions.labels, predictions.factors


def run_whac_a_mole(
    world: str,
    seeds: Sequence[int],
    methods: Sequence[str] = METHODS,
    *,
    ws: Any = None,
    epochs: int | None = None,
    reference_epochs: int | None = None,
    n_resamples: int = 1000,
    workers: int | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> WhacAMoleResult:
    """Run the study on ``world``'s synthetic UrbanCars for ``seeds`` (see the module's docstring).

    ``epochs``: SGD epochs of the last-layer heads (default: :class:`~robustscope.mitigate.LastLayerConfig`'s);
    ``reference_epochs``: of the ERM reference model (default: its recipe's). Every method's wall time (the ERM
    model's training time as its config records it; each mitigation's fit, features included) is kept.

    Example:
        >>> result = run_whac_a_mole("tiny", [0], ["erm", "dfr"], progress=False)  # doctest: +SKIP
        >>> result.table.loc["dfr", "worst_group_acc"]  # doctest: +SKIP
    """
    from robustscope.config import workspace
    from robustscope.data.registry import load_dataset
    from robustscope.errors import OptionError
    from robustscope.mitigate.last_layer import LastLayerConfig
    from robustscope.models.registry import load_model
    from robustscope.suites import run_suite
    from robustscope.train.urbancars import URBANCARS_EPOCHS, train_urbancars_reference

    unknown = [m for m in methods if m not in METHODS]
    if unknown or "erm" not in methods:
        raise OptionError(f"methods {list(methods)}: each must be one of {list(METHODS)}, and erm is needed (the "
                          "differences are against it)")  # fmt: skip
    ws = ws or workspace()
    data = {split: load_dataset(f"synth-urbancars:{world}:{split}", root=ws.renders, workers=workers,
                                progress=progress) for split in ("train", "val", "test")}  # fmt: skip
    outcomes, rows, models = [], [], {}
    for seed in seeds:
        started = time.perf_counter()
        base = train_urbancars_reference(world, ws, seed=seed, epochs=reference_epochs or URBANCARS_EPOCHS,
                                         workers=workers, progress=progress)  # fmt: skip
        training = json.loads((base / "config.json").read_text())["training"]
        seconds = {"erm": float(training.get("seconds") or time.perf_counter() - started)}
        log(f"seed {seed}: ERM reference {base} ({seconds['erm']:.0f} s to train, "
            f"{training.get('num_threads')} threads)")  # fmt: skip
        model = load_model(f"file:{base}")
        config = LastLayerConfig(seed=seed, **({"epochs": epochs} if epochs else {}))
        specs = {"erm": f"file:{base}"}
        for method in methods:
            if method == "erm":
                continue
            started = time.perf_counter()
            folder = _apply(method, model, specs["erm"], data, ws, ws.models / "whac-a-mole" / base.name / method,
                            seed, config, progress)  # fmt: skip
            seconds[method] = time.perf_counter() - started
            specs[method] = f"file:{folder}"
            log(f"seed {seed}: {method} fitted in {seconds[method]:.1f} s → {folder}")
        correct, ids, cells = {}, None, None
        for method, spec in specs.items():
            run_suite(spec, "shortcuts-offline", world=world, store=ws, n_resamples=n_resamples, progress=progress)
            sample_ids, right, factors = _correct(spec, data["test"], ws)
            if ids is None:
                ids = sample_ids
                cells = cell_index(factors["object"], factors["background"], factors["co_occur"])
            elif not np.array_equal(ids, sample_ids):
                raise RuntimeError(f"{spec}: its test predictions are not over the same images as ERM's")
            correct[method] = right
            rows.append({"seed": seed, "method": method, "model": spec, "seconds": seconds[method],
                         **measure(cells, right)})  # fmt: skip
            models[(seed, method)] = spec
        outcomes.append(SeedOutcome(seed, cells, correct, seconds))
    return WhacAMoleResult(table(outcomes, n_resamples), differences(outcomes, "erm", n_resamples),
                           pd.DataFrame(rows), models, [])  # fmt: skip


# -- output ---------------------------------------------------------------------------------------------------------


def _cell(row: pd.Series, key: str) -> str:
    low, high = row[f"{key}_ci_low"], row[f"{key}_ci_high"]
    ci = f" [{low:+.3f}, {high:+.3f}]" if np.isfinite(low) else ""
    return f"{row[key]:+.3f}{ci}" if "gap" in key else f"{row[key]:.3f}{ci}".replace("+", "")


def markdown(result: WhacAMoleResult, command: str) -> str:
    """The study's tables as Markdown: the Whac-A-Mole table and the paired differences vs ERM.

    Example:
        >>> # markdown(run_whac_a_mole("tiny", [0]), "robustscope study whac-a-mole --world tiny --seeds 0")
    """
    head = ["method", *METRICS.values(), "wall time (s)"]
    lines = [f"Command: `{command}`", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for method, row in result.table.iterrows():
        cells = [str(method), *(_cell(row, key) for key in METRICS), f"{row['seconds']:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    seeds = int(result.table["seeds"].iloc[0])
    lines += ["", f"Mean over {seeds} seed(s); [95% CI]: bootstrap over test images within each seed, seeds "
              "averaged. Wall time: ERM = training the reference model; the others = fitting the head (features "
              "included), per seed, on 2 cores.", "",
              "Paired differences vs ERM (same test images, same resampled indices for both models):", "",
              "| method | measure | seed | difference | 95% CI |", "|---|---|---|---|---|"]  # fmt: skip
    for _, row in result.differences.iterrows():
        measure_name = str(row["measure"]).replace("|", "\\|")  # a pipe would end the Markdown cell
        lines.append(f"| {row['method']} | {measure_name} | {row['seed']} | {row['difference']:+.3f} | "
                     f"[{row['ci_low']:+.3f}, {row['ci_high']:+.3f}] |")  # fmt: skip
    return "\n".join(lines) + "\n"


def write(result: WhacAMoleResult, out: str | Path, command: str) -> list[Path]:
    """Write ``whac_a_mole.csv``, ``whac_a_mole_differences.csv``, ``whac_a_mole_per_seed.csv`` and
    ``whac_a_mole.md`` into ``out``; return their paths.

    Example:
        >>> # write(run_whac_a_mole("tiny", [0]), "out/", "robustscope study whac-a-mole --world tiny --seeds 0")
    """
    folder = Path(out).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    files = [folder / "whac_a_mole.csv", folder / "whac_a_mole_differences.csv", folder / "whac_a_mole_per_seed.csv",
             folder / "whac_a_mole.md"]  # fmt: skip
    result.table.to_csv(files[0])
    result.differences.to_csv(files[1], index=False)
    result.per_seed.to_csv(files[2], index=False)
    files[3].write_text(markdown(result, command), encoding="utf-8")
    result.files = files
    return files


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--world", default="demo", help="built-in world or YAML spec (default: demo)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS), help="methods (erm needed)")
    parser.add_argument("--out", required=True, help="folder for the CSV and Markdown tables")
    parser.add_argument("--epochs", type=int, default=None,
                        help="SGD epochs of the last-layer heads (default: LastLayerConfig's, 90)")  # fmt: skip
    parser.add_argument("--reference-epochs", type=int, default=None,
                        help="epochs of the ERM reference model (default: its recipe's, 20)")  # fmt: skip
    parser.add_argument("--n-resamples", type=int, default=1000, help="bootstrap resamples")
    parser.add_argument("--workers", type=int, default=None, help="rendering processes")


def _run(args: argparse.Namespace) -> int:
    import shlex
    import sys

    from robustscope.config import workspace
    from robustscope.errors import OptionError

    if "erm" not in args.methods:
        raise OptionError("--methods must include erm: the differences are measured against it")
    for option in ("epochs", "reference_epochs", "workers"):
        if getattr(args, option) is not None and getattr(args, option) < 1:
            raise OptionError(f"--{option.replace('_', '-')} must be a positive integer, got {getattr(args, option)}")
    if args.n_resamples < 0 or min(args.seeds) < 0:
        raise OptionError("--n-resamples and --seeds must be integers >= 0")
    command = "robustscope " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:] else "robustscope study"
    quiet = bool(getattr(args, "quiet", False))
    result = run_whac_a_mole(args.world, args.seeds, args.methods, ws=workspace(args.workspace),
                             epochs=args.epochs, reference_epochs=args.reference_epochs,
                             n_resamples=args.n_resamples, workers=args.workers, progress=not quiet)  # fmt: skip
    files = write(result, args.out, command)
    print(markdown(result, command))
    print("wrote " + ", ".join(str(f) for f in files))
    return 0


STUDY = Study("whac-a-mole", "ERM vs DFR, LLE, GroupDRO, JTT… on the synthetic UrbanCars: each shortcut's gap, "
              "worst group, paired differences vs ERM",
              "robustscope study whac-a-mole --world tiny --seeds 0 1 2 --out wam/", _add_arguments, _run)  # fmt: skip
