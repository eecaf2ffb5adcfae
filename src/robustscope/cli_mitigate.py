"""``robustscope mitigate``: refit a model's last layer (DFR, LLE, ERM/group-balanced, GroupDRO, JTT) and save it.

Each sub-command loads ``--model``, computes (or reuses from the workspace's prediction store) its penultimate
features on the datasets it needs, fits a new head with :mod:`robustscope.mitigate`, saves a folder that
``load_model("file:OUT")`` reads, and prints a one-screen summary ending with the ``robustscope run`` line that
evaluates the new model. The sub-commands live in :data:`MITIGATE_COMMANDS` (name → :class:`MitigateCommand`);
a new mitigation is one more entry there.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from robustscope.cli_args import positive_int
from robustscope.errors import OptionError
from robustscope.studies.base import print_summary
from robustscope.studies.mixing import add_mix_arguments, cmd_mitigate_mix

__all__ = ["MITIGATE_COMMANDS", "MitigateCommand", "add_mitigate_commands", "cmd_mitigate_dfr", "cmd_mitigate_lle"]


@dataclass(frozen=True)
class MitigateCommand:
    """One ``robustscope mitigate NAME`` sub-command.

    Attributes:
        summary: one line of help.
        example: a full command line.
        run: the command (parsed arguments → exit code).
        add_arguments: the options it adds beside the common ones (:func:`add_common_arguments`).

    Example:
        >>> MitigateCommand("say hi", "robustscope mitigate hi", lambda args: 0).run(argparse.Namespace())
        0
    """

    summary: str
    example: str
    run: Callable[[argparse.Namespace], int]
    add_arguments: Callable[[argparse.ArgumentParser], None] = field(default=lambda parser: None)


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every mitigation shares: the model, the data, the output folder, seed, epochs, workspace.

    Example:
        >>> parser = argparse.ArgumentParser()
        >>> add_common_arguments(parser)
        >>> parser.parse_args(["--model", "file:m", "--train-data", "folder:d", "--out", "o"]).epochs
    """
    parser.add_argument("--model", required=True, help="the base model (file:PATH, tv:NAME, timm:NAME…)")
    parser.add_argument("--train-data", required=True, help="the data the head is fitted on (DFR: the data the "
                        "feature scaler is fitted on), a dataset spec (robustscope list datasets)")  # fmt: skip
    parser.add_argument("--val-data", help="held-out data (DFR fits its head on it)")
    parser.add_argument("--group-by", metavar="FACTOR", help="groups = class × this factor of the data")
    parser.add_argument("--out", required=True, help="folder to save the mitigated model in")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=positive_int, default=None,
                        help="SGD epochs of the head (default: the method's reference setting)")  # fmt: skip
    parser.add_argument("--data-root", help="folder that relative dataset paths are under")
    # SUPPRESS: without the option here, the global --workspace (before the sub-command) is kept
    parser.add_argument("--workspace", default=argparse.SUPPRESS, help="workspace folder (as the global option)")
    parser.add_argument("--batch-size", type=positive_int, default=64, help="images per forward pass")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, …")


# -- shared steps ---------------------------------------------------------------------------------------------------


@dataclass
class _Context:
    """What every sub-command starts from: the workspace, the model, its split, the datasets."""

    args: argparse.Namespace
    started: float
    ws: Any
    model: Any
    split: Any
    train: Any
    val: Any = None
    computed: int = 0
    reused: int = 0

    def features(self, dataset: Any) -> Any:
        """The model's features on ``dataset`` (cached in the workspace), counting shards computed/reused."""
        from robustscope.engine.features import extract_features

        fs = extract_features(self.model, dataset, store=self.ws, batch_size=self.args.batch_size,
                              device=self.args.device, progress=not self.args.quiet, split=self.split)  # fmt: skip
        self.computed += fs.shards_computed
        self.reused += fs.shards_reused
        return fs


def _load_data(spec: str, args: argparse.Namespace, ws: Any) -> Any:
    from robustscope.data.registry import load_dataset

    # a synthetic world's sets are built in the workspace's render cache, as ``robustscope run`` does
    if spec.startswith("synth") and not args.data_root:
        return load_dataset(spec, root=ws.renders, progress=not args.quiet)
    return load_dataset(spec, root=args.data_root)


def _check_group_by(args: argparse.Namespace, *datasets: Any) -> None:
    if args.group_by is None:
        return
    for dataset in datasets:
        if dataset is not None and args.group_by not in dataset.factor_columns:
            raise OptionError(f"--group-by {args.group_by!r} is not a factor of {dataset.name}; its factors are "
                              f"{dataset.factor_columns}: pass one of them")  # fmt: skip


def _context(args: argparse.Namespace, *, needs_val: bool = False, needs_groups: bool = False) -> _Context:
    """Check the options, then load the workspace, the datasets and the model (in that order: cheap first)."""
    from robustscope.config import workspace
    from robustscope.engine.options import check_device
    from robustscope.models.features import split_model
    from robustscope.models.registry import load_model

    name = args.mitigation
    if needs_val and not args.val_data:
        raise OptionError(f"mitigate {name} fits its head on held-out data: pass --val-data DATASET")
    if needs_groups and not args.group_by:
        raise OptionError(f"mitigate {name} needs groups: pass --group-by FACTOR (groups = class × factor)")
    check_device(args.device)
    started = time.perf_counter()
    ws = workspace(getattr(args, "workspace", None))
    train = _load_data(args.train_data, args, ws)
    val = _load_data(args.val_data, args, ws) if args.val_data else None
    _check_group_by(args, train, val)
    if val is not None and list(val.classes) != list(train.classes):
        raise OptionError(f"--val-data {val.name} has classes {val.classes}, --train-data {train.name} has "
                          f"{train.classes}: pass two sets of the same classes")  # fmt: skip
    model = load_model(args.model)
    return _Context(args, started, ws, model, split_model(model), train, val)


def _worst_group(logits: np.ndarray, features: Any, group_by: str | None) -> float:
    """Worst-group accuracy of a head's ``logits`` on ``features`` (groups: class × ``group_by``; else class)."""
    from robustscope.mitigate.dfr import worst_group_accuracy
    from robustscope.mitigate.pipeline import groups_of

    groups = groups_of(features, group_by) if group_by else features.labels
    return worst_group_accuracy(np.asarray(logits).argmax(1), features.labels, np.asarray(groups))


def _head_logits(head: Any, features: np.ndarray) -> np.ndarray:
    """Logits of a fitted head (an ``nn.Module``, or an object with ``logits``) on raw features."""
    if hasattr(head, "logits"):
        return head.logits(features)
    import torch

    with torch.no_grad():
        return head(torch.as_tensor(features, dtype=torch.float32)).numpy()


def _summary(ctx: _Context, folder: Path, lines: list[tuple[str, str]]) -> int:
    """Print the one-screen summary: what was fitted, the head's numbers, caching, wall time, how to evaluate."""
    seconds = time.perf_counter() - ctx.started
    rows = [("method", ctx.args.mitigation), ("base model", ctx.model.name), *lines,
            ("features", f"{ctx.computed} shards computed, {ctx.reused} reused from the store"),
            ("wall time", f"{seconds:.1f} s"), ("saved to", str(folder))]  # fmt: skip
    print_summary(rows, f"robustscope run --model file:{folder} --data DATASET   (or --suite NAME)")
    return 0


# -- the sub-commands -------------------------------------------------------------------------------------------------


def cmd_mitigate_dfr(args: argparse.Namespace) -> int:
    """DFR^Val_Tr (:func:`robustscope.mitigate.dfr_mitigate`): the head fitted on group-balanced ``--val-data``
    features, the scaler on ``--train-data``'s; groups = class × ``--group-by``.

    Example:
        >>> cmd_mitigate_dfr(argparse.Namespace(mitigation="dfr", val_data=None))
        Traceback (most recent call last):
        ...
        robustscope.errors.OptionError: mitigate dfr fits its head on held-out data: pass --val-data DATASET
    """
    from robustscope.mitigate.pipeline import dfr_mitigate

    ctx = _context(args, needs_val=True, needs_groups=True)
    train, val = ctx.features(ctx.train), ctx.features(ctx.val)  # cached: dfr_mitigate reads them back
    folder, result = dfr_mitigate(ctx.model, ctx.train, ctx.val, args.group_by, store=ctx.ws, out=args.out,
                                  seed=args.seed, base_spec=args.model, batch_size=args.batch_size,
                                  device=args.device, progress=not args.quiet)  # fmt: skip
    return _summary(ctx, folder, [
        ("chosen C", f"{result.c:g} (worst-group accuracy on the tuning half: "
                     f"{result.worst_group_accuracy[result.c]:.3f})"),
        ("groups", f"{len(result.groups)}, {result.per_group} per group in each balanced fit"),
        ("worst group, train", f"{_worst_group(result.logits(train.features), train, args.group_by):.3f}"),
        ("worst group, val", f"{_worst_group(result.logits(val.features), val, args.group_by):.3f}"),
    ])  # fmt: skip


def _config(args: argparse.Namespace) -> Any:
    """The heads' SGD settings: the reference's linear probing, with ``--epochs`` when given."""
    from robustscope.mitigate.last_layer import LastLayerConfig

    return LastLayerConfig(seed=args.seed, **({"epochs": args.epochs} if args.epochs else {}))


def _fitted_summary(ctx: _Context, folder: Path, head: Any, train: Any, extra: list[tuple[str, str]]) -> int:
    """The summary of a head fitted by SGD on ``train`` (and evaluated on ``--val-data`` when given)."""
    group_by = ctx.args.group_by
    grouped = f" (groups: class × {group_by})" if group_by else " (groups: classes)"
    worst = _worst_group(_head_logits(head, train.features), train, group_by)
    lines = [*extra, ("epochs", str(_config(ctx.args).epochs)), ("worst group, train", f"{worst:.3f}{grouped}")]
    if ctx.val is not None:
        val = ctx.features(ctx.val)
        lines.append(("worst group, val", f"{_worst_group(_head_logits(head, val.features), val, group_by):.3f}"))
    return _summary(ctx, folder, lines)


def _last_layer(method: str, needs_groups: bool, **options: Any) -> Callable[[argparse.Namespace], int]:
    """A sub-command fitting :func:`robustscope.mitigate.last_layer_mitigate`'s ``method`` on ``--train-data``."""

    def command(args: argparse.Namespace) -> int:
        from robustscope.mitigate import last_layer_mitigate

        chosen = "group-balanced" if method == "erm" and args.balanced else method
        ctx = _context(args, needs_groups=needs_groups or chosen == "group-balanced")
        train = ctx.features(ctx.train)
        own = {name: getattr(args, name) for name in options}
        folder, fit = last_layer_mitigate(chosen, ctx.model, ctx.train, group_of=args.group_by, store=ctx.ws,
                                          out=args.out, seed=args.seed, config=_config(args), base_spec=args.model,
                                          batch_size=args.batch_size, device=args.device, progress=not args.quiet,
                                          **own)  # fmt: skip
        extra = [("last-layer method", chosen), *((name.replace("_", " "), str(value)) for name, value in own.items())]
        if "errors" in fit.details:
            extra.append(("JTT error set", f"{len(fit.details['errors'])} of {len(train)} training images"))
        return _fitted_summary(ctx, folder, fit.head, train, extra)

    command.__name__ = f"cmd_mitigate_{method.replace('-', '_')}"
    command.__doc__ = f"``robustscope mitigate`` with :func:`robustscope.mitigate.last_layer_mitigate` ``{method}``."
    return command


def _augmentation(spec: str, ctx: _Context) -> Any:
    """An ``--augment`` value: ``urbancars:MODE`` materialised from the train split, else a shift spec."""
    if spec.startswith("urbancars:"):
        from robustscope.mitigate import materialise_urbancars_aug

        return materialise_urbancars_aug(ctx.train, spec.split(":", 1)[1], seed=ctx.args.seed, root=ctx.ws,
                                         progress=not ctx.args.quiet)  # fmt: skip
    return spec


def cmd_mitigate_lle(args: argparse.Namespace) -> int:
    """Last Layer Ensemble (:func:`robustscope.mitigate.lle_mitigate`): one head for ``--train-data`` and one per
    ``--augment NAME=SPEC`` (a shift spec, or ``urbancars:bg`` / ``urbancars:co_occur_obj``).

    Example:
        >>> cmd_mitigate_lle(argparse.Namespace(mitigation="lle", augment=["bg"]))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        robustscope.errors.OptionError: --augment 'bg': expected NAME=SPEC, e.g. bg=urbancars:bg or ...
    """
    from robustscope.mitigate import lle_mitigate

    pairs = [value.partition("=") for value in args.augment or []]
    for value, (name, sep, spec) in zip(args.augment or [], pairs, strict=True):
        if not (name and sep and spec):
            raise OptionError(f"--augment {value!r}: expected NAME=SPEC, e.g. bg=urbancars:bg or "
                              "blur=corruption:gaussian_blur:3")  # fmt: skip
    if not pairs:
        raise OptionError("mitigate lle needs augmentations: pass --augment NAME=SPEC …")
    ctx = _context(args)
    train = ctx.features(ctx.train)
    augmentations = {name: _augmentation(spec, ctx) for name, _, spec in pairs}
    folder, result = lle_mitigate(ctx.model, ctx.train, augmentations, store=ctx.ws, out=args.out, seed=args.seed,
                                  config=_config(args), base_spec=args.model, batch_size=args.batch_size,
                                  device=args.device, progress=not args.quiet)  # fmt: skip
    sizes = result.details.get("sizes", {})
    extra = [("heads", ", ".join(f"{name} ({sizes.get(name, '?')} images)" for name in ["original", *result.shifts]))]
    return _fitted_summary(ctx, folder, result.head, train, extra)


def _add_lle(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--augment", nargs="+", metavar="NAME=SPEC",
                        help="one head per augmentation: a shift spec (robustscope list shifts) or, on UrbanCars, "
                             "urbancars:bg / urbancars:co_occur_obj (materialised from --train-data)")  # fmt: skip


def _add_last_layer(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--balanced", action="store_true", help="group-balanced batches (needs --group-by)")


def _add_groupdro(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--step-size", type=float, default=0.01, help="GroupDRO's η (default 0.01)")


def _add_jtt(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--up-weight", type=positive_int, default=100, help="JTT's up-weight (default 100)")
    parser.add_argument("--id-epochs", type=positive_int, default=1, help="epochs of the identification model")


#: Sub-command name → :class:`MitigateCommand`. One entry per mitigation (``mix`` is added here too).
MITIGATE_COMMANDS: dict[str, MitigateCommand] = {
    "dfr": MitigateCommand(
        "DFR (Kirichenko et al. 2023): refit the last layer on group-balanced validation features",
        "robustscope mitigate dfr --model file:m --train-data synth-urbancars:tiny:train "
        "--val-data synth-urbancars:tiny:val --group-by background --out m-dfr",
        cmd_mitigate_dfr,
    ),
    "lle": MitigateCommand(
        "Last Layer Ensemble (Li et al. 2023): one head per augmentation, mixed by an augmentation classifier",
        "robustscope mitigate lle --model file:m --train-data synth-urbancars:tiny:train "
        "--augment bg=urbancars:bg co_occur_obj=urbancars:co_occur_obj --out m-lle",
        cmd_mitigate_lle, _add_lle,
    ),
    "last-layer": MitigateCommand(
        "retrain the last layer on --train-data: ERM, or group-balanced with --balanced --group-by FACTOR",
        "robustscope mitigate last-layer --model file:m --train-data D --balanced --group-by background --out m-gb",
        _last_layer("erm", False), _add_last_layer,
    ),
    "groupdro": MitigateCommand(
        "GroupDRO (Sagawa et al. 2020) on the last layer: minimise the worst group's loss",
        "robustscope mitigate groupdro --model file:m --train-data D --group-by background --out m-gdro",
        _last_layer("groupdro", True, step_size=None), _add_groupdro,
    ),
    "jtt": MitigateCommand(
        "JTT (Liu et al. 2021) on the last layer: up-weight the training images an ERM head gets wrong",
        "robustscope mitigate jtt --model file:m --train-data D --out m-jtt",
        _last_layer("jtt", False, up_weight=None, id_epochs=None), _add_jtt,
    ),
    "mix": MitigateCommand(
        "synthetic-data mixing (Singh et al. 2024): train on a world's narrow split plus a fraction of diverse renders",
        "robustscope mitigate mix --world tiny --fraction 0.5 --epochs 1 --out m-mix",
        cmd_mitigate_mix, add_mix_arguments,
    ),
}


def add_mitigate_commands(parser: argparse.ArgumentParser, sub: Callable[..., argparse.ArgumentParser]) -> None:
    """Add one sub-command per :data:`MITIGATE_COMMANDS` entry under ``parser`` (``robustscope mitigate``);
    ``sub(name, help, example, parent=…)`` makes each parser, as for every other command.

    Example:
        >>> root = argparse.ArgumentParser()
        >>> add_mitigate_commands(root, lambda name, text, example, parent: parent.add_parser(name))
        >>> root.parse_args(["dfr", "--model", "m", "--train-data", "d", "--out", "o"]).mitigation
        'dfr'
    """
    commands = parser.add_subparsers(dest="mitigate_command", required=True)
    for name, command in MITIGATE_COMMANDS.items():
        child = sub(name, command.summary, command.example, parent=commands)
        add_common_arguments(child)
        command.add_arguments(child)
        child.set_defaults(func=command.run, mitigation=name)
