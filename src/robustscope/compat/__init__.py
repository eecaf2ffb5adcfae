"""Shims that let reference libraries (used by tests and benchmarks, never at run time) work on
today's numpy, scikit-image and torch. Each shim lives here, in one module per library, with a test."""
