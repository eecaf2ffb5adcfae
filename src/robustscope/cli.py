"""The robustscope command line: demo, run, synth render, train, report, results, list."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from robustscope.cli_args import (
    OneLineParser,
    add_executor_arguments,
    non_negative_int,
    positive_float,
    positive_int,
    probability,
)
from robustscope.cli_commands import (
    cmd_compare,
    cmd_compare_mitigation,
    cmd_demo,
    cmd_imagenet_x,
    cmd_list,
    cmd_report,
    cmd_results,
    cmd_run,
    cmd_synth_render,
    cmd_train,
    cmd_validate_axes,
)
from robustscope.cli_explore import add_explore_commands
from robustscope.cli_mitigate import add_mitigate_commands
from robustscope.cli_private import add_party_command, add_private_arguments
from robustscope.cli_search import add_search_arguments, cmd_search
from robustscope.cli_sweep import add_sweep_command
from robustscope.errors import RobustscopeError
from robustscope.studies import STUDIES

EPILOG = """examples:
  robustscope demo                                   # render, train, evaluate, report (offline)
  robustscope run --model timm:resnet50 --data folder:~/data/imagenet/val --slice-by none
  robustscope run --model file:.robustscope/models/demo-clean-… --data synth:demo:test-pose
  robustscope synth render demo --split test-pose --out renders/pose
  robustscope train --data synth:demo:train-diverse --out models/diverse --epochs 12
  robustscope train --recipe texture-shortcut        # a known-answer model with a planted failure
  robustscope train --ssl --data synth:demo:train-diverse --out models/simclr   # self-supervised backbone
  robustscope validate-axes --seeds 0 1 2            # does each axis flag its planted failure?
  robustscope report --out report.html
  robustscope results --format csv --out results.csv
  robustscope run --model file:model/ --data synth:demo:test-id --shift none corruption:fog:3
  robustscope list models | datasets | metrics | shifts | corruptions | worlds
  robustscope sweep sweep.yaml --executor ray        # models × suites from one file, on a local Ray or cluster
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``robustscope`` command.

    Example:
        >>> build_parser().parse_args(["list", "shifts"]).func.__name__
        'cmd_list'
    """
    parser = OneLineParser(prog="robustscope", description=__doc__, epilog=EPILOG,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workspace", help="workspace folder (default: $ROBUSTSCOPE_HOME or ./.robustscope)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    commands = parser.add_subparsers(dest="command", required=True)

    def sub(name: str, help_text: str, example: str, parent=commands) -> argparse.ArgumentParser:
        return parent.add_parser(name, help=help_text, description=help_text, epilog=f"example:\n  {example}",
                                 formatter_class=argparse.RawDescriptionHelpFormatter)

    demo = sub("demo", "render the built-in world, train two known-answer reference models, evaluate, report",
               "robustscope demo --workers 2")
    demo.add_argument("--world", default="demo", help="built-in world or YAML spec (default: demo)")
    demo.add_argument("--epochs", type=positive_int, default=None,
                      help="epochs of the clean reference model (default: its recipe's, 20; the other in proportion)")
    demo.add_argument("--workers", type=positive_int, default=None, help="rendering processes (default: all cores)")
    demo.set_defaults(func=cmd_demo)

    run = sub("run", "evaluate one model on one dataset, or on every axis of a suite (all cached)",
              "robustscope run --model tv:resnet18 --data folder:~/data/imagenet/val --metric top1 ece\n"
              "  robustscope run --model timm:convnext_base --suite synthetic-clones --data-root ~/data\n"
              "  robustscope run --model file:.robustscope/models/demo-clean-… --suite synthetic-clones-offline")
    run.add_argument("--model", required=True, help="timm:NAME, tv:NAME, clip:ARCH/PRETRAINED, file:PATH")
    run.add_argument("--data", help="folder:PATH, csv:PATH, synth:WORLD:SPLIT (robustscope list datasets)")
    run.add_argument("--suite", help="a suite name or YAML file (robustscope list suites) instead of --data")
    run.add_argument("--axis", nargs="+", help="with --suite: run only these axes")
    run.add_argument("--world", default="demo", help="with --suite: the synthetic world of {world} datasets")
    run.add_argument("--data-root", help="folder that relative dataset paths (and a suite's benchmarks) are under")
    run.add_argument("--shift", nargs="+", default=["none"], help="shift specs (robustscope list shifts)")
    run.add_argument("--metric", nargs="+", default=["top1", "top5", "ece", "nll", "brier"], help="metric names")
    run.add_argument("--slice-by", nargs="+", default=["all"], help="factor columns, 'all' or 'none'")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--batch-size", type=positive_int, default=64)
    run.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, …")
    run.add_argument("--precision", choices=["fp32", "fp16", "bf16"], default="fp32",
                     help="forward pass in float32 (default) or under fp16/bf16 autocast (cached apart)")
    run.add_argument("--num-workers", type=non_negative_int, default=0, metavar="N",
                     help="processes decoding images while the model runs (default 0: decode in this process)")
    run.add_argument("--on-bad-image", choices=["raise", "skip"], default="raise",
                     help="stop on an unreadable image (default) or skip and count it")
    run.add_argument("--max-image-pixels", type=positive_int, default=None, metavar="N",
                     help="images with more pixels are bad images, possible decompression bombs "
                          "(default: PIL's limit, 89478485)")
    run.add_argument("--n-resamples", type=non_negative_int, default=1000, help="bootstrap resamples for the CIs")
    add_executor_arguments(run)
    add_private_arguments(run)
    run.set_defaults(func=cmd_run)

    synth = sub("synth", "the synthetic world", "robustscope synth render demo --out renders/")
    synth_commands = synth.add_subparsers(dest="synth_command", required=True)
    render = sub("render", "render a world spec (all splits, or one) to PNGs, masks and labels.csv",
                 "robustscope synth render demo --split test-pose --out renders/pose", parent=synth_commands)
    render.add_argument("spec", help="built-in world name or YAML file")
    render.add_argument("--out", required=True, help="output folder (one sub-folder per split)")
    render.add_argument("--split", help="render only this split")
    render.add_argument("--workers", type=positive_int, default=None)
    render.set_defaults(func=cmd_synth_render)

    train = sub("train", "train a small reference CNN on a dataset, or a known-answer recipe; saves safetensors + "
                "config.json", "robustscope train --recipe texture-shortcut --world demo")
    train.add_argument("--data", help="dataset spec (robustscope list datasets)")
    train.add_argument("--data-root")
    train.add_argument("--out", help="output folder (with --recipe: default, the workspace's model cache)")
    train.add_argument("--recipe", help="known-answer recipe: clean, texture-shortcut, background-shortcut, "
                       "context-shortcut, overconfident (robustscope/train/data/recipes.yaml)")
    train.add_argument("--world", default="demo", help="world whose split a --recipe trains on (default: demo)")
    train.add_argument("--epochs", type=positive_int, default=None,
                       help="epochs (default: 12; with --recipe, the recipe's, proportions kept)")
    train.add_argument("--batch-size", type=positive_int, default=128)
    train.add_argument("--lr", type=positive_float, default=3e-3)
    train.add_argument("--image-size", type=positive_int, default=64)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--ssl", action="store_true",
                       help="self-supervised: SimCLR on --data's images (no labels), then a linear-probe head "
                            "(default 30 epochs; robustscope.represent)")
    train.set_defaults(func=cmd_train)

    validate = sub("validate-axes", "train the known-answer recipes and check that each axis flags its planted "
                   "failure and no clean model (exit 1 if not)", "robustscope validate-axes --world demo --seeds 0 1 2")
    validate.add_argument("--world", default="demo", help="world with the recipes' splits (default: demo)")
    validate.add_argument("--recipe", nargs="*", help="only these recipes (default: all)")
    validate.add_argument("--seeds", type=non_negative_int, nargs="+", default=[0], help="training seeds")
    validate.add_argument("--epochs", type=positive_int, default=None, help="override the recipes' epochs")
    validate.add_argument("--axis", nargs="*", help="only these axes of the suite")
    validate.add_argument("--n-resamples", type=non_negative_int, default=1000, help="bootstrap resamples per CI")
    validate.add_argument("--workers", type=positive_int, default=None, help="rendering processes")
    validate.add_argument("--out", help="write every judged cell as CSV here")
    validate.set_defaults(func=cmd_validate_axes)

    report = sub("report", "write the self-contained HTML report of the workspace's results",
                 "robustscope report --out report.html")
    report.add_argument("--out", help="HTML file (default: WORKSPACE/reports/report.html)")
    report.add_argument("--model", nargs="*", help="only these models")
    report.set_defaults(func=cmd_report)

    results = sub("results", "print or export the result rows", "robustscope results --format json --out r.json")
    results.add_argument("--format", choices=["csv", "json"], default="csv")
    results.add_argument("--out", help="file to write (default: stdout)")
    results.add_argument("--rebuild", action="store_true",
                         help="rebuild the result database from stored predictions (no forward pass); "
                              "the old file is moved aside, never deleted")
    results.set_defaults(func=cmd_results)

    comparing = sub("compare", "paired bootstrap test: does model A beat model B on a metric (same samples)?",
                    "robustscope compare file:models/a file:models/b --data synth:demo:test-pose")
    comparing.add_argument("model_a", help="model spec (as for run --model)")
    comparing.add_argument("model_b", help="model spec")
    comparing.add_argument("--data", required=True, help="dataset spec (robustscope list datasets)")
    comparing.add_argument("--data-root", help="folder that relative dataset paths are under")
    comparing.add_argument("--metric", default="top1", help="metric name (robustscope list metrics)")
    comparing.add_argument("--shift", default="none", help="shift spec (robustscope list shifts)")
    comparing.add_argument("--alpha", type=probability, default=0.05, help="significance level of the verdict")
    comparing.add_argument("--n-resamples", type=non_negative_int, default=10_000, help="paired bootstrap resamples")
    comparing.add_argument("--seed", type=int, default=0)
    comparing.add_argument("--batch-size", type=positive_int, default=64)
    comparing.add_argument("--device", default="cpu")
    comparing.add_argument("--format", choices=["text", "json"], default="text")
    comparing.set_defaults(func=cmd_compare)

    # A command of its own, not `compare --suite`: compare tests one metric on one dataset (a verdict), this one
    # tabulates every axis of a suite for several mitigated models and draws the Whac-A-Mole matrix.
    mitigation = sub("compare-mitigation", "mitigated models against their base on every axis of a suite: before, "
                     "after, change with a paired CI, and the Whac-A-Mole matrix",
                     "robustscope compare-mitigation --base file:erm --mitigated file:erm-dfr file:erm-lle "
                     "--suite shortcuts-offline --world tiny")
    mitigation.add_argument("--base", required=True, help="the model before mitigation (model spec)")
    mitigation.add_argument("--mitigated", required=True, nargs="+", help="mitigated models (file:FOLDER …)")
    mitigation.add_argument("--suite", default="shortcuts-offline", help="suite name or YAML (default: "
                            "shortcuts-offline)")
    mitigation.add_argument("--world", default="demo", help="the synthetic world of {world} datasets")
    mitigation.add_argument("--data-root", help="folder of the real benchmarks a suite names")
    mitigation.add_argument("--n-resamples", type=positive_int, default=1000, help="paired bootstrap resamples")
    mitigation.add_argument("--seed", type=int, default=0)
    mitigation.add_argument("--batch-size", type=positive_int, default=64)
    mitigation.add_argument("--device", default="cpu")
    mitigation.add_argument("--all", action="store_true", help="text format: every row, not only the headlines")
    mitigation.add_argument("--format", choices=["text", "csv", "json"], default="text")
    mitigation.set_defaults(func=cmd_compare_mitigation)

    imagenet_x = sub("imagenet-x", "ImageNet-X accuracy, error ratio and ECE per factor (Idrissi et al., ICLR 2023)",
                     "robustscope imagenet-x predictions.csv --format csv")
    imagenet_x.add_argument("predictions", help="CSV with file_name, predicted_class, predicted_probability, "
                            "or a prediction key of an ImageNet-val run in the workspace")
    imagenet_x.add_argument("--format", choices=["table", "csv", "json"], default="table")
    imagenet_x.add_argument("--factors", choices=["top", "multi"], default="top",
                            help="the most salient factor per image (default) or every factor that applies")
    imagenet_x.add_argument("--correctness", choices=["class", "metaclass", "real"], default="class")
    imagenet_x.add_argument("--keep-prototypes", action="store_true", help="keep the 3,000 prototypical images")
    imagenet_x.add_argument("--n-bins", type=positive_int, default=15, help="ECE bins (ImageNet-X: 15)")
    imagenet_x.add_argument("--n-resamples", type=non_negative_int, default=1000,
                            help="bootstrap resamples for the CIs")
    imagenet_x.add_argument("--seed", type=int, default=0)
    imagenet_x.add_argument("--annotations", help="folder of the annotation files (default: the imagenet-x package's)")
    imagenet_x.set_defaults(func=cmd_imagenet_x)

    study = sub("study", "run an experiment over many models (robustscope/studies): train, mitigate, evaluate, "
                "tabulate", "robustscope study whac-a-mole --world tiny --seeds 0")
    studies = study.add_subparsers(dest="study_command", required=True)
    for entry in STUDIES.entries():
        record = entry.load()
        study_parser = sub(record.name, record.summary, record.example, parent=studies)
        record.add_arguments(study_parser)
        study_parser.set_defaults(func=record.run)

    add_party_command(sub("party", "one party of a private evaluation across machines (CrypTen; RENDEZVOUS=tcp://…)",
                          "RENDEZVOUS=tcp://10.0.0.5:29500 robustscope party data --data csv:scans.csv --metric top1"))
    add_mitigate_commands(sub("mitigate", "refit a model's last layer (DFR, LLE, last-layer ERM, GroupDRO, JTT) and "
                              "save it as a new model", "robustscope mitigate dfr --model file:m --train-data D "
                              "--val-data V --group-by FACTOR --out m-dfr"), sub)

    add_explore_commands(sub)
    add_sweep_command(sub)

    search = sub("search", "worst-case natural shifts: search the world's factors (pose, light, background, texture) "
                 "for renders that fool a model, by random search, CMA-ES and gradients through the renderer",
                 "robustscope search --model file:m --world demo --budget 64 --instances 32")
    add_search_arguments(search)
    search.set_defaults(func=cmd_search)

    listing = sub("list", "list what can be named", "robustscope list models")
    listing.add_argument("what", choices=["models", "datasets", "metrics", "shifts", "corruptions", "worlds", "suites"])
    listing.set_defaults(func=cmd_list)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``robustscope`` console script.

    Example:
        >>> main(["list", "shifts"])  # doctest: +SKIP
        0
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except RobustscopeError as err:
        # One line, whatever the message embeds (a library's multi-line reason), so scripts can grep it.
        message = " ".join(line.strip() for line in str(err).splitlines() if line.strip())
        print(f"robustscope: error: {message}", file=sys.stderr)
        if os.environ.get("ROBUSTSCOPE_DEBUG"):
            raise
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
