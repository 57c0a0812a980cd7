"""An asyncio micro-batcher: concurrent requests to one model version share forward passes.

Requests queue up; a collector task takes the first one, waits up to `max_wait_ms` for more
(until `max_batch_size` texts; only when the previous pass carried more than one request: a lone
client gains nothing from waiting), sorts the texts by length so each forward pass pads little, and
runs the passes on a dedicated worker thread so the event loop keeps accepting requests.
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
    """Batches `submit` calls into `predict_fn` calls of at most `max_batch_size` texts.

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
        return self.queued_texts / self.config.max_batch_size * self._recent_pass_s

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
        texts = [text for pending in group for text in pending.texts]
        try:
            results = await asyncio.get_running_loop().run_in_executor(
                self._executor, self._predict_sorted, texts
            )
        except Exception as error:  # a failed pass fails its requests, not the collector
            for pending in group:
                if not pending.future.done():
                    pending.future.set_exception(error)
        else:
            start = 0
            for pending in group:
                end = start + len(pending.texts)
                if not pending.future.done():
                    pending.future.set_result(results[start:end])
                start = end
        finally:
            self._change_depth(-len(texts))

    def _change_depth(self, delta: int) -> None:
        self.queued_texts += delta
        if self.on_queue_depth is not None:
            self.on_queue_depth(self.queued_texts)

    def _predict_sorted(self, texts: list[str]) -> list[Any]:
        """Run the passes (texts of similar length together) and return results in input order."""
        started = time.perf_counter()
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        size = self.config.max_batch_size if self.config.enabled else len(texts)
        results: list[Any] = [None] * len(texts)
        passes = 0
        for start in range(0, len(order), size):
            chunk = order[start : start + size]
            for index, result in zip(
                chunk, self.predict_fn([texts[i] for i in chunk]), strict=True
            ):
                results[index] = result
            passes += 1
            if self.on_batch is not None:
                self.on_batch(len(chunk))
        self._recent_pass_s = 0.8 * self._recent_pass_s + 0.2 * (
            (time.perf_counter() - started) / passes
        )
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
