"""Importing datasets over REST: real MMLU and GSM8K files, versions, bad files."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import Server


def upload(server: Server, name: str, format: str, files: list[tuple[str, bytes]]):
    return server.client.post(
        "/v1/datasets",
        headers=server.auth,
        data={"name": name, "format": format},
        files=[("file", (filename, content)) for filename, content in files],
    )


def mmlu_dev_files(datasets_dir: Path) -> list[tuple[str, bytes]]:
    return [
        (path.name, path.read_bytes())
        for path in sorted((datasets_dir / "mmlu" / "dev").glob("*.csv"))
    ]


def test_the_mmlu_dev_split_imports_as_285_items_in_57_subjects(
    server: Server, datasets_dir: Path
) -> None:
    response = upload(server, "mmlu", "mmlu-csv", mmlu_dev_files(datasets_dir))

    body = response.json()
    assert response.status_code == 201, response.text
    assert body["item_count"] == 285
    assert len(body["subjects"]) == 57
    assert "abstract_algebra" in body["subjects"]
    assert body["version"] == 1
    assert len(body["content_hash"]) == 64
    assert (
        server.client.get(f"/v1/datasets/{body['id']}", headers=server.auth).json()
        == body
    )


def test_gsm8k_imports_with_its_final_answers(
    server: Server, datasets_dir: Path
) -> None:
    lines = (datasets_dir / "gsm8k" / "test.jsonl").read_bytes().splitlines()[:20]

    response = upload(
        server, "gsm8k", "gsm8k-jsonl", [("test.jsonl", b"\n".join(lines))]
    )

    assert response.status_code == 201, response.text
    assert response.json()["item_count"] == 20


def test_a_new_upload_under_a_name_is_its_next_version(server: Server) -> None:
    first = [("a.jsonl", b'{"input": "2+2?", "expected": "4"}\n')]
    second = [("a.jsonl", b'{"input": "3+3?", "expected": "6"}\n')]

    v1 = upload(server, "arith", "jsonl", first).json()
    v2 = upload(server, "arith", "jsonl", second).json()
    listed = server.client.get("/v1/datasets?name=arith", headers=server.auth).json()

    assert (v1["version"], v2["version"]) == (1, 2)
    assert v1["content_hash"] != v2["content_hash"]
    assert [d["version"] for d in listed["items"]] == [2, 1]
    assert listed["total"] == 2


def test_a_name_of_the_form_of_a_dataset_id_is_refused(server: Server) -> None:
    item = [("a.jsonl", b'{"input": "2+2?", "expected": "4"}\n')]
    first = upload(server, "arith", "jsonl", item).json()

    response = upload(server, first["id"], "jsonl", item)
    # In capitals it is no id: ids are looked up as they are written.
    upper = upload(server, first["id"].upper(), "jsonl", item)
    listed = server.client.get("/v1/datasets", headers=server.auth).json()

    assert response.status_code == 400
    assert response.json()["error"]["details"] == {
        "errors": [{"field": "name", "message": "is a UUID"}]
    }
    assert upper.status_code == 201
    assert [d["name"] for d in listed["items"]] == [first["id"].upper(), "arith"]


def test_identical_content_has_the_same_hash(server: Server) -> None:
    content = [("q.jsonl", b'{"input": "Capital of France?", "expected": "Paris"}\n')]

    one = upload(server, "same-a", "jsonl", content).json()
    two = upload(server, "same-b", "jsonl", content).json()

    assert one["content_hash"] == two["content_hash"]


def test_a_bad_line_is_a_400_naming_file_and_line(server: Server) -> None:
    good = json.dumps({"input": "ok?", "expected": "yes"}).encode()
    content = good + b"\n" + good + b"\n{not json\n"

    response = upload(server, "broken", "jsonl", [("items.jsonl", content)])

    body = response.json()
    assert response.status_code == 400
    assert body["error"]["details"]["file"] == "items.jsonl"
    assert body["error"]["details"]["line"] == 3
    assert "line 3" in body["error"]["message"]


def test_a_wrong_column_count_in_mmlu_csv_is_a_400(server: Server) -> None:
    content = b'"What?",a,b,c,d,A\n"Short row",a,b\n'

    response = upload(server, "mmlu-bad", "mmlu-csv", [("x_dev.csv", content)])

    assert response.status_code == 400
    assert response.json()["error"]["details"]["line"] == 2


def test_an_unknown_format_or_missing_file_is_a_400(server: Server) -> None:
    unknown = upload(server, "x", "parquet", [("x.parquet", b"PAR1")])
    missing = server.client.post(
        "/v1/datasets",
        headers=server.auth,
        files={"name": (None, "x"), "format": (None, "jsonl")},
    )

    assert unknown.status_code == 400
    assert unknown.json()["error"]["message"] == "Request body is invalid: format"
    (error,) = unknown.json()["error"]["details"]["errors"]
    assert error["field"] == "format"
    assert "is not one of ['mmlu-csv', 'gsm8k-jsonl', 'jsonl']" in error["message"]
    assert missing.status_code == 400
    assert missing.json()["error"]["details"]["errors"] == [
        {"field": "file", "message": "'file' is a required property"}
    ]


def test_a_form_field_the_upload_does_not_take_is_named(server: Server) -> None:
    response = server.client.post(
        "/v1/datasets",
        headers=server.auth,
        data={"name": "x", "format": "jsonl", "extra": "1"},
        files=[("file", ("a.jsonl", b'{"input": "q", "expected": "a"}\n'))],
    )

    assert response.status_code == 400, response.text
    assert response.json()["error"]["details"]["errors"] == [
        {"field": "extra", "message": "not a field of this form"}
    ]


def test_every_invalid_field_of_a_form_is_named(server: Server) -> None:
    response = server.client.post(
        "/v1/datasets",
        headers=server.auth,
        files={"name": (None, "../etc"), "format": (None, "csv")},
    )

    assert response.status_code == 400
    fields = [e["field"] for e in response.json()["error"]["details"]["errors"]]
    assert sorted(fields) == ["file", "format", "name"]


BOUNDARY = "ltb-test-boundary"
MULTIPART = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


def multipart_body(name: str, format: str, filename: str, content: bytes) -> bytes:
    """An upload's multipart body, written out (to send it in chunks)."""
    parts = [
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="name"\r\n\r\n'
        f"{name}\r\n".encode(),
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="format"\r\n\r\n'
        f"{format}\r\n".encode(),
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="{filename}"\r\n\r\n'.encode()
        + content
        + b"\r\n",
        f"--{BOUNDARY}--\r\n".encode(),
    ]
    return b"".join(parts)


def chunked(body: bytes, size: int = 16) -> Iterator[bytes]:
    """The body as a generator: the client sends it with Transfer-Encoding: chunked."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


def test_a_chunked_upload_imports_as_one_with_content_length(server: Server) -> None:
    content = (
        b'{"input": "2+2?", "expected": "4"}\n{"input": "3+3?", "expected": "6"}\n'
    )
    body = multipart_body("sums", "jsonl", "sums.jsonl", content)

    streamed = server.client.post(
        "/v1/datasets", headers=server.auth | MULTIPART, content=chunked(body)
    )
    whole = server.client.post(
        "/v1/datasets", headers=server.auth | MULTIPART, content=body
    )

    assert streamed.request.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in streamed.request.headers
    assert streamed.status_code == 201, streamed.text
    assert whole.status_code == 201, whole.text
    assert (streamed.json()["item_count"], streamed.json()["version"]) == (2, 1)
    assert streamed.json()["content_hash"] == whole.json()["content_hash"]


def _nothing() -> Iterator[bytes]:
    yield from ()


@pytest.mark.parametrize("sent", ["content-length-0", "chunked-without-data"])
def test_an_empty_upload_is_told_it_is_empty_and_what_to_send(
    server: Server, sent: str
) -> None:
    body = b"" if sent == "content-length-0" else _nothing()

    response = server.client.post(
        "/v1/datasets", headers=server.auth | MULTIPART, content=body
    )

    sent_as = dict(response.request.headers)
    assert sent_as.get("content-length", sent_as.get("transfer-encoding")) == (
        "0" if sent == "content-length-0" else "chunked"
    )
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "BAD_REQUEST",
        "message": "Request body is empty: send multipart/form-data with the "
        "fields name, format and file",
        "details": {
            "errors": [
                {"field": "name", "message": "is required"},
                {"field": "format", "message": "is required"},
                {"field": "file", "message": "is required"},
            ]
        },
    }
    listed = server.client.get("/v1/datasets", headers=server.auth).json()
    assert listed["total"] == 0


def test_a_form_that_is_not_multipart_is_a_415(server: Server) -> None:
    response = server.client.post(
        "/v1/datasets", headers=server.auth, data={"name": "x", "format": "jsonl"}
    )

    assert response.status_code == 415


def test_an_unknown_dataset_is_a_404(server: Server) -> None:
    response = server.client.get("/v1/datasets/does-not-exist", headers=server.auth)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"


def test_a_dataset_is_readable_by_name_as_its_newest_version(server: Server) -> None:
    upload(server, "named", "jsonl", [("a.jsonl", b'{"input": "1?", "expected": "1"}')])
    newest = upload(
        server, "named", "jsonl", [("a.jsonl", b'{"input": "2?", "expected": "2"}')]
    ).json()

    response = server.client.get("/v1/datasets/named", headers=server.auth)

    assert response.json() == newest


def test_a_nul_character_in_a_dataset_file_is_a_400(server: Server) -> None:
    content = b'{"input": "a\\u0000b", "expected": "x"}\n'

    response = upload(server, "nul", "jsonl", [("n.jsonl", content)])

    assert response.status_code == 400
    assert "NUL" in response.json()["error"]["message"]
