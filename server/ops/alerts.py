"""Alerts: tell someone when the sound stops, comes back, or the server is about to restart.

An installation runs for weeks with nobody watching its log. An alert is
one line in the log, a ``/vamen/alert s kind s message`` to every OSC
subscriber, and, with ``on-alert = "COMMAND"`` in ``vamen.toml``, a run of
that command (e-mail, a chat message, an LED: whatever the installation
already has). The command gets the kind and the message as its last two
arguments and in ``VAMEN_ALERT_KIND`` / ``VAMEN_ALERT_MESSAGE``.

Kinds: ``dead-air`` (and ``dead-air-over`` with how long it lasted),
``device-lost``, ``device-back``, ``audio-replaced``, ``memory``.

Any thread may :meth:`Alerter.raise_` an alert: it only queues it. The
control thread's tick calls :meth:`Alerter.flush`, which logs, tells the
subscribers and starts the command on a thread of its own. The command is
rate-limited (one run a kind per ``every`` seconds; the rest are counted
and told with the next run), killed after ``timeout`` seconds, and one that
fails or hangs is logged and survived.
"""
from __future__ import annotations

import logging
import os
import shlex
import subprocess
import threading
import time
from collections import deque

log = logging.getLogger("vamen")

#: The shortest time between two runs of the alert command for one kind.
EVERY_SECONDS = 60.0
#: The longest an alert command may run.
TIMEOUT_SECONDS = 10.0
KINDS = ("dead-air", "dead-air-over", "device-lost", "device-back", "audio-replaced", "memory")


class Alerter:
    """Queues alerts from any thread; the control thread sends them (see the module docstring).

    Parameters
    ----------
    command : str or None
        ``on-alert``: a command line, split as a shell would (no shell runs it).
    every, timeout : float
        Rate limit per kind, and the command's time limit, in seconds.
    """

    def __init__(self, command: str | None = None, every: float = EVERY_SECONDS,
                 timeout: float = TIMEOUT_SECONDS):
        self.argv = shlex.split(command) if command else []
        self.every = every
        self.timeout = timeout
        self.count = 0
        self.last = ""
        self.failed = 0  # command runs that failed, timed out or could not start
        self._held: dict[str, int] = {}  # alerts the rate limit kept from the command, a kind
        self._queue: deque[tuple[str, str]] = deque(maxlen=256)
        self._ran: dict[str, float] = {}
        self._running: dict[str, threading.Thread] = {}

    def raise_(self, kind: str, message: str) -> None:
        """Queue an alert (any thread; never blocks)."""
        self._queue.append((kind, message))

    def flush(self, tell=None) -> list[tuple[str, str]]:
        """Log, tell and run the command for each queued alert (the control thread). What was sent.

        ``tell(address, args)`` sends an OSC message to every subscriber.
        """
        sent = []
        while self._queue:
            kind, message = self._queue.popleft()
            self.count += 1
            self.last = f"{kind}: {message}"
            log.warning("alert %s: %s", kind, message)
            if tell is not None:
                try:
                    tell("/vamen/alert", [kind, message])
                except Exception as exc:  # a subscriber's trouble must not stop the alert
                    log.warning("alert %s: could not tell the subscribers: %s", kind, exc)
            self._run(kind, message)
            sent.append((kind, message))
        return sent

    def _run(self, kind: str, message: str) -> None:
        if not self.argv:
            return
        now = time.monotonic()
        running = self._running.get(kind)
        if (running is not None and running.is_alive()) or now - self._ran.get(kind, -float("inf")) < self.every:
            self._held[kind] = self._held.get(kind, 0) + 1
            return
        self._ran[kind] = now
        held = self._held.pop(kind, 0)
        if held:
            message += f" ({held} more alert{'s' if held != 1 else ''} held back by the rate limit)"
        # one thread a kind at most: a hanging command holds back only its own kind
        self._running[kind] = threading.Thread(target=self._command, args=(kind, message),
                                               name="vamen-alert", daemon=True)
        self._running[kind].start()

    def _command(self, kind: str, message: str) -> None:
        env = dict(os.environ, VAMEN_ALERT_KIND=kind, VAMEN_ALERT_MESSAGE=message)
        try:
            done = subprocess.run([*self.argv, kind, message], env=env, stdin=subprocess.DEVNULL,
                                  capture_output=True, text=True, timeout=self.timeout)
        except subprocess.TimeoutExpired:
            self.failed += 1
            log.warning("alert command %s took over %.0f s: stopped", self.argv[0], self.timeout)
            return
        except OSError as exc:
            self.failed += 1
            log.warning("alert command %s could not run: %s", self.argv[0], exc.strerror or exc)
            return
        if done.returncode != 0:
            self.failed += 1
            said = (done.stderr or done.stdout).strip().splitlines()
            log.warning("alert command %s failed (exit %d)%s", self.argv[0], done.returncode,
                        f": {said[-1][:200]}" if said else "")

    def health(self) -> dict:
        return {"alerts": self.count, "last_alert": self.last, "alert_command_failures": self.failed}
