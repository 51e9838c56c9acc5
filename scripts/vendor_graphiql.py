#!/usr/bin/env python3
"""Reproduce the GraphiQL playground's vendored files from the npm registry.

    python3 scripts/vendor_graphiql.py

The playground must work on a machine without internet and `tasks.py serve` must
run with nothing but Python, so the browser files are kept in the repository
(app/graphql/static/) instead of being fetched from a CDN or built with Node.
This script is how they got there: it runs `npm pack` for each pinned package,
checks the tarball against the registry's pinned integrity, copies the UMD
builds and the licence, and writes SHA256SUMS, which
tests/unit/graphql/test_playground_assets.py checks on every run.
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

STATIC = Path(__file__).resolve().parent.parent / "app" / "graphql" / "static"

# (package, version, npm dist.integrity, {file in the tarball: name served}, licence)
# GraphiQL 3 is the last major version with a UMD build, which a page can load
# with plain <script> tags; it needs React 18's UMD builds (React 19 has none).
PACKAGES = [
    (
        "graphiql",
        "3.9.0",
        "sha512-rJYFlHdBbug9+YbFSwRVvgfPjCayC7wHecZkx/qB4XLuQPFQZw/yB9pmHFtOJV6RiNBBHro3u1GdocKa3YcGRA==",
        {"graphiql.min.js": "graphiql.min.js", "graphiql.min.css": "graphiql.min.css"},
        "LICENSE",
    ),
    (
        "react",
        "18.3.1",
        "sha512-wS+hAgJShR0KhEvPJArfuPVN1+Hz1t0Y6n5jLrGQbkb4urgPE/0Rve+1kMB1v/oWgHgm4WIcV+i7F2pTVj+2iQ==",
        {"umd/react.production.min.js": "react.production.min.js"},
        "LICENSE",
    ),
    (
        "react-dom",
        "18.3.1",
        "sha512-5m4nQKp+rZRb09LNH59GM4BxTh9251/ylbKIbpe7TpGxfJ+9kv6BLkLBXIjjspbgbnIBNqlI23tRnTWT0snUIw==",
        {"umd/react-dom.production.min.js": "react-dom.production.min.js"},
        "LICENSE",
    ),
    (
        "graphql-ws",
        "5.16.2",
        "sha512-E1uccsZxt/96jH/OwmLPuXMACILs76pKF2i3W861LpKBCYtGIyPQGtWLuBLkND4ox1KHns70e83PS4te50nvPQ==",
        {"umd/graphql-ws.min.js": "graphql-ws.min.js"},
        "LICENSE.md",
    ),
]
# Written by hand for this project, not vendored; listed in SHA256SUMS all the same.
OWN_FILES = ["playground.js"]


def main() -> int:
    """Download, verify and copy every pinned file, then write SHA256SUMS."""
    licences = STATIC / "licenses"
    licences.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        for package, version, integrity, files, licence in PACKAGES:
            tarball = _pack(package, version, Path(work))
            _check_integrity(tarball, integrity)
            with tarfile.open(tarball) as archive:
                for inside, served in files.items():
                    _extract(archive, f"package/{inside}", STATIC / served)
                _extract(archive, f"package/{licence}", licences / f"{package}-LICENSE")
            print(f"{package}@{version}: {', '.join(files.values())}")
    _write_sums()
    return 0


def _pack(package: str, version: str, into: Path) -> Path:
    subprocess.run(
        [
            "npm",
            "pack",
            "--loglevel=error",
            f"{package}@{version}",
            "--pack-destination",
            str(into),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return into / f"{package}-{version}.tgz"


def _check_integrity(tarball: Path, integrity: str) -> None:
    algorithm, _, expected = integrity.partition("-")
    digest = hashlib.new(algorithm, tarball.read_bytes()).digest()
    if base64.b64encode(digest).decode() != expected:
        raise SystemExit(f"{tarball.name}: integrity differs from the pinned one")


def _extract(archive: tarfile.TarFile, member: str, destination: Path) -> None:
    source = archive.extractfile(member)
    if source is None:
        raise SystemExit(f"{member} is not a file")
    with source, destination.open("wb") as out:
        shutil.copyfileobj(source, out)


def _write_sums() -> None:
    served = sorted(
        {name for *_, files, _ in PACKAGES for name in files.values()} | set(OWN_FILES)
    )
    lines = [
        f"{hashlib.sha256((STATIC / name).read_bytes()).hexdigest()}  {name}\n"
        for name in served
    ]
    (STATIC / "SHA256SUMS").write_text("".join(lines), encoding="ascii")


if __name__ == "__main__":
    sys.exit(main())
