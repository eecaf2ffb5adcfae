"""The results explorer: one static page over a workspace's results, with failure galleries and comparisons.

:func:`build_explorer` writes a folder that opens from ``file://`` (``robustscope explore``);
:func:`serve_explorer` serves it on localhost and answers ``/api/query`` from the result store
(``robustscope serve``). See ``docs/explorer.md``.

Example:
    >>> from robustscope.report.explorer import build_explorer, serve_explorer
    >>> callable(build_explorer) and callable(serve_explorer)
    True
"""

from __future__ import annotations

from robustscope.report.explorer.build import ExplorerBuild, build_explorer
from robustscope.report.explorer.galleries import GalleryLimits
from robustscope.report.explorer.server import serve_explorer

__all__ = ["ExplorerBuild", "GalleryLimits", "build_explorer", "serve_explorer"]
