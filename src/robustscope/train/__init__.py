"""robustscope.train."""
