"""`ltb bench export -o` writes the whole export or nothing, saying why in one line,
and `ltb bench` output piped into a reader that stops early ends quietly.

A small HTTP server on 127.0.0.1 stands in for the API: the commands only need
its export and benchmark routes.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from app.cli import main

LTB = Path(sys.executable).parent / "ltb"
HEADER = b"benchmark_id,target_index,item,correct\n"
EXPORT = HEADER + b"".join(b"b1,0,%d,true\n" % i for i in range(50))
# Far more than a pipe holds (64 KiB), so the writer meets a reader gone away.
BIG_EXPORT = HEADER + b"big,0,0,true\n" * 300_000
CUT_AFTER = 100
BENCHMARK = {
    "benchmark_id": "s1",
    "name": "mmlu: fake:m",
    "status": "completed",
    "completed_cells": 4,
    "total_cells": 4,
    "dataset": {"name": "mmlu", "version": 1},
    "results": None,
}


class _Api(BaseHTTPRequestHandler):
    """GET /v1/benchmarks/{id}/export and /v1/benchmarks/s1, as the API answers."""

    requests: list[str]

    def do_GET(self) -> None:
        self.requests.append(self.path)
        path = self.path.partition("?")[0]
        if path == "/v1/benchmarks/b1/export":
            self._send(200, "text/csv", EXPORT)
        elif path == "/v1/benchmarks/big/export":
            self._send(200, "text/csv", BIG_EXPORT)
        elif path == "/v1/benchmarks/cut/export":
            # The connection drops after the first bytes of a longer body.
            self._send(200, "text/csv", EXPORT, length=len(EXPORT) + 1000)
        elif path == "/v1/benchmarks/s1":
            self._send(200, "application/json", json.dumps(BENCHMARK).encode())
        else:
            error = {"code": "NOT_FOUND", "message": "Benchmark not found"}
            self._send(404, "application/json", json.dumps({"error": error}).encode())

    def _send(
        self, status: int, media_type: str, body: bytes, length: int | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", media_type)
        self.send_header("Content-Length", str(length or len(body)))
        self.end_headers()
        # The client may go away: what the broken-pipe tests do.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)
        self.close_connection = True

    def log_message(self, *_args: object) -> None:
        pass  # no request log in the test output


class Api:
    """The running stand-in: its URL, and the paths it was asked for."""

    def __init__(self) -> None:
        handler = type("Handler", (_Api,), {"requests": []})
        self.requests: list[str] = handler.requests
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever)

    def __enter__(self) -> Api:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


@pytest.fixture
def api() -> Iterator[Api]:
    with Api() as running:
        yield running


def export(api: Api, benchmark_id: str, output: Path | str) -> int:
    argv = ["bench", "export", benchmark_id, "--server", api.url, "--token", "t"]
    return main([*argv, "-o", str(output)])


def umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_an_export_is_written_whole_with_the_mode_a_new_file_gets(
    api: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "cells.csv"

    assert export(api, "b1", output) == 0

    assert output.read_bytes() == EXPORT
    assert capsys.readouterr() == ("", f"wrote {len(EXPORT)} bytes to {output}\n")
    assert os.listdir(tmp_path) == ["cells.csv"]  # no partial file left beside it
    assert stat.S_IMODE(output.stat().st_mode) == 0o666 & ~umask()


def test_an_output_in_a_missing_directory_is_refused_before_any_request(
    api: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "nonexistent" / "dir" / "cells.csv"

    assert export(api, "b1", output) == 1

    assert capsys.readouterr() == (
        "",
        f"ltb: cannot write {output}: No such file or directory\n",
    )
    assert os.listdir(tmp_path) == []
    assert api.requests == []


def test_an_output_that_is_a_directory_is_refused(
    api: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert export(api, "b1", tmp_path) == 1

    assert capsys.readouterr() == (
        "",
        f"ltb: cannot write {tmp_path}: Is a directory\n",
    )
    assert os.listdir(tmp_path) == []


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full here")
def test_a_full_disk_is_reported_not_taken_for_success(
    api: Api, capsys: pytest.CaptureFixture[str]
) -> None:
    assert export(api, "b1", "/dev/full") == 1

    assert capsys.readouterr() == (
        "",
        "ltb: cannot write /dev/full: No space left on device\n",
    )


def test_a_file_that_cannot_grow_leaves_no_partial_export(
    api: Api, tmp_path: Path
) -> None:
    # A file size limit makes the write fail part way, as a full disk would.
    output = tmp_path / "cells.csv"
    output.write_bytes(b"an earlier export\n")
    script = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))\n"
        "from app.cli import main\n"
        f"sys.exit(main(['bench', 'export', 'big', '--server', {api.url!r}, "
        f"'--token', 't', '-o', {str(output)!r}]))\n"
    )

    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )

    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == f"ltb: cannot write {output}: File too large\n"
    assert output.read_bytes() == b"an earlier export\n"
    assert os.listdir(tmp_path) == ["cells.csv"]


def test_a_refusal_leaves_an_earlier_file_as_it_was(
    api: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "cells.csv"
    output.write_bytes(b"an earlier export\n")

    assert export(api, "missing", output) == 1

    assert capsys.readouterr() == (
        "",
        "ltb: the server answered 404: Benchmark not found\n",
    )
    assert output.read_bytes() == b"an earlier export\n"
    assert os.listdir(tmp_path) == ["cells.csv"]


def test_a_connection_lost_part_way_leaves_no_partial_export(
    api: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "cells.csv"

    assert export(api, "cut", output) == 1

    assert capsys.readouterr() == (
        "",
        f"ltb: cannot reach the server at {api.url} (RemoteProtocolError); "
        "is `ltb serve` running there? (set --server or LTB_SERVER)\n",
    )
    assert os.listdir(tmp_path) == []


def piped_into_a_reader_that_stops(api: Api, *args: str) -> tuple[int, str, bytes]:
    """Run ``ltb`` into a pipe read for one line at most, then closed.

    Its exit code, its standard error, and what was read.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("LTB_")}
    with subprocess.Popen(
        [str(LTB), *args, "--server", api.url, "--token", "t"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as ltb:
        assert ltb.stdout and ltb.stderr
        read = ltb.stdout.readline() if args[1] == "export" else b""
        ltb.stdout.close()  # as `head -1` does once it has its line
        errors = ltb.stderr.read().decode()
        return ltb.wait(timeout=60), errors, read


def test_an_export_piped_into_head_ends_quietly(api: Api) -> None:
    code, errors, read = piped_into_a_reader_that_stops(api, "bench", "export", "big")

    assert read == HEADER
    assert (code, errors) == (1, "")


def test_a_status_piped_into_a_closed_pipe_ends_quietly(api: Api) -> None:
    # Nothing reads at all: the table, still buffered, meets the closed pipe
    # when it is flushed.
    code, errors, _ = piped_into_a_reader_that_stops(api, "bench", "status", "s1")

    assert (code, errors) == (1, "")
    assert api.requests == ["/v1/benchmarks/s1"]
