"""One progress bar for long loops (training, fitting, searching): rich on stderr, nothing when disabled."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["step_bar"]


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
