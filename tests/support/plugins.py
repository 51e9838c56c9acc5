"""Whether the test plugin packages are installed (tox installs them)."""

from __future__ import annotations

from importlib.util import find_spec

import pytest

# Without them (a bare `pip install -e .[test]`) the plugin tests that need them
# skip; the server itself then lists no plugin at all.
requires_test_plugins = pytest.mark.skipif(
    find_spec("ltb_test_plugins") is None or find_spec("ltb_example_plugin") is None,
    reason="install plugins/ltb-example-plugin and tests/plugins/ltb-test-plugins",
)
