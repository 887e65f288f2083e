"""Settings for the property-based tests (hypothesis), and the checks they share.

Every property test says how many examples it runs in CI with
``@examples(n)``: a count that keeps the whole set within about a minute on
2 cores. ``make fuzz`` runs them again with ``VAMEN_FUZZ_LONG=1``, fifty
times longer. Deadlines are off: these machines are shared and noisy, and a
slow example is not a failure (timing is measured in benchmarks).

A failure prints the example and a ``@reproduce_failure`` blob, and
hypothesis keeps it in ``.hypothesis/`` so the next run tries it first.
"""
from __future__ import annotations

import dataclasses
import math
import os

import numpy as np
from hypothesis import HealthCheck, settings

LONG = os.environ.get("VAMEN_FUZZ_LONG") == "1"


def examples(n: int):
    """``@settings`` for a property test: ``n`` examples (fifty times that under ``make fuzz``)."""
    return settings(max_examples=n * (50 if LONG else 1), deadline=None, print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


def one_line(exc: BaseException) -> str:
    """The exception's message, asserted to be one line a person can read."""
    text = str(exc)
    assert text.strip(), f"{type(exc).__name__} with no message"
    assert "\n" not in text and "\r" not in text, f"not one line: {text!r}"
    assert "Traceback" not in text, text
    return text


def assert_finite(value, where: str = "value") -> None:
    """No nan or inf anywhere in ``value`` (numbers, arrays, tuples, dataclasses such as commands)."""
    if isinstance(value, bool) or value is None or isinstance(value, (str, bytes, int)):
        return
    if isinstance(value, float):
        assert math.isfinite(value), f"{where} is {value}"
    elif isinstance(value, np.ndarray):
        if value.dtype.kind in "fc":
            assert np.isfinite(value).all(), f"{where} holds non-finite numbers"
    elif isinstance(value, (np.floating, np.integer)):
        assert_finite(float(value), where)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            assert_finite(getattr(value, f.name), f"{where}.{f.name}")
    elif isinstance(value, dict):
        for k, v in value.items():
            assert_finite(v, f"{where}[{k!r}]")
    elif isinstance(value, (tuple, list)):
        for i, v in enumerate(value):
            assert_finite(v, f"{where}[{i}]")
