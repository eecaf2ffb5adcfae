"""Where robustscope keeps its work: renders, trained models, predictions, results and reports."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

#: Environment variable that moves the workspace (default: ``./.robustscope``).
WORKSPACE_ENV = "ROBUSTSCOPE_HOME"


@dataclass(frozen=True)
class Workspace:
    """The folder layout of one workspace.

    Example:
        >>> ws = Workspace(Path("/tmp/rs"))
        >>> ws.results_db.name
        'results.duckdb'
    """

    root: Path

    @property
    def renders(self) -> Path:
        return self.root / "renders"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def predictions(self) -> Path:
        return self.root / "predictions"

    @property
    def results_db(self) -> Path:
        return self.root / "results.duckdb"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def content_index(self) -> Path:
        """The stat index of image contents (see :mod:`robustscope.data.content_index`)."""
        return self.root / "content-index.sqlite"


def workspace(root: str | Path | None = None) -> Workspace:
    """The workspace at ``root``, else ``$ROBUSTSCOPE_HOME``, else ``./.robustscope``.

    Example:
        >>> workspace("/tmp/rs").predictions
        PosixPath('/tmp/rs/predictions')
    """
    chosen = root or os.environ.get(WORKSPACE_ENV) or Path.cwd() / ".robustscope"
    return Workspace(Path(chosen).expanduser().resolve())
