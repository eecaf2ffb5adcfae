"""Shims that let older libraries work on today's numpy, scikit-image and torch, without forking them: reference
libraries used by tests and benchmarks (``imagecorruptions``), and CrypTen, which the optional private evaluation
runs on (``crypten_shims``). Each shim lives here, in one module per library, with a test."""
