"""Evaluations: scoring one output with registered metrics, stored and published."""
