"""Where every thread is, when vamen seems stuck: on request, and when a stop hangs.

An installation that stops answering, or a stop that never ends, is found
out later by someone who was not there. Python's :mod:`faulthandler` writes
every thread's stack from C, without the GIL, so it works even when a thread
holds it:

- ``kill -USR1 PID`` prints every thread's stack to stderr (the journal,
  under systemd) and vamen plays on;
- a stop (Ctrl-C, SIGTERM, the memory ceiling) that has not finished after
  ``STOP_SECONDS`` says so in one line, prints the stacks and exits with
  ``EXIT_STUCK``, rather than hang until systemd's SIGKILL (90 s by
  default) and leave no trace of what held it.

Contents
--------
stacks_on_signal    SIGUSR1 prints the stacks
stop_deadline       a context manager: the stop inside it must end in time
"""
from __future__ import annotations

import faulthandler
import os
import signal
import sys
import threading
from contextlib import contextmanager
from typing import Iterator

#: A stop takes one to three seconds (the threads joined, the recording
#: finalised, the session saved); this much means something is stuck.
STOP_SECONDS = 20.0
#: The exit status of a stop that hung (sysexits' EX_SOFTWARE).
EXIT_STUCK = 70
#: If the Python timer cannot run (a thread holds the GIL in C), faulthandler's
#: own C thread dumps the stacks and exits with status 1 this much later.
BACKSTOP_SECONDS = 10.0


def stacks_on_signal(sig: int = signal.SIGUSR1) -> None:
    """From now on ``sig`` prints every thread's stack to stderr; the process goes on."""
    faulthandler.register(sig, file=sys.stderr, all_threads=True)


@contextmanager
def stop_deadline(seconds: float = STOP_SECONDS) -> Iterator[None]:
    """Run a stop that must end within ``seconds``, or say so, dump the stacks and exit.

    The exit is ``os._exit(EXIT_STUCK)``: the stuck thread cannot be unwound,
    and ``sys.exit`` would wait for it.
    """
    def stuck() -> None:
        sys.stderr.write(f"vamen: stopping has taken over {seconds:g} s; where each thread is "
                         f"follows, and vamen exits with status {EXIT_STUCK}\n")
        sys.stderr.flush()
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        os._exit(EXIT_STUCK)

    timer = threading.Timer(seconds, stuck)
    timer.daemon = True
    timer.name = "vamen-stop-deadline"
    timer.start()
    faulthandler.dump_traceback_later(seconds + BACKSTOP_SECONDS, exit=True, file=sys.stderr)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()
        timer.cancel()
