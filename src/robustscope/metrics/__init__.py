"""robustscope.metrics."""
