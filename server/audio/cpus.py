"""CPUs kept for the sound (``--audio-cpus``): the audio process on some, vamen's other work on the rest.

On a machine with few cores the renderer (torch), the OSC flood and the
web page share the CPUs with the audio thread. A kernel that does not
preempt (``preempt=none``, common on servers and virtual machines) lets a
woken real-time thread wait until the thread running on its CPU leaves
the kernel, and a renderer's page faults and a socket's sends are kernel
time. Giving the sound a CPU of its own is what real-time audio setups
do; ``audio-cpus = "1"`` puts vamen's audio process (and its input
process) there, and every thread of vamen itself on the other CPUs. Pin
the JACK server and scsynth to the same CPUs (``taskset -c 1 jackd ...``).

Measured on the 2-core development machine (README, "Whose underruns
they are"): scsynth playing vamen's loops, late 60 times against the
peer's 47 with no pinning; 16 against 16 with the sound on CPU 1.

The CPU lists read as taskset and ``/sys/devices/system/cpu/online``
write them: ``1``, ``2-3``, ``0,2-3``.
"""
from __future__ import annotations

import os
from pathlib import Path


def parse_cpus(text: str) -> frozenset[int]:
    """The CPUs of a list such as ``"0,2-3"``; ValueError (one line) for anything else."""
    cpus: set[int] = set()
    for part in str(text).replace(" ", "").split(","):
        low, dash, high = part.partition("-")
        try:
            first, last = int(low), int(high) if dash else int(low)
        except ValueError:
            raise ValueError(f"--audio-cpus {text!r} is not a CPU list (write it as taskset does: "
                             "1, 2-3, 0,2)") from None
        if first < 0 or last < first:
            raise ValueError(f"--audio-cpus {text!r}: {part!r} is not a range of CPU numbers")
        cpus.update(range(first, last + 1))
    return frozenset(cpus)


def format_cpus(cpus) -> str:
    """``{0, 2, 3}`` -> ``"0,2-3"``."""
    runs: list[list[int]] = []
    for cpu in sorted(cpus):
        if runs and cpu == runs[-1][-1] + 1:
            runs[-1].append(cpu)
        else:
            runs.append([cpu])
    return ",".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs)


def split_cpus(text: str, allowed: frozenset[int] | None = None) -> tuple[frozenset[int], frozenset[int]]:
    """``(the sound's CPUs, the rest)`` for ``--audio-cpus text``.

    ``allowed`` is where vamen may run now (its affinity). ValueError, one
    line, when a CPU is not there or none would be left for the rest.
    """
    if not hasattr(os, "sched_setaffinity"):
        raise ValueError(f"--audio-cpus {text}: this system cannot keep a process to CPUs "
                         "(Linux can)")
    audio = parse_cpus(text)
    allowed = frozenset(os.sched_getaffinity(0)) if allowed is None else allowed
    missing = audio - allowed
    if missing:
        raise ValueError(f"--audio-cpus {text}: no CPU {format_cpus(missing)} here "
                         f"(vamen may run on {format_cpus(allowed)})")
    rest = allowed - audio
    if not rest:
        raise ValueError(f"--audio-cpus {text} leaves no CPU for the renderer "
                         f"(vamen may run on {format_cpus(allowed)})")
    return audio, rest


def threads_of(pid: int) -> list[int]:
    """The thread ids of process ``pid`` (Linux's ``/proc``); [] if it is gone."""
    try:
        return [int(t.name) for t in Path(f"/proc/{pid}/task").iterdir()]
    except OSError:
        return []


def pin(pid: int, cpus) -> bool:
    """Every thread of process ``pid`` on ``cpus``; False where none could be moved.

    ``sched_setaffinity`` moves one thread; threads started later take
    their creator's CPUs, so the threads that exist now are all moved.
    """
    done = False
    for tid in threads_of(pid):
        try:
            os.sched_setaffinity(tid, cpus)
            done = True
        except OSError:  # a thread that ended meanwhile, or not ours to move
            pass
    return done


def keep_to(cpus: str | None) -> None:
    """The calling process on ``cpus`` (an audio child, before it starts any thread: the
    threads PortAudio and libjack start then take the same CPUs). Where they cannot be had
    it plays where it is; the parent sees that in :func:`cpus_of`."""
    if not cpus:
        return
    try:
        os.sched_setaffinity(0, parse_cpus(cpus))
    except (OSError, ValueError, AttributeError):
        pass


def cpus_of(pid: int) -> frozenset[int] | None:
    """The CPUs process ``pid`` (its main thread) may run on, or None if it is gone."""
    try:
        return frozenset(os.sched_getaffinity(pid))
    except OSError:
        return None
