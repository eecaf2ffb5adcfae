"""robustscope.report: a self-contained HTML report from result rows.

Example:
    >>> from robustscope.report import write_report
    >>> callable(write_report)
    True
"""

from __future__ import annotations

from robustscope.report.html import write_report

__all__ = ["write_report"]
