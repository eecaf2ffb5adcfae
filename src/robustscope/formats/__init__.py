"""On-disk schemas of released datasets that more than one floor reads or writes.

A release's column names belong to the release, not to its loader (``data/``) or to the synthetic world that
writes the same schema (``synth/``): they live here, on a floor below both, so each imports them downward.
This package imports nothing from robustscope.
"""
