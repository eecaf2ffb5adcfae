"""robustscope.mitigate."""
