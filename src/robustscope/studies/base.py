"""The :class:`Study` record and the :data:`STUDIES` registry (study modules import them from here, not from the
package, whose ``__init__`` registers the studies: no import cycle)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

from robustscope.registry import Registry

__all__ = ["STUDIES", "Study", "print_summary", "register_study"]


@dataclass(frozen=True)
class Study:
    """One ``robustscope study NAME`` command.

    Attributes:
        name: the sub-command (``whac-a-mole``, ``mixing``…).
        summary: one line of help.
        example: a full command line that runs it.
        add_arguments: adds the study's options to its argparse parser.
        run: runs it from the parsed arguments (the global ``--workspace`` and ``--quiet`` included); exit code.

    Example:
        >>> study = Study("echo", "print a word", "robustscope study echo --word hi",
        ...               lambda p: p.add_argument("--word"), lambda args: print(args.word) or 0)
        >>> parser = argparse.ArgumentParser()
        >>> _ = study.add_arguments(parser)
        >>> study.run(parser.parse_args(["--word", "hi"]))
        hi
        0
    """

    name: str
    summary: str
    example: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


#: Study name → ``"module:STUDY"`` (a :class:`Study`), imported when the command line is built.
STUDIES: Registry[Study] = Registry("study")


def register_study(name: str, target: str, summary: str = "", example: str = "") -> None:
    """Register a study: ``target`` is ``"module:ATTRIBUTE"`` naming its :class:`Study`.

    Example:
        >>> "definitely-not-a-study" in STUDIES
        False
    """
    STUDIES.add(name, target, summary, example)


def print_summary(rows: list[tuple[str, str]], evaluate: str) -> None:
    """Print ``key  value`` lines aligned on the keys, then the command that evaluates the result.

    Example:
        >>> print_summary([("method", "dfr"), ("wall time", "1.2 s")], "robustscope run --model file:out")
        method     dfr
        wall time  1.2 s
        evaluate it:  robustscope run --model file:out
    """
    width = max(len(key) for key, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    print(f"evaluate it:  {evaluate}")
