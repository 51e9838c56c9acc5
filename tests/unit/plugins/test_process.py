"""The worker protocol: JSON lines in, limits enforced, no secrets passed down."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from app.plugins.process import WorkerLimits, run_worker
from tests.support.plugins import requires_test_plugins

LIMITS = WorkerLimits(time_limit_s=5, max_output_bytes=10_000)


def fake_worker(code: str) -> list[str]:
    """A worker command line that runs ``code`` after reading its request."""
    return [sys.executable, "-c", f"import sys; sys.stdin.read()\n{code}"]


def test_answers_are_read_as_json_objects() -> None:
    code = "print('{\"a\": 1}'); print('{\"b\": [2]}')"

    run = run_worker({}, LIMITS, {}, program=fake_worker(code))

    assert run.messages == [{"a": 1}, {"b": [2]}]
    assert (run.returncode, run.garbage, run.timed_out) == (0, None, False)


def test_an_answer_that_is_not_json_is_reported_as_garbage() -> None:
    run = run_worker({}, LIMITS, {}, program=fake_worker("print('hello there')"))

    assert run.messages == []
    assert run.garbage == "hello there"
    assert run.ending == "answered something that is not JSON: 'hello there'"


def test_a_worker_past_its_time_limit_is_killed_with_its_children() -> None:
    code = (
        "import subprocess, time\n"
        "sleeper = [sys.executable, '-c', 'import time; time.sleep(60)']\n"
        "child = subprocess.Popen(sleeper)\n"
        "print('{\"child\": %d}' % child.pid, flush=True)\n"
        "time.sleep(60)"
    )
    started = time.monotonic()

    run = run_worker({}, WorkerLimits(0.5, 10_000), {}, program=fake_worker(code))

    assert run.timed_out
    assert run.returncode == -9
    assert time.monotonic() - started < 5
    assert not is_running(run.messages[0]["child"])


def is_running(pid: int) -> bool:
    """Whether a process exists and is not a zombie waiting to be reaped."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0]
        except (FileNotFoundError, IndexError):
            return False
        if state == "Z":
            return False
        time.sleep(0.05)
    return True


def test_a_worker_answering_too_much_is_killed() -> None:
    code = "sys.stdout.write('x' * 100_000); sys.stdout.flush(); time.sleep(60)"

    run = run_worker({}, LIMITS, {}, program=fake_worker(f"import time\n{code}"))

    assert run.overflowed
    assert run.ending == "was killed for answering more than the output limit"


def test_the_exit_code_and_stderr_tail_are_kept() -> None:
    code = "sys.stderr.write('boom'); sys.exit(4)"

    run = run_worker({}, LIMITS, {}, program=fake_worker(code))

    assert run.returncode == 4
    assert run.stderr_tail == "boom"
    assert run.ending == "exited with code 4"


def test_only_harmless_environment_variables_reach_a_plugin() -> None:
    code = "import json, os; print(json.dumps({'env': sorted(os.environ)}))"
    environ = {"PATH": "/usr/bin", "JWT_SECRET": "s3cret", "OPENAI_API_KEY": "sk"}

    run = run_worker({}, LIMITS, environ, program=fake_worker(code))

    assert [name for name in run.messages[0]["env"] if name != "LC_CTYPE"] == ["PATH"]


@requires_test_plugins
def test_the_real_worker_runs_a_plugin_and_keeps_its_prints_out() -> None:
    request = {
        "op": "execute",
        "path": sys.path,
        "entry_point": {
            "name": "test-prints",
            "value": "ltb_test_plugins.misbehaving:Prints",
        },
        "input": {"text": "abcd"},
    }

    run = run_worker(request, LIMITS, {})

    assert run.messages == [{"output": {"score": 0.25, "length": 4}}]
    assert "garbage {not json" in run.stderr_tail
