"""Peers on the same work: promptfoo and lm-evaluation-harness, N cells against the
same 250 ms loopback model at the same concurrency as our benchmark.

Each peer gets the generated questions of engine_bench.py (the model answers B;
scored by exact match, as our accuracy does), the model's base URL, and its own
concurrency setting (promptfoo --max-concurrency, lm-eval num_concurrent). For each
run it reports the process's wall time, the span from the first request the
model received to its last reply (the same clock for everyone), CPU seconds per
cell and the process tree's peak resident memory (sampled every 0.2 s).

    python bench/engine_peers.py --cells 10000 --concurrency 64
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import MachineLoad, TreeSampler, save
from engine_bench import (
    LATENCY_S,
    MODEL,
    dataset_lines,
    loopback_model,
    model_stats,
    span,
)
from setup_peers import (
    LM_EVAL_VENV,
    promptfoo_bin,
    setup_lm_eval,
    setup_promptfoo,
    venv_python,
)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(
    command: list[str], env: dict[str, str], log: Path, model_url: str
) -> dict[str, Any]:
    """Run a peer to its end; its wall, CPU, peak memory and the model's span."""
    model_stats(model_url, reset=True)
    cpu_before = _children_cpu()
    started = time.monotonic()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        with TreeSampler(proc.pid) as sampler:
            code = proc.wait()
    wall = time.monotonic() - started
    served = model_stats(model_url)
    if code != 0:
        raise RuntimeError(
            f"{command[0]} exited {code}; see {log}:\n{log.read_text()[-2000:]}"
        )
    return {
        "wall_s": round(wall, 3),
        "model_span_s": round(span(served), 3),
        "model_requests": served["requests"],
        "cpu_s": round(_children_cpu() - cpu_before, 2),
        "peak_rss_mb": round(sampler.peak_kb / 1024, 1),
    }


def run_promptfoo(
    model_url: str, cells: int, concurrency: int, work: Path
) -> dict[str, Any]:
    setup_promptfoo()
    questions = [json.loads(line) for line in dataset_lines(cells).splitlines()]
    config = {
        "description": "ltb bench: loopback model",
        "prompts": ["{{input}}"],
        "providers": [
            {
                "id": f"openai:chat:{MODEL}",
                "config": {
                    "apiBaseUrl": model_url,
                    "apiKey": "no-key-required",
                    "max_tokens": 16,
                    "temperature": 0,
                },
            }
        ],
        "tests": [
            {
                "vars": {"input": q["input"]},
                "assert": [{"type": "equals", "value": "B"}],
            }
            for q in questions
        ],
    }
    config_path = work / "promptfooconfig.json"
    config_path.write_text(json.dumps(config))
    env = {
        **os.environ,
        "PROMPTFOO_CONFIG_DIR": str(work / "promptfoo-home"),
        "PROMPTFOO_DISABLE_TELEMETRY": "1",
        "PROMPTFOO_DISABLE_UPDATE": "1",
        "PROMPTFOO_DISABLE_SHARING": "1",
        "OPENAI_API_KEY": "no-key-required",
    }
    command = [str(promptfoo_bin()), "eval", "-c", str(config_path)]
    command += [
        "--max-concurrency",
        str(concurrency),
        "--no-cache",
        "--no-progress-bar",
    ]
    command += ["-o", str(work / "promptfoo-results.json")]
    figures = timed(command, env, work / "promptfoo.log", model_url)
    results = json.loads((work / "promptfoo-results.json").read_text())
    stats = results.get("results", {}).get("stats", {})
    return figures | {"passed": stats.get("successes"), "failed": stats.get("failures")}


def run_lm_eval(
    model_url: str, cells: int, concurrency: int, work: Path
) -> dict[str, Any]:
    setup_lm_eval()
    data = work / "questions.jsonl"
    data.write_bytes(dataset_lines(cells))
    tasks = work / "lm-eval-tasks"
    tasks.mkdir(exist_ok=True)
    (tasks / "ltb_loopback.yaml").write_text(
        "task: ltb_loopback\n"
        "dataset_path: json\n"
        f"dataset_kwargs:\n  data_files:\n    test: {data}\n"
        "test_split: test\n"
        "output_type: generate_until\n"
        'doc_to_text: "{{input}}"\n'
        "doc_to_target: B\n"
        "generation_kwargs:\n  until: []\n  max_gen_toks: 16\n  do_sample: false\n"
        "metric_list:\n  - metric: exact_match\n"
    )
    env = {
        **os.environ,
        "HF_HOME": str(work / "hf-home"),
        "HF_DATASETS_OFFLINE": "1",
        "HF_HUB_OFFLINE": "1",
        "OPENAI_API_KEY": "no-key-required",
        "TOKENIZERS_PARALLELISM": "false",
    }
    model_args = ",".join(
        [
            f"model={MODEL}",
            f"base_url={model_url}/chat/completions",
            f"num_concurrent={concurrency}",
            "max_retries=1",
            "tokenized_requests=False",
        ]
    )
    command = [str(venv_python(LM_EVAL_VENV)), "-m", "lm_eval"]
    command += ["--model", "local-chat-completions", "--model_args", model_args]
    command += ["--tasks", "ltb_loopback", "--include_path", str(tasks)]
    command += ["--apply_chat_template", "--output_path", str(work / "lm-eval-out")]
    return timed(command, env, work / "lm-eval.log", model_url)


PEERS = {"promptfoo": run_promptfoo, "lm-eval": run_lm_eval}


def run_peers(
    model_url: str, cells: int, concurrency: int, names: list[str]
) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for name in names:
        load = MachineLoad()
        with tempfile.TemporaryDirectory(prefix=f"ltb-{name}-") as tmp:
            found = PEERS[name](model_url, cells, concurrency, Path(tmp))
        ideal = cells * LATENCY_S / concurrency
        figures[name] = found | {
            "cells": cells,
            "concurrency": concurrency,
            "ideal_s": round(ideal, 3),
            "wall_over_ideal": round(found["wall_s"] / ideal, 4),
            "span_over_ideal": round(found["model_span_s"] / ideal, 4),
            "cpu_s_per_cell": round(found["cpu_s"] / cells, 6),
            "machine": load.report(),
        }
        print(name, json.dumps(figures[name]), flush=True)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--peers", nargs="+", choices=list(PEERS), default=list(PEERS))
    args = parser.parse_args()
    with loopback_model() as model_url:
        figures = run_peers(model_url, args.cells, args.concurrency, args.peers)
    save("engine_peers", figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
