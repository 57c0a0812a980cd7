"""Pushes from several threads at once, each with its own registry connection."""

from __future__ import annotations

import threading
from pathlib import Path

from tuneforge.registry import open_registry


def push_concurrently(
    location: Path, run_dir: Path, count: int, database_url: str | None = None
) -> list[int]:
    """Push ``run_dir`` as "news-topic" from ``count`` threads at once, each with its own
    registry (engine and connections); returns the version numbers they got."""
    results, errors = [], []

    def push() -> None:
        try:
            with open_registry(location, database_url=database_url) as own:
                results.append(own.push(run_dir, "news-topic").version)
        except Exception as error:  # re-raised below: a thread's exception is otherwise lost
            errors.append(error)

    threads = [threading.Thread(target=push) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results
