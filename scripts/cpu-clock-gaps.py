"""Does this machine charge a thread's CPU clock with time its code did not run?

    python scripts/cpu-clock-gaps.py [SECONDS]      (default 60; one spinning process per CPU)

vamen calls a callback "slow in CPU time" when its thread's CPU clock
(``time.thread_time``) advanced by more than half a block while it ran,
which should mean vamen's code was busy. Here each process reads the wall
clock and its own CPU clock back to back in a loop whose own work takes
well under a microsecond. A gap of more than 1 ms between two reads is time
its code did not run. A gap the CPU clock did not count was a preemption,
as it should be; a gap the CPU clock counted as the thread's own (more than
half of it) is time the kernel charged to the thread: the host's steal it
did not subtract, or interrupts served on the thread's time. On such a
machine a callback can look busy for as long as the largest charged gap.
"""
from __future__ import annotations

import multiprocessing
import os
import sys
import time


def _steal_s() -> float:
    with open("/proc/stat") as fh:
        fields = fh.readline().split()
    return int(fields[8]) / os.sysconf("SC_CLK_TCK") if len(fields) > 8 else 0.0


def spin(seconds: float) -> tuple[float, float, list[tuple[float, float]]]:
    """(wall, CPU, gaps over 1 ms as (wall, CPU)) of one thread reading both clocks in a loop."""
    w0, c0 = time.perf_counter(), time.thread_time()
    end = w0 + seconds
    gaps = []
    pw, pc = w0, c0
    while pw < end:
        w, c = time.perf_counter(), time.thread_time()
        if w - pw > 0.001:
            gaps.append((w - pw, c - pc))
        pw, pc = w, c
    return pw - w0, pc - c0, gaps


def main() -> int:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 60.0
    cpus = os.cpu_count() or 1
    print(f"spinning on {cpus} CPUs for {seconds:g} s ...", file=sys.stderr, flush=True)
    steal0 = _steal_s()
    with multiprocessing.Pool(cpus) as pool:
        results = pool.map(spin, [seconds] * cpus)
    steal = _steal_s() - steal0
    gaps = [g for _, _, found in results for g in found]
    charged = sorted((g for g in gaps if g[1] > 0.5 * g[0]), reverse=True)
    missed = [g for g in gaps if g[1] <= 0.5 * g[0]]
    print(f"{cpus} threads x {seconds:g} s; host steal {steal:.2f} s; gaps over 1 ms: {len(gaps)}")
    print(f"  not counted as the thread's CPU time (preempted): {len(missed)}, "
          f"{sum(g[0] for g in missed) * 1000:.1f} ms in all")
    print(f"  counted as the thread's own CPU time: {len(charged)}, "
          f"{sum(g[1] for g in charged) * 1000:.1f} ms in all; largest (wall ms, CPU ms): "
          + ", ".join(f"({w * 1000:.2f}, {c * 1000:.2f})" for w, c in charged[:5]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
