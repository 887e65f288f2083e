"""Telling systemd how vamen is: ready, alive, stopping (``sd_notify``, no library needed).

Under a ``Type=notify`` unit systemd puts the path of a datagram socket in
``$NOTIFY_SOCKET``; a service sends it lines such as ``READY=1``. The
protocol is one ``AF_UNIX`` ``SOCK_DGRAM`` datagram per message; a name
starting with ``@`` is in the abstract namespace (the ``@`` becomes a NUL
byte). Without ``$NOTIFY_SOCKET`` every call does nothing, so vamen behaves
the same outside systemd.

``vamen serve`` sends ``READY=1`` once OSC listens and sound flows, and
``STOPPING=1`` when it stops. With ``WatchdogSec=`` in the unit, systemd
sets ``$WATCHDOG_USEC`` and kills (then, with ``Restart=on-failure``,
restarts) a service that stays silent that long; :class:`Watchdog` sends
``WATCHDOG=1`` every half of it, fed from the engine's control thread, so a
hung control thread, not just a dead process, gets vamen restarted.

Contents
--------
notify      send one message to ``$NOTIFY_SOCKET``; False when there is none
Watchdog    ``feed()`` from the thread that must stay alive
"""
from __future__ import annotations

import logging
import os
import socket
import time
from typing import Callable, Mapping

log = logging.getLogger(__name__)


def _address(env: Mapping[str, str]) -> str | None:
    path = env.get("NOTIFY_SOCKET", "")
    if not path or path[0] not in "/@":  # only local sockets (systemd also allows vsock: not here)
        return None
    return "\0" + path[1:] if path[0] == "@" else path


def notify(message: str, env: Mapping[str, str] | None = None) -> bool:
    """Send ``message`` (e.g. ``"READY=1"``) to systemd; False when not under it or on failure.

    Never raises: a service must not stop because its supervisor went away.
    """
    address = _address(os.environ if env is None else env)
    if address is None:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(message.encode("utf-8"))
        return True
    except OSError as exc:
        log.debug("sd_notify %r failed: %s", message, exc)
        return False


class Watchdog:
    """Pings systemd's watchdog every half of ``$WATCHDOG_USEC``, when that is set for this process.

    ``$WATCHDOG_PID``, when set, must be this process (as ``sd_watchdog_enabled`` checks).
    """

    def __init__(self, env: Mapping[str, str] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        env = dict(os.environ if env is None else env)
        self.env = env
        self.clock = clock
        self.interval: float | None = None
        self.pings = 0
        self._next = -1.0
        try:
            usec = int(env.get("WATCHDOG_USEC", "0"))
            pid = int(env.get("WATCHDOG_PID", os.getpid()))
        except ValueError:
            return
        if usec > 0 and pid == os.getpid() and _address(env) is not None:
            self.interval = usec / 2e6

    @property
    def enabled(self) -> bool:
        return self.interval is not None

    def feed(self) -> None:
        """Ping if half the watchdog time has passed since the last ping; cheap otherwise."""
        if self.interval is None:
            return
        now = self.clock()
        if now < self._next:
            return
        self._next = now + self.interval
        if notify("WATCHDOG=1", self.env):
            self.pings += 1
