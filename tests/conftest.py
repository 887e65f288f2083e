"""Shared fixtures: one seeded rng, the real breaks, small synthetic corpora."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
BREAKS = ROOT.parent / "shared" / "data" / "breaks"
IN_CI = os.environ.get("CI") == "true"


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261121)


@pytest.fixture(scope="session")
def breaks_dir() -> Path:
    """The recorded breaks beside the checkout (absent in a user's own clone)."""
    if not BREAKS.is_dir():
        pytest.skip(f"recorded breaks not found at {BREAKS} (they live beside the project checkout)")
    return BREAKS


@pytest.fixture(scope="session")
def sample_bank():
    """The CC0 recordings of Debian's sonic-pi-samples, read at 44.1 kHz.

    Skips without the package on a developer's machine; fails under ``CI=true``,
    where the project's setup installs it.
    """
    from vamen.model.errors import VamenError
    from vamen.model.recorded import SampleBank

    try:
        return SampleBank.load(sample_rate=44100)
    except VamenError as exc:
        if IN_CI:
            pytest.fail(str(exc))
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def synth_dir(tmp_path_factory) -> Path:
    """24 synthetic one-bar breaks written by the dataset command's code."""
    from vamen.model.synth import write_dataset

    folder = tmp_path_factory.mktemp("synth24")
    write_dataset(folder, 24, seed=11)
    return folder


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, synth_dir) -> Path:
    """A small model, 60 steps: it has learnt what a break sounds like, not much more."""
    from vamen.model.config import LoopConfig
    from vamen.model.train import TrainOptions, train_folder

    out = tmp_path_factory.mktemp("tiny") / "tiny.pt"
    config = LoopConfig(channels=32, latent_dim=8)
    train_folder(synth_dir, out, TrainOptions(epochs=10, batch_size=4), config)
    return out


# --- JACK dummy sound card (helpers and findings in tests/jackd.py) ---------------------------

@pytest.fixture(scope="session", autouse=True)
def cpus_awake():
    """Keep the CPUs out of deep idle for the session, where this machine lets us (root).

    These machines are virtual: a halted virtual CPU takes milliseconds to
    wake for a real-time audio thread, longer than a 5.3 ms JACK period, and
    the JACK dummy driver then reports xruns that glitch the recordings the
    tests judge (measured: a 90 s soak had 78 xruns, 3 with this). It is the
    request ``vamen serve --keep-cpu-awake`` makes (vamen.server.audio.cpuwake).
    """
    from vamen.server.audio.cpuwake import CpuAwake

    awake = CpuAwake()
    awake.start()  # without access the tests still run, on a noisier clock
    yield awake.holding
    awake.close()


@pytest.fixture(scope="session")
def jack_server():
    """One JACK dummy-driver server for the session, and this process pointed at it.

    Yields a ``jackd.JackServer``: ``.name``, ``.sample_rate`` (48000),
    ``.block`` (256), ``.device`` (PortAudio's JACK device index here),
    ``.ports()``, ``.stop(kill=False)``, ``.start()``. Skips without jackd
    and its tools, fails instead under ``CI=true``.
    """
    from jackd import JackError, JackServer, missing_tools

    missing = missing_tools()
    if missing:
        reason = f"JACK not available: {', '.join(missing)} missing (Debian package jackd2)"
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    server = JackServer()
    try:
        server.start()
    except JackError as exc:
        server.restore_environ()
        if IN_CI:
            pytest.fail(f"JACK dummy server did not start: {exc}")
        pytest.skip(f"JACK dummy server did not start: {exc}")
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def jack(jack_server):
    """``jack_server``, started again if an earlier test stopped it."""
    jack_server.start()
    return jack_server


def pytest_collection_modifyitems(items):
    """Every test that starts JACK carries the ``jack`` marker (``-m "not jack"`` leaves them out)."""
    for item in items:
        if {"jack", "jack_server"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.jack)
