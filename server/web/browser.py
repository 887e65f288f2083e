"""A headless Chromium showing the page: what ``vamen bench soak --page`` keeps open.

Debian's ``chromium`` driven through ``chromium-driver`` by selenium (the
``test`` extra). It runs at the lowest CPU priority (nice 19): it stands in
for a phone in the performer's pocket, whose browser does not share the
server's CPUs, so what the bench measures is what serving the page costs,
not what drawing it costs.

Contents
--------
open_page       URL -> a selenium driver with the page loaded; VamenError when it cannot
"""
from __future__ import annotations

import os
import shutil
import time


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
