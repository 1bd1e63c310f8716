"""What every part of `make bench` shares: where things are, and progress lines."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRATCH = ROOT / "bench-results"  # databases, server logs, wrk session files
RESULTS_JSON = ROOT / "bench" / "results.json"


def log(message: str) -> None:
    print(f"[bench {datetime.now():%H:%M:%S}] {message}", flush=True)
