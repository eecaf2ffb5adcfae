"""robustscope.engine."""
