"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support import log_scan

REPO = Path(__file__).resolve().parent.parent
# CI clones the project with a copy of shared/ beside it.
SHARED = REPO.parent / "shared"
DATASETS = SHARED / "datasets"


@pytest.fixture(scope="session")
def datasets_dir() -> Path:
    """The real benchmark data in ../shared/datasets (never copied into the repo)."""
    if not DATASETS.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{DATASETS} is missing: CI must provide ../shared")
        pytest.skip(f"{DATASETS} is missing")
    return DATASETS


def pytest_configure(config: pytest.Config) -> None:
    """Record every log line from the start, for the log scan."""
    log_scan.install()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The log scan runs last, over everything the suite logged."""
    items.sort(key=lambda item: item.get_closest_marker("log_scan") is not None)
