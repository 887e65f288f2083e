"""Waiting in tests for what a test asserts, instead of sleeping a guessed time.

A loaded 2-core CI machine makes every "after 0.2 s it has happened" a coin
toss; :func:`wait_for` polls until it has, and fails with what it was
waiting for once a generous deadline has passed.
"""
from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")


def wait_for(condition: Callable[[], T], timeout: float, what: str, poll: float = 0.02) -> T:
    """Call ``condition`` until it returns something true, and return that.

    Raises AssertionError naming ``what`` after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while not (got := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(poll)
    return got
