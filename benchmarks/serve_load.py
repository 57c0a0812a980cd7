"""Load test of `tuneforge serve`: the same server with micro-batching on and off.

    python -m benchmarks.serve_load [--run /tmp/acc/runs20/bbc_news] [--duration 20]
        [--concurrency 32] [--promote-during]

The run is pushed into a temporary registry as `bbc` (production); a real server (uvicorn child
process, free loopback port) serves it, and `--concurrency` async clients send one headline-length
text per request (headline and first sentence of the run's BBC test articles) for `--duration`
seconds after a short warm-up: once with batching on, once with `batching: false`. With
`--promote-during`, a third phase (batching on) promotes a second version of the model halfway
through and records failed requests and the version each response came from.
Writes benchmarks/results/serve_load.json and prints a markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from benchmarks import _harness

DEFAULT_RUN = Path("/tmp/acc/runs20/bbc_news")
MODEL = "bbc"
WARMUP_S = 3.0
# A key's default limit (600/min) would throttle the load generator itself.
UNLIMITED_RATE = 10**9


def headline_texts(run_dir: Path, limit: int = 400) -> list[str]:
    """Headline plus first sentence of each test article (about 100-250 characters)."""
    texts = []
    with (run_dir / "splits" / "test.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            text = json.loads(line)["text"]
            match = re.search(r"\.\s", text[40:])
            end = 40 + match.start() + 1 if match else 240
            texts.append(text[: min(end, 300)])
            if len(texts) == limit:
                break
    return texts


@dataclass(frozen=True)
class Endpoint:
    """Where the load generator sends one text and what it keeps of a 200 answer.

    Attributes:
        url: The POST URL.
        headers: Sent with every request (the API key).
        body: The JSON body asking for one text.
        answer: What to record of a 200 response's JSON (a version, a label).
    """

    url: str
    headers: dict[str, str]
    body: Callable[[str], dict[str, Any]]
    answer: Callable[[dict[str, Any]], Any]


class Record(NamedTuple):
    """One request: when it was sent, how long it took, its status and what it answered."""

    sent: float
    latency_s: float
    status: int  # 0: the connection failed
    answer: Any
    text_index: int


def tuneforge_endpoint(base_url: str, key: str, model: str = MODEL) -> Endpoint:
    """`tuneforge serve`'s predict route for one text; records the version that answered."""
    return Endpoint(
        url=f"{base_url}/v1/models/{model}/predict",
        headers={"Authorization": f"Bearer {key}"},
        body=lambda text: {"inputs": [text]},
        answer=lambda payload: payload.get("version"),
    )


async def send_load(
    endpoint: Endpoint,
    texts: list[str],
    concurrency: int,
    duration_s: float,
    warmup_s: float = WARMUP_S,
    max_requests: int | None = None,
    midway: Any = None,
) -> tuple[list[Record], float, float]:
    """Send one text per request from `concurrency` clients for `duration_s` (or until
    `max_requests` were sent), after `warmup_s` seconds of unrecorded load; `midway()` runs at
    half time. Clients take the texts in turn, cycling through them.

    Returns:
        The records, the seconds the recorded load took, and its start (perf_counter).
    """
    import httpx

    records: list[Record] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, headers=endpoint.headers, timeout=60) as client:
        next_index = itertools.count()

        async def worker(stop_at: float, keep: bool) -> None:
            while time.perf_counter() < stop_at:
                index = next(next_index)
                if keep and max_requests is not None and index >= max_requests:
                    return
                text = texts[index % len(texts)]
                sent = time.perf_counter()
                try:
                    response = await client.post(endpoint.url, json=endpoint.body(text))
                    status = response.status_code
                    answer = endpoint.answer(response.json()) if status == 200 else None
                except Exception:  # a dropped connection counts as a failed request
                    status, answer = 0, None
                if keep:
                    records.append(
                        Record(sent, time.perf_counter() - sent, status, answer, index % len(texts))
                    )

        if warmup_s > 0:
            warm_until = time.perf_counter() + warmup_s
            await asyncio.gather(*(worker(warm_until, False) for _ in range(concurrency)))
        next_index = itertools.count()
        started = time.perf_counter()
        stop_at = started + duration_s
        tasks = [asyncio.create_task(worker(stop_at, True)) for _ in range(concurrency)]
        if midway is not None:
            await asyncio.sleep(duration_s / 2)
            await asyncio.to_thread(midway)
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - started
    return records, elapsed, started


async def drive(
    base_url: str,
    key: str,
    texts: list[str],
    concurrency: int,
    duration_s: float,
    midway: Any = None,
) -> dict[str, Any]:
    """Load `tuneforge serve` for `duration_s`; `midway()` runs at half time."""
    promoted: list[float] = []

    def timed_midway() -> None:
        midway()
        promoted.append(time.perf_counter())

    records, elapsed, started = await send_load(
        tuneforge_endpoint(base_url, key),
        texts,
        concurrency,
        duration_s,
        midway=timed_midway if midway is not None else None,
    )
    promoted_at = promoted[0] - started if promoted else None
    return summarise(records, elapsed, started, promoted_at)


def latency_summary(records: list[Record], elapsed_s: float) -> dict[str, Any]:
    """Requests, errors, successful requests per second and p50/p99 latency (ms)."""
    ok = sorted(record.latency_s for record in records if record.status == 200)
    failed = [record.status for record in records if record.status != 200]
    return {
        "requests": len(records),
        "errors": len(failed),
        "error_statuses": sorted(set(failed)),
        "throughput_rps": len(ok) / elapsed_s,
        "p50_ms": 1000 * statistics.median(ok) if ok else None,
        "p99_ms": 1000 * percentile(ok, 0.99) if ok else None,
    }


def percentile(ordered: list[float], fraction: float) -> float:
    """The nearest-rank value at `fraction` of an ascending, non-empty list."""
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def summarise(
    records: list[Record],
    elapsed_s: float,
    started: float,
    promoted_at_s: float | None,
) -> dict[str, Any]:
    result = latency_summary(records, elapsed_s)
    if promoted_at_s is not None:
        ordered = sorted(records)
        versions = [record.answer for record in ordered if record.status == 200]
        switch = next((i for i, v in enumerate(versions) if v == 2), None)
        result.update(
            promoted_at_s=round(promoted_at_s, 2),
            responses_by_version={str(v): versions.count(v) for v in sorted(set(versions))},
            # After the first v2 answer, every later one must be v2: the switch is atomic.
            switched_cleanly=switch is not None and set(versions[switch:]) == {2},
            first_v2_after_s=round(ordered[switch].sent - started, 2)
            if switch is not None
            else None,
        )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", type=Path, default=DEFAULT_RUN)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per phase")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--promote-during", action="store_true")
    args = parser.parse_args()

    from tuneforge.registry import open_registry
    from tuneforge.serve.process import serve_subprocess

    texts = headline_texts(args.run)
    phases: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="serve-load-") as folder:
        registry = open_registry(Path(folder) / "registry")
        registry.push(args.run, MODEL, stage="production")
        if args.promote_during:
            registry.push(args.run, MODEL)  # v2, promoted halfway through the last phase
        _, key = registry.create_key("bench", [MODEL], rate_limit_per_minute=UNLIMITED_RATE)
        base = {"registry": str(Path(folder) / "registry"), "log_level": "warning"}
        plan = [("batching_on", {}), ("batching_off", {"batching": False})]
        if args.promote_during:
            plan.append(("promote_during", {"models": {"poll_interval_s": 0.5}}))
        for phase, overrides in plan:
            midway = (
                (lambda: registry.promote(MODEL, 2, "production"))
                if phase == "promote_during"
                else None
            )
            with serve_subprocess({**base, **overrides}) as url:
                print(
                    f"{phase}: {args.concurrency} clients for {args.duration:.0f} s ...",
                    file=sys.stderr,
                )
                phases[phase] = asyncio.run(
                    drive(url, key, texts, args.concurrency, args.duration, midway)
                )

    on, off = phases["batching_on"], phases["batching_off"]
    speedup = on["throughput_rps"] / off["throughput_rps"] if off["throughput_rps"] else None
    rows = [
        [name, r["requests"], r["throughput_rps"], r["p50_ms"], r["p99_ms"], r["errors"]]
        for name, r in phases.items()
    ]
    print(
        _harness.markdown_table(["phase", "requests", "req/s", "p50 ms", "p99 ms", "errors"], rows)
    )
    print(f"\nthroughput with batching / without: {speedup:.2f}x")
    if "promote_during" in phases:
        promote = phases["promote_during"]
        print(
            f"promote during load: {promote['errors']} failed requests, responses by version "
            f"{promote['responses_by_version']}, clean switch: {promote['switched_cleanly']}"
        )
    path = _harness.write_results(
        "serve_load",
        {
            "run": str(args.run),
            "concurrency": args.concurrency,
            "duration_s": args.duration,
            "texts_per_request": 1,
            "mean_text_chars": statistics.mean(len(t) for t in texts),
            "phases": phases,
            "batching_speedup": speedup,
            "machine": _harness.machine_info(),
        },
    )
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
