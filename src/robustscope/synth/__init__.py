"""robustscope.synth."""
