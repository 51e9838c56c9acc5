"""``ltb bench``: run, follow, compare and export benchmarks on a server.

The commands talk to a running server over its REST API (``--server``, or
LTB_SERVER), with a token from ``--token`` or LTB_TOKEN, or else a username and a
password prompt. They print plain text: a progress bar on a terminal while a
benchmark runs, then a table of results with their 95% intervals.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import os
import secrets
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, BinaryIO, TextIO

from app.client import DEFAULT_SERVER, ApiClient, ClientError

POLL_INTERVAL_S = 0.5
FINISHED = frozenset({"completed", "failed", "cancelled"})
BAR_WIDTH = 30


def add_commands(commands: Any) -> None:
    """Add ``bench run|status|compare|export`` to the ``ltb`` parser."""
    bench = commands.add_parser("bench", help="run and read benchmarks on a server")
    actions = bench.add_subparsers(required=True, metavar="ACTION")

    run = actions.add_parser("run", help="start a benchmark and follow it to its end")
    _connection_options(run)
    run.add_argument("--dataset", required=True, help="dataset name or id")
    run.add_argument(
        "--target",
        required=True,
        action="append",
        type=_target,
        metavar="PROVIDER:MODEL",
        help="a provider and model to benchmark (repeat for several)",
    )
    run.add_argument("--name", help="the benchmark's name (default: dataset, targets)")
    run.add_argument(
        "--metric",
        action="append",
        metavar="NAME",
        help="a metric (repeatable; default: accuracy, latency, cost)",
    )
    # At least 1, checked here so a slip is a usage error (exit 2) before any
    # request; the server still applies its upper limits.
    run.add_argument(
        "--iterations", type=_positive, default=20, help="items (default 20)"
    )
    run.add_argument("--repeats", type=_positive, default=1, help="repeats per item")
    run.add_argument(
        "--concurrency", type=_positive, default=4, help="requests at once"
    )
    run.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    run.add_argument(
        "--detach", action="store_true", help="print the id and return at once"
    )
    run.set_defaults(command=bench_run)

    status = actions.add_parser("status", help="a benchmark's state and results")
    _connection_options(status)
    status.add_argument("id", help="the benchmark's id")
    status.set_defaults(command=bench_status)

    compare = actions.add_parser("compare", help="pairwise comparison of targets")
    _connection_options(compare)
    compare.add_argument("id", help="the benchmark's id")
    compare.set_defaults(command=bench_compare)

    export = actions.add_parser("export", help="every cell, as CSV, JSON Lines or JSON")
    _connection_options(export)
    export.add_argument("id", help="the benchmark's id")
    export.add_argument("--format", choices=["csv", "jsonl", "json"], default="csv")
    export.add_argument(
        "--output", "-o", type=_file_name, help="write to this file (default stdout)"
    )
    export.set_defaults(command=bench_export)


def bench_run(args: argparse.Namespace) -> int:
    """Start a benchmark, show its progress, then its results."""
    targets = args.target
    named = ", ".join(f"{t['provider']}:{t['model']}" for t in targets)
    body = {
        "name": args.name or f"{args.dataset}: {named}",
        "providers": targets,
        "dataset": args.dataset,
        "metrics": args.metric or ["accuracy", "latency", "cost"],
        "iterations": args.iterations,
        "repeats": args.repeats,
        "concurrency": args.concurrency,
        "seed": args.seed,
    }
    with _client(args) as client:
        created = client.request("POST", "/v1/benchmarks", json=body)
        benchmark_id = created["benchmark_id"]
        print(f"benchmark {benchmark_id} started on {client.server}", file=sys.stderr)
        if args.detach:
            print(benchmark_id)
            return 0
        try:
            final = follow(client, benchmark_id, sys.stderr)
        except KeyboardInterrupt:
            print(
                f"\nstopped following; the benchmark goes on: "
                f"ltb bench status {benchmark_id}",
                file=sys.stderr,
            )
            return 130
        print_benchmark(final, sys.stdout)
        print(f"page: {client.server}/benchmarks/{benchmark_id}", file=sys.stderr)
    return 0 if final["status"] == "completed" else 1


def bench_status(args: argparse.Namespace) -> int:
    """Print a benchmark's state, and its results once it has them."""
    with _client(args) as client:
        benchmark = client.request("GET", f"/v1/benchmarks/{_path_id(args.id)}")
    print_benchmark(benchmark, sys.stdout)
    return 1 if benchmark["status"] in ("failed", "cancelled") else 0


def bench_compare(args: argparse.Namespace) -> int:
    """Print the pairwise comparison of a benchmark's targets."""
    benchmark_id = _path_id(args.id)
    with _client(args) as client:
        benchmark = client.request("GET", f"/v1/benchmarks/{benchmark_id}")
        comparison = client.request("GET", f"/v1/benchmarks/{benchmark_id}/comparison")
    print_comparison(benchmark, comparison, sys.stdout)
    return 0


def bench_export(args: argparse.Namespace) -> int:
    """Stream a benchmark's cells to stdout or a file."""
    path = f"/v1/benchmarks/{_path_id(args.id)}/export"
    with _client(args) as client:
        chunks = client.stream_lines(path, params={"format": args.format})
        if args.output:
            written = save_export(args.output, chunks)
            print(f"wrote {written} bytes to {args.output}", file=sys.stderr)
        else:
            for chunk in chunks:
                sys.stdout.buffer.write(chunk)
            sys.stdout.flush()
    return 0


class OutputError(Exception):
    """An output file that cannot be written, said in one sentence."""

    def __init__(self, path: str, error: OSError) -> None:
        self.message = f"cannot write {path}: {error.strerror or error}"
        super().__init__(self.message)


def save_export(path: str, chunks: Iterable[bytes]) -> int:
    """Write every chunk to path, all or nothing; the bytes written, or OutputError.

    The chunks go to a new file beside path, renamed onto it once the last one is
    written: a refusal, a dropped connection or a full disk leaves neither a
    partial export that looks complete nor an earlier file at path truncated.
    """
    target = os.path.realpath(path)  # through a symlink, as the shell's > goes
    if os.path.exists(target) and not os.path.isfile(target):
        # A device or a pipe (/dev/stdout, a FIFO) keeps nothing to be partial
        # and cannot be renamed onto; a directory fails to open, as it should.
        try:
            with open(target, "wb") as out:
                return _copy(chunks, out)
        except OSError as e:
            raise OutputError(path, e) from None
    directory, name = os.path.split(target)
    partial = os.path.join(directory, f".{name}.{secrets.token_hex(4)}.part")
    try:
        # "x": never an existing file; created with the umask's mode, as > would.
        with open(partial, "xb") as out:
            written = _copy(chunks, out)
        os.replace(partial, target)
    except OSError as e:
        _discard(partial)
        raise OutputError(path, e) from None
    except BaseException:  # the server's refusal or failure, Ctrl-C
        _discard(partial)
        raise
    return written


def _copy(chunks: Iterable[bytes], out: BinaryIO) -> int:
    return sum(out.write(chunk) for chunk in chunks)


def _discard(partial: str) -> None:
    # It may never have been created (open failed): the error to report is the
    # one that brought us here, not this one.
    with contextlib.suppress(OSError):
        os.remove(partial)


def follow(
    client: ApiClient,
    benchmark_id: str,
    out: TextIO,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Poll a benchmark until it ends, drawing its progress; its final state."""
    bar = ProgressBar(out)
    while True:
        benchmark = client.request("GET", f"/v1/benchmarks/{benchmark_id}")
        bar.show(benchmark)
        if benchmark["status"] in FINISHED:
            bar.end()
            return dict(benchmark)
        sleep(POLL_INTERVAL_S)


class ProgressBar:
    """A bar redrawn in place on a terminal; a line per 10% elsewhere (logs, CI)."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.redraw = out.isatty()
        self.shown: tuple[str, int] | None = None
        self.started = time.monotonic()

    def show(self, benchmark: dict[str, Any]) -> None:
        done, total = benchmark["completed_cells"], benchmark["total_cells"]
        status = benchmark["status"]
        filled = int(BAR_WIDTH * done / total) if total else BAR_WIDTH
        elapsed = time.monotonic() - self.started
        line = (
            f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] "
            f"{benchmark['progress']:6.1%}  {done}/{total} cells  {status}  "
            f"{elapsed:5.1f}s"
        )
        if self.redraw:
            self.out.write("\r" + line)
            self.out.flush()
            return
        step = (status, int(10 * done / total) if total else 10)
        if step != self.shown:
            self.shown = step
            print(line, file=self.out, flush=True)

    def end(self) -> None:
        if self.redraw:
            self.out.write("\n")
            self.out.flush()


def print_benchmark(benchmark: dict[str, Any], out: TextIO) -> None:
    """The benchmark's summary line and, with results, the per-target table."""
    print(
        f"{benchmark['name']}  [{benchmark['status']}]  "
        f"{benchmark['completed_cells']}/{benchmark['total_cells']} cells  "
        f"dataset {benchmark['dataset']['name']} v{benchmark['dataset']['version']}  "
        f"id {benchmark['benchmark_id']}",
        file=out,
    )
    if benchmark.get("error"):
        print(f"error: {benchmark['error']}", file=out)
    results = benchmark.get("results")
    if not results:
        return
    print(file=out)
    print(results_table(results["targets"]), file=out)
    frontier = (results.get("frontier") or {}).get("accuracy_cost")
    if frontier:
        names = ", ".join(f"#{i}" for i in frontier)
        print(f"\nPareto-optimal on accuracy and cost: {names}", file=out)


def results_table(targets: Sequence[dict[str, Any]]) -> str:
    """One row per target: accuracy with its 95% interval, latency, speed, cost."""
    header = [
        "target", "n", "errors", "correct", "accuracy", "95% CI",
        "p50 ms", "mean ms", "95% CI", "tok/s", "cost $", "$/correct",
    ]  # fmt: skip
    rows = []
    for t in targets:
        latency = t.get("latency_ms") or {}
        rows.append(
            [
                f"#{t['target_index']} {t['provider']}:{t['model']}",
                _n_items(t),
                str(t["errors"]),
                str(t["correct"]),
                _pct(t.get("accuracy")),
                _bounds(t.get("accuracy_interval"), _pct),
                _num(latency.get("p50"), 1),
                _num(latency.get("mean"), 1),
                _bounds(latency.get("mean_interval"), lambda v: _num(v, 1)),
                _num(t.get("tokens_per_second"), 1),
                _usd(t.get("cost_usd")),
                _usd(t.get("cost_per_correct_usd")),
            ]
        )
    return table(header, rows)


def _n_items(target: dict[str, Any]) -> str:
    """Distinct items, the n of the intervals, with the repeats per item noted."""
    n_items = target.get("n_items")
    if n_items is None:  # results of a server before n_items: cells
        return str(target["items"])
    repeats = (target.get("repeat_stats") or {}).get("repeats", 1)
    return f"{n_items} x{repeats}" if repeats > 1 else str(n_items)


def print_comparison(
    benchmark: dict[str, Any], comparison: dict[str, Any], out: TextIO
) -> None:
    """Each pair's accuracy difference with its interval and adjusted p-value."""
    names = {
        i: f"#{i} {t['provider']}:{t['model']}"
        for i, t in enumerate(benchmark["providers"])
    }
    print(
        f"{benchmark['name']}: {comparison.get('items_compared')} items compared, "
        f"{comparison.get('level', 0.95):.0%} intervals, Holm-adjusted p-values",
        file=out,
    )
    rows, footnotes = [], []
    for pair in comparison.get("pairs") or []:
        acc = pair.get("accuracy") or {}
        # Notes are sentences: under the table, so that its columns stay narrow.
        for note in pair.get("notes") or []:
            footnotes.append(f"#{pair['a']} vs #{pair['b']}: {note}")
        rows.append(
            [
                names.get(pair["a"], str(pair["a"])),
                names.get(pair["b"], str(pair["b"])),
                str(pair.get("n", "")),
                _pct(acc.get("difference"), signed=True),
                _bounds(acc.get("interval"), lambda v: _pct(v, signed=True)),
                str(acc.get("a_only_correct", "-")),
                str(acc.get("b_only_correct", "-")),
                _num(acc.get("p_value_holm"), 4),
                "yes" if pair.get("small_sample") else "no",
            ]
        )
    header = ["A", "B", "n", "acc A-B", "95% CI", "A only", "B only", "p (Holm)"]
    print(table([*header, "small n"], rows), file=out)
    if footnotes:
        print("\n" + "\n".join(footnotes), file=out)
    ranking = comparison.get("ranking") or {}
    if ranking.get("order"):
        order = ", ".join(
            f"{r['rank']}. {names.get(r['target_index'], r['target_index'])}"
            for r in ranking["order"]
        )
        print(f"\nranking by {ranking.get('criterion', 'accuracy')}: {order}", file=out)


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell; the first left-aligned, others right."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(r) for r in rows)])


def _client(args: argparse.Namespace) -> ApiClient:
    client = ApiClient(args.server, args.token)
    if not args.token:
        username = args.username or _prompt("Username: ")
        client.login(username, _password(username))
    return client


def _prompt(text: str) -> str:
    if not sys.stdin.isatty():
        raise ClientError(
            "no credentials: set LTB_TOKEN (or --token), or run on a terminal to "
            "be asked for a username and password"
        )
    return input(text).strip()


def _password(username: str) -> str:
    # A prompt on a terminal; otherwise the first line of standard input (a pipe).
    if sys.stdin.isatty():
        password = getpass.getpass(f"Password for {username}: ")
    else:
        password = sys.stdin.readline().rstrip("\n")
    if not password:
        # Sent, it would be a 400 and use up one of the address's logins.
        raise ClientError(
            f"no password for {username}: type it at the prompt, or give it as the "
            "first line of standard input"
        )
    return password


def _connection_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--server",
        default=os.environ.get("LTB_SERVER") or DEFAULT_SERVER,
        help=f"the server's URL (default: LTB_SERVER or {DEFAULT_SERVER})",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("LTB_TOKEN") or None,
        help="a JWT or API token (default: LTB_TOKEN; else log in)",
    )
    parser.add_argument(
        "--username",
        default=os.environ.get("LTB_USERNAME") or None,
        help="log in as this user (the password is asked for)",
    )


def _target(text: str) -> dict[str, str]:
    provider, sep, model = text.partition(":")
    if not sep or not provider or not model:
        raise argparse.ArgumentTypeError(
            f"a target is PROVIDER:MODEL (e.g. local:smollm2), got {text!r}"
        )
    return {"provider": provider, "model": model}


def _file_name(text: str) -> str:
    # An empty name would fall back to stdout as if -o had not been given.
    if not text:
        raise argparse.ArgumentTypeError("an empty file name")
    return text


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _path_id(text: str) -> str:
    # An id goes into a URL path: refuse what would change the path.
    if not text or any(c in text for c in "/?#%") or len(text) > 64:
        raise ClientError(f"not a benchmark id: {text[:80]!r}")
    return text


def _pct(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value * 100:+.1f}%" if signed else f"{value * 100:.1f}%"


def _num(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _usd(value: float | None) -> str:
    return "-" if value is None else f"{value:.6f}"


def _bounds(bounds: dict[str, Any] | None, fmt: Callable[[float], str]) -> str:
    if not bounds or bounds.get("low") is None or bounds.get("high") is None:
        return "-"
    return f"[{fmt(bounds['low'])}, {fmt(bounds['high'])}]"
