"""The command line of private evaluation: ``robustscope run --private …`` and ``robustscope party ROLE …``.

``run --private`` runs both parties (and the triple dealer) as processes of this machine. ``party`` runs one
party on its own machine: the model owner (``party model --model SPEC``), the data owner (``party data --data SPEC
…``: it prints and stores the results) and the dealer (``party dealer``), all three with the same
``RENDEZVOUS=tcp://HOST:PORT`` (see docs/private-evaluation.md).
"""

from __future__ import annotations

import argparse

from robustscope.cli_args import non_negative_int, positive_int

__all__ = ["add_party_command", "add_private_arguments", "cmd_party"]


def add_private_arguments(parser: argparse.ArgumentParser) -> None:
    """``--private``, ``--reveal`` and ``--precision-bits`` (on ``run`` and ``party``).

    Example:
        >>> parser = argparse.ArgumentParser()
        >>> add_private_arguments(parser)
        >>> args = parser.parse_args(["--private", "--reveal", "metric"])
        >>> args.private, args.reveal, args.precision_bits
        (True, 'metric', 16)
    """
    group = parser.add_argument_group("private evaluation (CrypTen; the robustscope[private] extra)")
    group.add_argument("--private", action="store_true",
                       help="evaluate under two-party secure computation: weights and images stay encrypted")
    group.add_argument("--reveal", choices=["logits", "metric"], default="logits",
                       help="what is decrypted: every logit, to the data owner (default), or only the top-1 count")
    group.add_argument("--precision-bits", type=positive_int, default=16, metavar="N",
                       help="fixed-point fraction bits of the encoding (default 16)")


def add_party_command(parser: argparse.ArgumentParser) -> None:
    """The ``robustscope party ROLE`` options.

    Example:
        >>> parser = argparse.ArgumentParser()
        >>> add_party_command(parser)
        >>> parser.parse_args(["dealer"]).role
        'dealer'
    """
    parser.add_argument("role", choices=["model", "data", "dealer"],
                        help="model: the weights' owner (rank 0); data: the images' owner (rank 1); dealer: rank 2")
    parser.add_argument("--model", help="(model) timm:NAME, tv:NAME, file:PATH …")
    parser.add_argument("--data", help="(data) dataset spec (robustscope list datasets)")
    parser.add_argument("--data-root", help="(data) folder relative dataset paths are under")
    parser.add_argument("--shift", nargs="+", default=["none"], help="(data) shift specs, applied before encryption")
    parser.add_argument("--metric", nargs="+", default=["top1", "top5", "ece", "nll", "brier"], help="(data) metrics")
    parser.add_argument("--slice-by", nargs="+", default=["all"], help="(data) factor columns, 'all' or 'none'")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=positive_int, default=64)
    parser.add_argument("--n-resamples", type=non_negative_int, default=1000, help="(data) bootstrap resamples")
    parser.add_argument("--reveal", choices=["logits", "metric"], default="logits",
                        help="what is decrypted (the same on all three machines)")
    parser.add_argument("--precision-bits", type=positive_int, default=16, metavar="N",
                        help="fixed-point fraction bits (the same on all three machines)")
    parser.set_defaults(func=cmd_party)


def cmd_party(args: argparse.Namespace) -> int:
    """Run this machine's party; the data owner prints its results and stores them in its workspace."""
    from rich.console import Console

    from robustscope.config import workspace
    from robustscope.private import run_private_party

    slice_by = None if args.slice_by == ["none"] else ("all" if args.slice_by == ["all"] else args.slice_by)
    result = run_private_party(
        args.role, model=args.model, dataset=args.data, shifts=args.shift, metrics=args.metric, slice_by=slice_by,
        seed=args.seed, batch_size=args.batch_size, n_resamples=args.n_resamples,
        store=workspace(getattr(args, "workspace", None)), progress=not getattr(args, "quiet", False),
        precision_bits=args.precision_bits, reveal=args.reveal, data_root=args.data_root,
    )
    console = Console(stderr=True)
    if args.role == "data" and result is not None:
        whole = result[result["slice_factor"] == ""][["shift", "metric", "value", "ci_low", "ci_high", "n"]]
        Console().print(whole.to_string(index=False))
    elif isinstance(result, dict):
        console.print(f"served {result['images']} encrypted images in {result['batches']} batches "
                      f"({result.get('seconds', 0.0):.1f} s); nothing was revealed to this party"
                      if args.reveal == "logits" else f"revealed top-1 correct counts: {result['revealed']}")
    return 0
