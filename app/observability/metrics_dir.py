"""The directory a server start's workers keep their Prometheus figures in.

gunicorn's master makes one per start and removes it on exit. A master killed
with SIGKILL cannot, so its directory carries the master's pid in its name and
the next start on the machine removes the directories of masters that are gone.

No prometheus_client import here: gunicorn.conf.py uses this before the library
is first imported, which is when it reads where the figures live.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

PREFIX = "ltb-metrics-"
_NAME = re.compile(rf"^{PREFIX}(\d+)-")


def make_metrics_dir() -> str:
    """A new, empty directory for this server start, named after its master."""
    return tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-")


def remove_orphaned_metrics_dirs(parent: str | None = None) -> list[str]:
    """Remove the directories of masters no longer running; return their paths.

    Only directories of this user are touched: a pid that cannot be signalled
    for lack of permission belongs to a running process of someone else.
    """
    removed = []
    root = Path(parent or tempfile.gettempdir())
    for entry in root.glob(f"{PREFIX}*"):
        found = _NAME.match(entry.name)
        if found is None or not entry.is_dir() or entry.is_symlink():
            continue
        if entry.stat().st_uid != os.getuid() or _running(int(found.group(1))):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(str(entry))
    return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
