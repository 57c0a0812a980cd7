"""The micro-batcher: grouping, length sorting, queue bound, closing and failures."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from tuneforge.serve.batching import (
    BatcherClosedError,
    MicroBatcher,
    QueueFullError,
    even_chunks,
)
from tuneforge.serve.config import BatchingConfig


class Recorder:
    """A predict function that records each call's texts and the thread it ran on."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.calls: list[list[str]] = []
        self.threads: set[int] = set()
        self.delay_s = delay_s

    def __call__(self, texts: list[str]) -> list[str]:
        self.calls.append(list(texts))
        self.threads.add(threading.get_ident())
        time.sleep(self.delay_s)
        return [text.upper() for text in texts]


def run(coroutine):
    return asyncio.run(coroutine)


def test_batching_concurrent_requests_share_passes_off_the_event_loop() -> None:
    recorder = Recorder()

    async def scenario():
        batcher = MicroBatcher(recorder, BatchingConfig(max_batch_size=8, max_wait_ms=50))
        results = await asyncio.gather(*(batcher.submit([f"t{i}"]) for i in range(10)))
        await batcher.close()
        return results

    results = run(scenario())

    assert results == [[f"T{i}"] for i in range(10)]
    assert [len(call) for call in recorder.calls] == [8, 2]
    assert threading.get_ident() not in recorder.threads


def test_batching_lone_client_does_not_wait_for_company_but_a_crowd_does() -> None:
    recorder = Recorder()

    async def scenario():
        batcher = MicroBatcher(recorder, BatchingConfig(max_batch_size=8, max_wait_ms=300))
        lone = []
        for index in range(3):  # one request at a time: nobody to wait for
            started = time.perf_counter()
            await batcher.submit([f"lone{index}"])
            lone.append(time.perf_counter() - started)
        # Two passes' worth of clients: the second pass follows one of several requests, so
        # its first request waits up to 300 ms and a late arrival still joins it.
        crowd = [asyncio.ensure_future(batcher.submit([f"c{i}"])) for i in range(10)]
        await asyncio.sleep(0.1)
        late = asyncio.ensure_future(batcher.submit(["late"]))
        await asyncio.gather(*crowd, late)
        await batcher.close()
        return lone

    lone = run(scenario())

    assert max(lone) < 0.15  # each well under the 300 ms window
    assert [len(call) for call in recorder.calls] == [1, 1, 1, 8, 3]
    assert "late" in recorder.calls[-1]


def test_batching_disabled_runs_each_request_alone() -> None:
    recorder = Recorder()
    batch_sizes: list[int] = []

    async def scenario():
        batcher = MicroBatcher(
            recorder, BatchingConfig(enabled=False, max_wait_ms=50), on_batch=batch_sizes.append
        )
        await asyncio.gather(batcher.submit(["a", "b"]), *(batcher.submit(["c"]) for _ in range(3)))
        await batcher.close()

    run(scenario())

    assert sorted(len(call) for call in recorder.calls) == [1, 1, 1, 2]
    assert sorted(batch_sizes) == [1, 1, 1, 2]


def test_batching_passes_hold_texts_of_similar_length_results_in_input_order() -> None:
    recorder = Recorder()
    texts = ["x" * 50, "x", "x" * 49, "xx", "x" * 48, "xxx"]

    async def scenario():
        batcher = MicroBatcher(recorder, BatchingConfig(max_batch_size=3, max_wait_ms=0))
        result = await batcher.submit(texts)
        await batcher.close()
        return result

    assert run(scenario()) == [text.upper() for text in texts]
    assert [sorted(len(t) for t in call) for call in recorder.calls] == [[1, 2, 3], [48, 49, 50]]


def test_batching_a_full_batch_runs_as_near_equal_passes_of_similar_lengths() -> None:
    recorder = Recorder()
    # 17 texts from 17 clients, one batch: two passes of 9 and 8 (not 16 and a lone text),
    # the shortest texts together so short ones are not padded to the longest.
    texts = [
        "x" * length for length in (40, 3, 70, 1, 55, 9, 26, 60, 2, 33, 80, 5, 48, 14, 7, 65, 20)
    ]

    async def scenario():
        batcher = MicroBatcher(
            recorder, BatchingConfig(max_batch_size=32, forward_batch_size=16, max_wait_ms=0)
        )
        results = await asyncio.gather(*(batcher.submit([text]) for text in texts))
        await batcher.close()
        return results

    assert run(scenario()) == [[text.upper()] for text in texts]
    assert [len(call) for call in recorder.calls] == [9, 8]
    shortest = sorted(len(text) for text in texts)
    assert [len(text) for text in recorder.calls[0]] == shortest[:9]


def test_batching_answers_each_request_when_its_own_pass_ends() -> None:
    recorder = Recorder(delay_s=0.3)
    answered: dict[str, float] = {}

    async def client(batcher: MicroBatcher, text: str, started: float) -> None:
        await batcher.submit([text])
        answered[text] = time.perf_counter() - started

    async def scenario() -> None:
        batcher = MicroBatcher(
            recorder, BatchingConfig(max_batch_size=32, forward_batch_size=16, max_wait_ms=0)
        )
        started = time.perf_counter()
        # one batch of 32 in two passes of 16: the short texts' clients need not wait for the
        # long texts' pass
        await asyncio.gather(*(client(batcher, "x" * (i + 1), started) for i in range(32)))
        await batcher.close()

    run(scenario())

    assert [len(call) for call in recorder.calls] == [16, 16]
    first = [answered["x" * (i + 1)] for i in range(16)]
    second = [answered["x" * (i + 1)] for i in range(16, 32)]
    assert max(first) < 0.45 < min(second)  # about 0.3 s against at least 0.6 s


def test_batching_a_failed_pass_fails_only_the_requests_with_texts_in_it() -> None:
    def fails_on_long(texts: list[str]) -> list[str]:
        if any(len(text) > 8 for text in texts):
            raise RuntimeError("model failed")
        return [text.upper() for text in texts]

    async def scenario():
        batcher = MicroBatcher(
            fails_on_long, BatchingConfig(max_batch_size=8, forward_batch_size=2, max_wait_ms=0)
        )
        outcomes = await asyncio.gather(
            batcher.submit(["a"]),
            batcher.submit(["bb"]),
            batcher.submit(["c" * 9]),
            batcher.submit(["ddd", "e" * 10]),  # one text in each pass: fails with the second
            return_exceptions=True,
        )
        await batcher.close()
        return outcomes, batcher.queued_texts

    outcomes, queued = run(scenario())

    assert outcomes[:2] == [["A"], ["BB"]]
    assert all(isinstance(outcome, RuntimeError) for outcome in outcomes[2:])
    assert queued == 0


def test_batching_even_chunks_are_as_few_and_as_equal_as_the_limit_allows() -> None:
    assert even_chunks(list(range(32)), 16) == [list(range(16)), list(range(16, 32))]
    assert [len(c) for c in even_chunks(list(range(33)), 16)] == [11, 11, 11]
    assert [len(c) for c in even_chunks(list(range(5)), 16)] == [5]
    assert even_chunks([], 16) == []


def test_batching_full_queue_refuses_with_retry_after() -> None:
    recorder = Recorder(delay_s=0.2)

    async def scenario():
        batcher = MicroBatcher(
            recorder, BatchingConfig(max_batch_size=2, max_wait_ms=0, max_queue_texts=4)
        )
        first = asyncio.ensure_future(batcher.submit(["a", "b", "c"]))
        await asyncio.sleep(0)  # queued
        with pytest.raises(QueueFullError) as refused:
            await batcher.submit(["d", "e"])
        accepted = await batcher.submit(["f"])  # 3 + 1 texts fit
        await first
        await batcher.close()
        return refused.value, accepted

    refused, accepted = run(scenario())
    assert refused.retry_after_s >= 0
    assert accepted == ["F"]


def test_batching_close_finishes_queued_requests_then_refuses_new_ones() -> None:
    recorder = Recorder(delay_s=0.05)

    async def scenario():
        batcher = MicroBatcher(recorder, BatchingConfig(max_batch_size=1, max_wait_ms=0))
        pending = [asyncio.ensure_future(batcher.submit([str(i)])) for i in range(4)]
        await asyncio.sleep(0)
        await batcher.close()
        assert all(task.done() for task in pending)
        with pytest.raises(BatcherClosedError):
            await batcher.submit(["late"])
        return [task.result() for task in pending]

    assert run(scenario()) == [["0"], ["1"], ["2"], ["3"]]


def test_batching_failed_pass_fails_its_requests_only() -> None:
    def flaky(texts: list[str]) -> list[str]:
        if "boom" in texts:
            raise RuntimeError("model failed")
        return texts

    async def scenario():
        batcher = MicroBatcher(flaky, BatchingConfig(max_batch_size=4, max_wait_ms=0))
        with pytest.raises(RuntimeError, match="model failed"):
            await batcher.submit(["boom"])
        result = await batcher.submit(["fine"])
        await batcher.close()
        return result, batcher.queued_texts

    assert run(scenario()) == (["fine"], 0)


def test_batching_stops_waiting_once_the_previous_passes_clients_are_back() -> None:
    recorder = Recorder()

    async def client(batcher: MicroBatcher, name: str) -> None:
        for round_ in range(3):
            await batcher.submit([f"{name}-{round_}"])

    async def scenario() -> float:
        # 4 clients in a closed loop can never fill 32 places: without the early stop every
        # pass after the first would wait the whole second for company that cannot come.
        batcher = MicroBatcher(recorder, BatchingConfig(max_batch_size=32, max_wait_ms=1000))
        started = time.perf_counter()
        await asyncio.gather(*(client(batcher, f"c{i}") for i in range(4)))
        elapsed = time.perf_counter() - started
        await batcher.close()
        return elapsed

    elapsed = run(scenario())

    assert elapsed < 1.0  # three rounds, none of them waiting out the 1 s window
    assert sum(len(call) for call in recorder.calls) == 12
    assert [len(call) for call in recorder.calls][-2:] == [4, 4]


def test_batching_joins_clients_split_over_two_passes_into_one() -> None:
    recorder = Recorder(delay_s=0.05)

    async def client(batcher: MicroBatcher, name: str, start_s: float) -> None:
        await asyncio.sleep(start_s)
        for round_ in range(4):
            await batcher.submit([f"{name}-{round_}"])

    async def scenario() -> float:
        batcher = MicroBatcher(recorder, BatchingConfig(max_batch_size=32, max_wait_ms=200))
        # 4 clients start together, 2 more during their first pass: without joining, the two
        # groups would take turns, each waiting behind the other's pass.
        started = time.perf_counter()
        early = [client(batcher, f"early{i}", 0.0) for i in range(4)]
        late = [client(batcher, f"late{i}", 0.02) for i in range(2)]
        await asyncio.gather(*early, *late)
        elapsed = time.perf_counter() - started
        await batcher.close()
        return elapsed

    elapsed = run(scenario())

    sizes = [len(call) for call in recorder.calls]
    assert sum(sizes) == 24
    # 5 passes of 50 ms; waiting out the 200 ms window for a full batch takes over 1.2 s.
    assert elapsed < 0.9
    assert sizes[:2] == [4, 6]  # the late pair waits for the early four to come back
    assert set(sizes[2:-1]) == {6}
