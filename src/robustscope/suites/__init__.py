"""robustscope.suites."""
