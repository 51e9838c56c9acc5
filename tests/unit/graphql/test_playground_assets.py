"""The playground's vendored files are exactly the pinned ones, with their licences."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import yaml

from app.graphql import playground

REPO = Path(__file__).resolve().parents[3]
STATIC = REPO / "app" / "graphql" / "static"


def pinned() -> dict[str, str]:
    lines = (STATIC / "SHA256SUMS").read_text(encoding="ascii").splitlines()
    return {name: digest for digest, name in (line.split() for line in lines)}


def test_every_served_file_has_the_pinned_checksum() -> None:
    for name, digest in pinned().items():
        assert hashlib.sha256((STATIC / name).read_bytes()).hexdigest() == digest, name


def test_no_unpinned_file_lies_beside_the_pinned_ones() -> None:
    present = {p.name for p in STATIC.iterdir() if p.is_file()} - {"SHA256SUMS"}

    assert present == set(pinned())


def test_every_vendored_package_comes_with_its_licence() -> None:
    licences = {p.name for p in (STATIC / "licenses").iterdir()}

    assert licences == {
        "graphiql-LICENSE",
        "react-LICENSE",
        "react-dom-LICENSE",
        "graphql-ws-LICENSE",
    }
    for licence in licences:
        assert "MIT License" in (STATIC / "licenses" / licence).read_text()


def test_the_contract_page_and_server_agree_on_the_file_names() -> None:
    spec = yaml.safe_load((REPO / "openapi" / "openapi.yaml").read_text())
    operation = spec["paths"]["/graphql/assets/{asset}"]["get"]
    enum = set(operation["parameters"][0]["schema"]["enum"])
    loaded = set(re.findall(r"/graphql/assets/([^\"]+)\"", playground.page()))

    assert enum == set(pinned()) == playground.served_assets() == loaded


def test_the_page_loads_nothing_from_another_host() -> None:
    assert not re.search(r"(src|href)=\"(https?:)?//", playground.page())
    assert "http://" not in (STATIC / "playground.js").read_text()
    assert "https://" not in (STATIC / "playground.js").read_text()
