"""After a SIGKILL the metrics directory stays; the next start removes it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from app.observability.metrics_dir import PREFIX, remove_orphaned_metrics_dirs


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def metrics_dir(parent: Path, name: str) -> Path:
    path = parent / name
    path.mkdir()
    (path / "counter_123.db").write_bytes(b"figures")
    return path


def test_only_the_directories_of_masters_that_are_gone_are_removed(
    tmp_path: Path,
) -> None:
    orphan = metrics_dir(tmp_path, f"{PREFIX}{dead_pid()}-abc123")
    running = metrics_dir(tmp_path, f"{PREFIX}{os.getpid()}-def456")
    # Made by an earlier version, without a pid: nothing tells whether it is used.
    unnamed = metrics_dir(tmp_path, f"{PREFIX}ghi789")
    other = metrics_dir(tmp_path, "something-else")

    removed = remove_orphaned_metrics_dirs(str(tmp_path))

    assert removed == [str(orphan)]
    assert not orphan.exists()
    assert running.exists() and unnamed.exists() and other.exists()


def test_a_symlink_named_like_a_metrics_directory_is_left_alone(
    tmp_path: Path,
) -> None:
    target = metrics_dir(tmp_path, "target")
    link = tmp_path / f"{PREFIX}{dead_pid()}-link"
    link.symlink_to(target)

    assert remove_orphaned_metrics_dirs(str(tmp_path)) == []
    assert link.is_symlink() and (target / "counter_123.db").exists()
