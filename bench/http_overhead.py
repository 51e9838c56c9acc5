"""HTTP overhead: our server against an equivalent FastAPI app, interleaved.

Both run under gunicorn with the same configuration file (gunicorn.conf.py: one
uvicorn worker of app.worker.Worker, the same environment, SQLite); only the
application differs (bench/fastapi_app.py calls the same auth and domain code).
wrk (`apt-get install wrk`) drives, in rounds, each app's

- GET /health;
- POST /v1/evaluations, authenticated with a bearer JWT, validated, scored with
  deterministic metrics (exact_match, contains, token_f1) and stored;

and the figures are the medians over rounds of requests per second and p50/p99
latency. The headline is ours / FastAPI's requests per second. With --profile,
a last untimed round records our worker with py-spy and prints the share of its
busy samples per layer (ours, Connexion, Flask, a2wsgi, Starlette, uvicorn, the
event loop) and our costliest functions.

    python bench/http_overhead.py --rounds 3 --seconds 10 --connections 16
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    RESULTS,
    ROOT,
    MachineLoad,
    free_port,
    layer_shares,
    login,
    our_server,
    request_json,
    save,
    server_env,
    start_profiler,
    started_process,
    stop_profiler,
)
from setup_peers import FASTAPI_VENV, setup_fastapi, venv_python

EVALUATION = {
    "input": "What is 2+2?",
    "output": "The answer is 4.",
    "expected": "4",
    "metrics": ["exact_match", "contains", "token_f1"],
}
JWT_SECRET = "bench-jwt-secret-of-at-least-thirty-two-characters"
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


@contextmanager
def fastapi_server(data_dir: Path) -> Iterator[str]:
    setup_fastapi()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = server_env(data_dir, port, {"JWT_SECRET": JWT_SECRET})
    data_dir.mkdir(parents=True, exist_ok=True)
    command = [str(venv_python(FASTAPI_VENV)), "-m", "gunicorn"]
    command += [
        "--config",
        str(ROOT / "gunicorn.conf.py"),
        "bench.fastapi_app:create()",
    ]
    with started_process(
        command, ready=base + "/health", env=env, log=data_dir / "server.log", cwd=ROOT
    ) as proc:
        yield base, proc  # type: ignore[misc]


def wrk(
    url: str, seconds: float, connections: int, script: Path | None
) -> dict[str, Any]:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency"]
    if script:
        command += ["-s", str(script)]
    out = subprocess.run(
        [*command, url], capture_output=True, text=True, check=True
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    latency = {
        pct: float(v) * _UNITS[unit]
        for pct, v, unit in re.findall(
            r"^\s+(50|99)%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M
        )
    }
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    return {
        "rps": rps,
        "p50_ms": latency["50"],
        "p99_ms": latency["99"],
        "non_2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": errors.group(0) if errors else None,
    }


def check(base: str, token: str) -> None:
    """One evaluation must be scored (201, a score) before it is timed."""
    try:
        view = request_json("POST", base + "/v1/evaluations", EVALUATION, token=token)
    except urllib.error.HTTPError as e:
        reply = e.read()[:500]
        raise SystemExit(f"{base}: POST /v1/evaluations: {e.code} {reply!r}") from e
    assert view["metrics"]["exact_match"] is not None, view


def post_script(directory: Path, token: str) -> Path:
    path = directory / f"post-{abs(hash(token))}.lua"
    body = json.dumps(EVALUATION)
    path.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(body)}\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["Authorization"] = "Bearer {token}"\n'
    )
    return path


def profile_ours(
    server: Any, scripts: dict[str, Path], seconds: float, connections: int
) -> dict[str, Any]:
    """py-spy our worker under each load (a round of its own, not timed)."""
    found = {}
    for endpoint, path, script in (
        ("health", "/health", None),
        ("evaluation", "/v1/evaluations", scripts["ours"]),
    ):
        output = RESULTS / f"http-{endpoint}.pyspy.txt"
        spy = start_profiler(server.worker_pids()[0], output)
        time.sleep(1)  # py-spy attaches
        wrk(server.base_url + path, seconds, connections, script)
        stop_profiler(spy)
        found[endpoint] = layer_shares(output)
        print(f"profile {endpoint}: {json.dumps(found[endpoint])}", flush=True)
    return found


def measure(
    rounds: int, seconds: float, connections: int, profile: bool = False
) -> dict[str, Any]:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install wrk")
    load = MachineLoad()
    samples: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="ltb-http-") as tmp:
        tmp_path = Path(tmp)
        with (
            our_server(tmp_path / "ours", {"JWT_SECRET": JWT_SECRET}) as ours,
            fastapi_server(tmp_path / "fastapi") as (fastapi_base, _),
        ):
            targets = {
                "ours": (ours.base_url, ours.token),
                "fastapi": (fastapi_base, login(fastapi_base)),
            }
            scripts = {
                name: post_script(tmp_path, t) for name, (_, t) in targets.items()
            }
            for base, token in targets.values():
                check(base, token)
            # Warm both up (first requests import lazily and fill caches).
            for name, (base, _) in targets.items():
                wrk(base + "/health", 1, connections, None)
                wrk(base + "/v1/evaluations", 1, connections, scripts[name])
            for _ in range(rounds):
                for name, (base, _) in targets.items():
                    for endpoint, path, script in (
                        ("health", "/health", None),
                        ("evaluation", "/v1/evaluations", scripts[name]),
                    ):
                        figures = wrk(base + path, seconds, connections, script)
                        samples.setdefault(f"{name}.{endpoint}", []).append(figures)
                        print(
                            f"{name:8} {endpoint:11} {json.dumps(figures)}", flush=True
                        )
            profiles = (
                profile_ours(ours, scripts, seconds, connections) if profile else None
            )

    summary: dict[str, Any] = {}
    for key, runs in samples.items():
        summary[key] = {
            field: round(statistics.median(r[field] for r in runs), 2)
            for field in ("rps", "p50_ms", "p99_ms")
        } | {"non_2xx": sum(r["non_2xx"] for r in runs)}
    for endpoint in ("health", "evaluation"):
        summary[f"ratio.{endpoint}"] = round(
            summary[f"ours.{endpoint}"]["rps"] / summary[f"fastapi.{endpoint}"]["rps"],
            3,
        )
    return {
        "rounds": rounds,
        "seconds": seconds,
        "connections": connections,
        "summary": summary,
        "samples": samples,
        "profile": profiles,
        "machine": load.report(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--profile",
        action="store_true",
        help="then py-spy our worker under each load and print where its time goes",
    )
    args = parser.parse_args()
    figures = measure(args.rounds, args.seconds, args.connections, args.profile)
    print(json.dumps(figures["summary"], indent=2))
    save("http_overhead", figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
