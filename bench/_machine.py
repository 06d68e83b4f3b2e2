"""How fast this machine is right now: a fixed pure-Python loop, timed.

On a shared virtual machine the same benchmark moves by a third within minutes (the
host's other tenants); the bar benchmarks report this figure at their start and end, so a
result can be read against the machine's speed at the time (docs/performance.md, "How each
is measured"). Not a benchmark itself (no JSON).
"""

from __future__ import annotations

import timeit


def reference_loop_s() -> float:
    """Seconds for ``sum(range(10**6))`` twenty times, the best of five (lower: faster;
    0.24 s on the 2-vCPU machine of docs/performance.md at its fastest)."""
    return round(min(timeit.repeat("sum(range(10**6))", number=20, repeat=5)), 3)
