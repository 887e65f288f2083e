"""Helpers for the web page's tests: a real headless Chromium, and where screenshots go.

:func:`chromium` opens the page in Debian's ``chromium`` through
``chromium-driver`` with selenium (:func:`vamen.server.web.browser.open_page`,
what the soak bench uses too), its console log kept, at a phone's or a
laptop's size; where a part is missing the test skips, saying which package
brings it (under ``CI=true`` it fails). :data:`ARTEFACTS` is where
screenshots are saved: ``$VAMEN_ARTEFACTS/web``, or ``artefacts/web`` in the
repository.
"""
from __future__ import annotations

import os
import socket
from pathlib import Path

from clients import need
from vamen.model.errors import VamenError
from vamen.server.web.browser import open_page, resize  # noqa: F401 (resize: for the tests)

ROOT = Path(__file__).resolve().parents[3]
ARTEFACTS = Path(os.environ.get("VAMEN_ARTEFACTS", ROOT / "artefacts")) / "web"
PHONE = (390, 844)
LAPTOP = (1280, 800)
COLD = 60.0  # seconds: Chromium and the first render start cold on a loaded 2-core machine


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def chromium(url: str, size=PHONE, mobile: bool = True):
    """A headless Chromium at ``size`` with the page at ``url`` loaded and its first state shown."""
    try:
        return open_page(url, size, mobile, nice=0, timeout=COLD)
    except VamenError as exc:
        if "not found" in str(exc) or "not installed" in str(exc):
            need(False, f"{exc}; scripts/system-deps.sh and the test extra install them")
        raise


def console_errors(driver) -> list[str]:
    """The console's errors since the last call (SEVERE entries: JavaScript errors, failed loads)."""
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
