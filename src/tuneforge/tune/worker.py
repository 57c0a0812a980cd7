"""Entry point of a parallel search worker: python -m tuneforge.tune.worker STUDY_DIR JOBS."""

from __future__ import annotations

import sys
from pathlib import Path

from tuneforge.tune.study import worker_main

if __name__ == "__main__":
    worker_main(Path(sys.argv[1]), int(sys.argv[2]))
