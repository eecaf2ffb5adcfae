"""One progress bar for long loops (training, fitting, searching): rich on stderr, nothing when disabled."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["samples_bar", "step_bar"]


@contextmanager
def step_bar(enabled: bool, description: str, total: int) -> Iterator[Callable[..., None]]:
    """A bar of ``total`` steps; yields ``advance(count=1, description=None)`` (a no-op when ``enabled`` is false).

    Example:
        >>> with step_bar(False, "fitting", 3) as advance:
        ...     for _ in range(3):
        ...         advance(1, description="fitting (loss 0.1)")
    """
    if not enabled:
        yield lambda count=1, description=None: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True)) as bar:
        task = bar.add_task(description, total=total)

        def advance(count: int = 1, description: str | None = None) -> None:
            bar.update(task, advance=count, **({"description": description} if description else {}))

        yield advance


@contextmanager
def samples_bar(enabled: bool, description: str, total: int) -> Iterator[Callable[[int], None] | None]:
    """A bar over ``total`` samples with elapsed time and the rate in samples/s; yields ``advance(n)``, or ``None``
    when ``enabled`` is false (so callers can skip per-batch callbacks entirely).

    Example:
        >>> with samples_bar(False, "model · data · none", 10) as advance:
        ...     advance is None
        True
    """
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True)) as bar:
        handle = bar.add_task(description, total=total, rate="")

        def advance(n: int) -> None:
            bar.advance(handle, n)
            speed = bar.tasks[0].speed
            bar.update(handle, rate=f"{speed:,.0f} samples/s" if speed else "")

        yield advance
