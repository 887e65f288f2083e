"""What ``vamen bench soak --page`` keeps open: a headless Chromium showing the page, or a bare socket.

Debian's ``chromium`` driven through ``chromium-driver`` by selenium (the
``test`` extra). It runs at the lowest CPU priority (nice 19): it stands in
for a phone in the performer's pocket, whose browser does not share the
server's CPUs. On a machine with few cores it still takes CPU the server
wanted (it draws in software), so :func:`open_socket` stands in for the
phone without drawing: a process that holds the page's WebSocket open and
reads everything the server pushes, as the page does. With it, the bench
measures the server's part alone.

Contents
--------
open_page       URL -> a selenium driver with the page loaded; VamenError when it cannot
open_socket     URL -> a process reading the page's live connection, with ``quit()``
"""
from __future__ import annotations

import os
import select
import shutil
import subprocess
import sys
import time

# Reads every message of the page's socket until it is killed; says "open" after the first.
_READER = r"""
import asyncio, sys
import aiohttp

async def main(url):
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(url, max_msg_size=0) as ws:
            said = False
            async for msg in ws:
                if not said:
                    print("open", flush=True)
                    said = True

asyncio.run(main(sys.argv[1]))
"""


class SocketPage:
    """A process holding the page's WebSocket open and reading it; ``quit()`` ends it."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.process = process

    def quit(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


def open_socket(url: str, nice: int = 19, timeout: float = 30.0) -> SocketPage:
    """A reader on ``url``'s live connection (``/ws``), once the server's first message came.

    Raises VamenError, one sentence, when it is not connected within ``timeout`` s.
    """
    from vamen.model.errors import VamenError

    scheme, rest = url.split("://", 1)
    socket_url = ("wss" if scheme == "https" else "ws") + "://" + rest.rstrip("/") + "/ws"
    process = subprocess.Popen([sys.executable, "-c", _READER, socket_url], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True,
                               preexec_fn=(lambda: os.nice(nice)) if nice else None)
    page = SocketPage(process)
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    if not ready or process.stdout.readline().strip() != "open":
        page.quit()
        raise VamenError(f"no message on the page's socket at {socket_url} within {timeout:g} s")
    return page


def open_page(url: str, size: tuple[int, int] = (390, 844), mobile: bool = True, nice: int = 19,
              timeout: float = 60.0):
    """A headless Chromium with ``url`` open and its first state shown.

    ``size`` is the viewport in CSS pixels; ``nice`` the browser's CPU
    priority (0 keeps the caller's). Console messages are kept
    (``driver.get_log("browser")``). Raises VamenError, one sentence, when
    selenium, chromium or chromedriver is missing or the page never shows a state.
    """
    from vamen.model.errors import VamenError

    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        raise VamenError("selenium is not installed (pip install 'vamen[test]')") from None
    binary, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if binary is None or driver_path is None:
        raise VamenError("chromium and chromedriver not found (Debian packages chromium and chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--no-first-run", f"--window-size={size[0]},{size[1]}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(driver_path, popen_kw={"preexec_fn": (lambda: os.nice(nice))} if nice else {})
    driver = webdriver.Chrome(service=service, options=options)
    try:
        driver.set_page_load_timeout(timeout)
        driver.set_script_timeout(30)
        resize(driver, size, mobile)
        driver.get(url)
        deadline = time.monotonic() + timeout
        while not driver.execute_script("return !!(window.vamen && vamen.state && vamen.hello)"):
            if time.monotonic() > deadline:
                raise VamenError(f"the page at {url} showed no state in {timeout:g} s")
            time.sleep(0.1)
    except BaseException:
        driver.quit()
        raise
    return driver


def resize(driver, size: tuple[int, int], mobile: bool) -> None:
    """The page's viewport exactly ``size`` CSS pixels (device scale 1), touch and all when ``mobile``."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": size[0], "height": size[1], "deviceScaleFactor": 1, "mobile": mobile})
    driver.execute_cdp_cmd("Emulation.setTouchEmulationEnabled", {"enabled": mobile})
