"""LLM Test Bench: a contract-first API server for benchmarking LLMs."""

from __future__ import annotations

__version__ = "1.0.0"
