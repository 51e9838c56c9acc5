"""Discovery reads manifests in workers and survives plugins that break on import."""

from __future__ import annotations

from app.plugins.discovery import EntryPointRef, discover, installed_entry_points
from app.plugins.process import WorkerLimits
from tests.support.plugins import requires_test_plugins

LIMITS = WorkerLimits(time_limit_s=10, max_output_bytes=1_000_000)


def ref(name: str, value: str) -> EntryPointRef:
    return EntryPointRef(name, value, "ltb-test-plugins", "0.1.0")


def test_no_plugin_means_no_worker_and_an_empty_list() -> None:
    assert discover(LIMITS, {}, refs=[]) == []


@requires_test_plugins
def test_a_plugin_after_one_that_kills_its_worker_still_loads() -> None:
    refs = [
        ref("exits", "ltb_test_plugins.import_exits:plugin"),
        ref("echo", "ltb_test_plugins.misbehaving:make_echo"),
        ref("missing", "no_such_module:plugin"),
        ref("raises", "ltb_test_plugins.misbehaving:Raises"),
    ]

    found = {plugin.entry_point.name: plugin for plugin in discover(LIMITS, {}, refs)}

    assert found["exits"].failure == "worker exited with code 7 on import"
    assert found["echo"].manifest is not None
    assert found["echo"].manifest.name == "test-echo"
    assert found["missing"].failure == (
        "import failed: ModuleNotFoundError: No module named 'no_such_module'"
    )
    assert found["raises"].manifest is not None
    assert found["raises"].failure is None


def test_an_object_without_the_manifest_is_failed() -> None:
    refs = [ref("os", "os:path")]

    (plugin,) = discover(LIMITS, {}, refs)

    assert plugin.manifest is None
    assert plugin.failure is not None
    assert plugin.failure.startswith("manifest lacks name, version, plugin_type")


@requires_test_plugins
def test_installed_entry_points_are_read_from_metadata_by_name() -> None:
    names = [entry_point.name for entry_point in installed_entry_points()]

    assert names == sorted(names)
    assert "keyword-coverage" in names
