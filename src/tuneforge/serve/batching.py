"""An asyncio micro-batcher: concurrent requests to one model version share forward passes.

Requests queue up; a collector task takes the first one, waits up to `max_wait_ms` for more
(until `max_batch_size` texts; only when the previous pass carried more than one request: a lone
client gains nothing from waiting), sorts the texts by length and cuts them into forward passes
of at most `forward_batch_size` so each pass pads little, and runs the passes on a dedicated
worker thread so the event loop keeps accepting requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from tuneforge.serve.config import BatchingConfig

PredictFn = Callable[[list[str]], list[Any]]


def _closed(texts: list[str]) -> list[Any]:
    raise BatcherClosedError("model version unloaded")


def even_chunks(items: list[int], most: int) -> list[list[int]]:
    """`items` in order, cut into as few near-equal chunks of at most `most` as possible: 17
    texts with at most 16 per pass run as 9 + 8, not 16 + a lone text that pays a pass alone."""
    if not items:
        return []
    count = -(-len(items) // most)
    size, extra = divmod(len(items), count)
    chunks, start = [], 0
    for index in range(count):
        end = start + size + (1 if index < extra else 0)
        chunks.append(items[start:end])
        start = end
    return chunks


class QueueFullError(Exception):
    """The batcher's queue holds `max_queue_texts` texts already; retry after `retry_after_s`."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"queue full, retry after {retry_after_s:.1f} s")
        self.retry_after_s = retry_after_s


class BatcherClosedError(Exception):
    """The batcher was closed (its model version was unloaded) before the request arrived."""


@dataclass
class _Pending:
    texts: list[str]
    future: asyncio.Future[list[Any]]


class MicroBatcher:
    """Batches `submit` calls into batches of at most `max_batch_size` texts, each run as
    `predict_fn` calls (forward passes) of at most `forward_batch_size` texts of similar length.

    Args:
        predict_fn: Blocking function from texts to one result per text (run on a worker thread).
        config: Batch size, wait, queue bound; `enabled=False` runs each request on its own.
        on_batch: Called on the worker thread after each forward pass with its size in texts.
        on_queue_depth: Called with the number of waiting texts whenever it changes.
    """

    def __init__(
        self,
        predict_fn: PredictFn,
        config: BatchingConfig,
        on_batch: Callable[[int], None] | None = None,
        on_queue_depth: Callable[[int], None] | None = None,
    ) -> None:
        self.predict_fn = predict_fn
        self.config = config
        self.on_batch = on_batch
        self.on_queue_depth = on_queue_depth
        self.queued_texts = 0
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        # One inference thread per version: torch already spreads one pass over the cores, and
        # parallel passes on the same cores only contend.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tuneforge-infer")
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._recent_pass_s = 0.05  # running estimate of one pass, for Retry-After
        self._previous_pass_requests = 0
        self._expected_requests = 0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._collect())

    async def submit(self, texts: list[str]) -> list[Any]:
        """Predict `texts` (one result per text, in order) as part of a batch.

        Raises:
            QueueFullError: too many texts are waiting already.
            BatcherClosedError: the batcher was closed.
        """
        if self._closed:
            raise BatcherClosedError("model version unloaded")
        if not texts:
            return []
        if self.queued_texts + len(texts) > self.config.max_queue_texts:
            raise QueueFullError(self._retry_after_s())
        self.start()
        # Everything up to put_nowait runs without yielding: a request that got this batcher
        # is in its queue before any close() can run, so close() drains it.
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._change_depth(len(texts))
        self._queue.put_nowait(_Pending(texts, future))
        return await future

    def _retry_after_s(self) -> float:
        """About how long the queued texts take to clear, from recent pass durations."""
        return self.queued_texts / self._pass_texts() * self._recent_pass_s

    def _pass_texts(self) -> int:
        """Most texts per forward pass: a batch never runs as a pass bigger than itself."""
        return min(self.config.forward_batch_size, self.config.max_batch_size)

    async def _collect(self) -> None:
        while True:
            first = await self._queue.get()
            group = [first]
            if self.config.enabled:
                await self._gather_more(group)
            self._previous_pass_requests = len(group)
            await self._run(group)
            # Requests that came in during the pass, plus the clients it just answered: how
            # many are likely to be back for the next pass (see _gather_more).
            self._expected_requests = self._queue.qsize() + self._previous_pass_requests

    async def _gather_more(self, group: list[_Pending]) -> None:
        """Add waiting requests until the batch is full, everyone expected is in, or the wait
        is over.

        The wait applies only after a pass that carried several requests: one client at a time
        would wait for nobody (measured in benchmarks/serve_peers.py: 5 ms of wait put a lone
        client's median at 31 ms against Infinity's 25), while under load the wait gathers the
        clients that answer in a burst. It ends as soon as the batch holds the requests that
        were queued when the last pass ended plus the clients that pass answered (the ones
        likely to come back): 8 clients never fill 32 places, and clients split over two passes
        (20 + 12 of 32) are joined into one pass again instead of waiting behind each other.
        The wait counts from the moment gathering starts, so requests queued during a pass
        wait at most once more for the clients of that pass.
        """
        waits = self._previous_pass_requests > 1
        deadline = time.perf_counter() + (self.config.max_wait_ms / 1000 if waits else 0.0)
        expected = self._expected_requests
        size = len(group[0].texts)
        while size < self.config.max_batch_size:
            if self._queue.empty():
                if len(group) >= expected:
                    return
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    return
                try:
                    item = await asyncio.wait_for(self._queue.get(), remaining)
                except TimeoutError:
                    return
            else:
                item = self._queue.get_nowait()
            group.append(item)
            size += len(item.texts)

    async def _run(self, group: list[_Pending]) -> None:
        """Run the batch as forward passes of texts of similar length, answering each request
        as soon as the pass holding its last text ends.

        Every pass is queued on the one inference thread at once, so it runs them back to back
        while the event loop answers: with two passes of 16, the clients of the first are
        answered (and can send their next request) while the second runs.
        """
        texts = [text for pending in group for text in pending.texts]
        owners = [owner for owner, pending in enumerate(group) for _ in pending.texts]
        starts = [0]
        for pending in group:
            starts.append(starts[-1] + len(pending.texts))
        missing = [len(pending.texts) for pending in group]
        results: list[Any] = [None] * len(texts)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        size = self._pass_texts() if self.config.enabled else len(texts)
        loop = asyncio.get_running_loop()
        passes = [
            (
                chunk,
                loop.run_in_executor(self._executor, self._predict_pass, [texts[i] for i in chunk]),
            )
            for chunk in even_chunks(order, size)
        ]
        for chunk, running in passes:
            try:
                outputs = await running
            except Exception as error:  # a failed pass fails its requests, not the collector
                for index in chunk:
                    future = group[owners[index]].future
                    if not future.done():
                        future.set_exception(error)
            else:
                for index, output in zip(chunk, outputs, strict=True):
                    results[index] = output
                    owner = owners[index]
                    missing[owner] -= 1
                    future = group[owner].future
                    if missing[owner] == 0 and not future.done():
                        future.set_result(results[starts[owner] : starts[owner + 1]])
            finally:
                self._change_depth(-len(chunk))

    def _change_depth(self, delta: int) -> None:
        self.queued_texts += delta
        if self.on_queue_depth is not None:
            self.on_queue_depth(self.queued_texts)

    def _predict_pass(self, texts: list[str]) -> list[Any]:
        """One forward pass on the inference thread; keeps the running pass-time estimate."""
        started = time.perf_counter()
        results = self.predict_fn(texts)
        if len(results) != len(texts):
            raise RuntimeError(f"the model returned {len(results)} results for {len(texts)} texts")
        if self.on_batch is not None:
            self.on_batch(len(texts))
        self._recent_pass_s = 0.8 * self._recent_pass_s + 0.2 * (time.perf_counter() - started)
        return results

    async def close(self) -> None:
        """Stop accepting requests, finish the queued ones, then stop the worker."""
        self._closed = True
        while self.queued_texts > 0:
            await asyncio.sleep(0.01)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._executor.shutdown(wait=False)
        # The predict function holds the model: let an unloaded version's memory go.
        self.predict_fn = _closed
