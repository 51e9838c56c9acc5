"""Unit tests of the evaluators."""
