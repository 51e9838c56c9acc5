"""Where `tox -e codegen` writes generated code, and how its tests import it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
OUT = Path(os.environ.get("LTB_CODEGEN_OUT") or REPO / "codegen" / "out")


def require_generated(relative: str) -> Path:
    """Make ``OUT/relative`` importable, or skip the module (fail it in CI).

    In CI the codegen env has just generated it, so missing is a failure there;
    the default py env runs before codegen and does not set LTB_CODEGEN_OUT.
    """
    path = OUT / relative
    if not path.exists():
        why = f"{path} is missing: `tox -e codegen` generates it, then runs this test"
        if os.environ.get("CI") == "true" and "LTB_CODEGEN_OUT" in os.environ:
            pytest.fail(why, pytrace=False)
        pytest.skip(why, allow_module_level=True)
    sys.path.insert(0, str(path.parent))
    return path
