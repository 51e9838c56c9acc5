"""Every REST operation x every role (and no credential) gets what the table says.

The matrix is generated from openapi/openapi.yaml, so a new operation is covered
(and must have a permission entry) the moment it is in the spec.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
import yaml

from app.auth.permissions import PERMISSIONS, TOPIC_PREFIX, Role, is_public
from tests.integration.conftest import Server, start_server

SPEC = Path(__file__).resolve().parents[2] / "openapi" / "openapi.yaml"
CALLERS = [*(role.value for role in Role), None]


def operations() -> list[tuple[str, str, str, bool]]:
    spec = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    found = []
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            multipart = "multipart/form-data" in (
                operation.get("requestBody", {}).get("content", {})
            )
            found.append((operation["operationId"], method, path, multipart))
    return found


OPERATIONS = operations()


def test_every_operation_in_the_spec_has_a_permission_entry() -> None:
    rest = {op for op in PERMISSIONS if not op.startswith(TOPIC_PREFIX)}
    assert {op for op, *_ in OPERATIONS} == rest


@pytest.fixture(scope="module")
def matrix_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the whole matrix: the requests change nothing it relies on."""
    with ExitStack() as stack:
        yield start_server(stack, tmp_path_factory.mktemp("matrix"))


@pytest.fixture(scope="module")
def headers_by_role(matrix_server: Server) -> dict[str | None, dict[str, str]]:
    runtime = matrix_server.client.app.app.extensions["ltb"]
    headers: dict[str | None, dict[str, str]] = {None: {}, "admin": matrix_server.auth}
    for role in ("user", "service", "viewer"):
        runtime.auth.create_user(f"matrix-{role}", f"matrix-{role}-password", role)
        headers[role] = matrix_server.login(f"matrix-{role}", f"matrix-{role}-password")
    return headers


@pytest.mark.parametrize(
    ("operation", "method", "path", "multipart"),
    OPERATIONS,
    ids=[op for op, *_ in OPERATIONS],
)
def test_each_role_gets_exactly_what_the_permission_table_says(
    matrix_server: Server,
    headers_by_role: dict[str | None, dict[str, str]],
    operation: str,
    method: str,
    path: str,
    multipart: bool,
) -> None:
    url = path.replace("{id}", "00000000-0000-0000-0000-000000000000")
    for caller in CALLERS:
        kwargs: dict = {"headers": headers_by_role[caller]}
        if method in {"post", "patch"}:
            kwargs |= {"files": {"name": (None, "x")}} if multipart else {"json": {}}
        response = matrix_server.client.request(method.upper(), url, **kwargs)

        if is_public(operation):
            expected = "allowed"
        elif caller is None:
            expected = 401
        elif Role(caller) in PERMISSIONS[operation]:
            expected = "allowed"
        else:
            expected = 403

        if expected == "allowed":
            assert response.status_code not in (401, 403), (caller, response.text)
        else:
            assert response.status_code == expected, (caller, response.text)
