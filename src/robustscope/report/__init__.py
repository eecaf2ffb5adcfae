"""robustscope.report."""
