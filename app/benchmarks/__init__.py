"""Benchmarks: planning, running and aggregating targets x items x repeats."""
