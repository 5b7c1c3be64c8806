"""How the benchmarks and the int8 report time a call: warm up, then the median of many runs."""

from __future__ import annotations

import statistics
import time
from typing import Callable


def call_seconds(run: Callable[[], object], repeats: int) -> list[float]:
    """Seconds per call of `run`, after a tenth as many warm-up calls (at least ten)."""
    for _ in range(max(10, repeats // 10)):
        run()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return times


def median_us(run: Callable[[], object], repeats: int) -> float:
    return statistics.median(call_seconds(run, repeats)) * 1e6
