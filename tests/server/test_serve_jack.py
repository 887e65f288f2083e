"""``vamen serve`` on a real (dummy-driver) JACK sound card, recorded from its ports."""
import time

import numpy as np
import pytest

from jackd import record
from clients import Vamen
from spectra import difference, steady_take

RATE = 48000


def served_on_jack(jack, model, tmp_path, *args) -> Vamen:
    """``vamen serve`` playing to the JACK dummy card, its ports up."""
    server = Vamen(model, tmp_path, "--device", "JACK", *args, env=jack.env())
    ports = jack.wait_for_ports("vamen:", direction="output", timeout=30.0)
    assert ports, f"vamen's JACK ports never appeared:\n{server.output()[-2000:]}"
    return server


@pytest.fixture
def served(jack, tmp_path):
    from vamen.model.loopmodel import DEFAULT_MODEL

    s = served_on_jack(jack, DEFAULT_MODEL, tmp_path, "--quantize", 0)
    yield s
    s.stop()


def take(jack, seconds) -> np.ndarray:
    audio = record(jack, seconds, "vamen")
    return audio[int(0.05 * RATE):, 0]  # the recorder needs a moment to connect


def spectrum(period: np.ndarray) -> np.ndarray:
    """Energy in 40 mel bands of exactly one period (a bar), in dB.

    The DFT of a whole period does not depend on where the period starts, so
    two takes of an unchanged loop give the same figures to rounding.
    """
    import librosa

    power = np.abs(np.fft.rfft(period.astype(np.float64))) ** 2
    bands = librosa.filters.mel(sr=RATE, n_fft=len(period), n_mels=40, fmax=16000)
    return 10 * np.log10(bands @ power + 1e-10)


def assert_continuous(audio: np.ndarray) -> None:
    blocks = audio[: len(audio) // 256 * 256].reshape(-1, 256)
    dead = np.flatnonzero(np.all(blocks == 0.0, axis=1))
    assert len(dead) == 0, f"{len(dead)} silent blocks, first at {dead[0] * 256 / RATE:.3f} s"


def test_audio_is_continuous_and_follows_every_kind_of_change(served, jack):
    bar = int(2.0 * RATE)  # one bar at 120 BPM: a whole bar's spectrum does not depend on where it starts
    first, steady = steady_take(lambda: take(jack, 3), bar, RATE)
    assert np.sqrt(np.mean(first ** 2)) > 1e-3
    assert_continuous(first)
    assert steady < 0.5, f"an unchanged loop did not repeat bar for bar ({steady:.2f} dB apart)"
    dim = served.state()["latent_dim"]
    for address, args in [("/vamen/latent", [2.0] * dim), ("/vamen/random", [1.5, 9]),
                          ("/vamen/morph", ["random", 0.5]), ("/vamen/walk", [2.0, 4.0, 3])]:
        before = take(jack, 3)
        served.send(address, *args)
        time.sleep(1.0)  # lands at the next block; a morph takes half a beat
        after = take(jack, 3)
        assert_continuous(after)
        moved = difference(before, after, bar, RATE)
        assert moved > max(10 * steady, 1.0), f"{address}: the sound did not change ({moved:.3f} dB, steady {steady:.3f} dB)"


@pytest.mark.parametrize("bpm", [90.0, 174.0])
def test_bars_last_four_beats_at_any_tempo_at_the_same_pitch(served, jack, bpm):
    served.send("/vamen/latent", *([1.0] * served.state()["latent_dim"]))
    time.sleep(0.5)
    ref = take(jack, 3)
    served.send("/vamen/tempo", bpm)
    time.sleep(1.0)
    audio = take(jack, 7 if bpm < 120 else 4)
    expected = 4 * 60 / bpm * RATE
    # a still point repeats every bar: find the period by matching the signal with itself
    lags = np.arange(int(expected * 0.9), int(expected * 1.1))
    x = audio[: int(expected * 0.9)]
    # (medians: one glitch on a loaded machine must not hide a period that is there)
    errs = [np.median(np.abs(audio[lag:lag + len(x)] - x)) for lag in lags]
    period = lags[int(np.argmin(errs))]
    assert abs(period - expected) <= 256, (period, expected)
    assert min(errs) < 0.01 * np.median(np.abs(x)) + 1e-6
    # same pitch: the average spectrum's centroid barely moves
    def centroid(a):
        s = 10 ** (spectrum(a) / 10)
        return float((s * np.arange(len(s))).sum() / s.sum())
    assert abs(centroid(audio[:period]) - centroid(ref[: int(2.0 * RATE)])) < 0.08 * centroid(ref)


def test_sigterm_stops_cleanly_with_exit_0(jack, tiny_model, tmp_path):
    s = served_on_jack(jack, tiny_model, tmp_path, "--record", tmp_path / "set.wav")
    time.sleep(1.0)
    code = s.stop()
    assert code == 0, s.output()
    import soundfile as sf

    info = sf.info(tmp_path / "set.wav")
    assert info.frames > 0.5 * RATE and info.samplerate == RATE


def test_quantise_1_lands_on_the_next_beat_within_a_block(jack, tiny_model, tmp_path):
    import torch
    from jackd import Recording

    from vamen.model.loopmodel import LoopModel
    from vamen.server.render.worker import HEADROOM, RENDER_THREADS

    s = served_on_jack(jack, tiny_model, tmp_path, "--quantize", 1)
    try:
        model = LoopModel.load(tiny_model, "cpu")
        # rendered on one torch thread, as the server's worker renders: with more,
        # a render on a busy machine can come out a float apart, which
        # Griffin-Lim carries to a few per cent of the waveform
        threads = torch.get_num_threads()
        torch.set_num_threads(RENDER_THREADS)
        try:
            (loop,), _ = model.render(model.prior[0][None], sample_rate=RATE)  # where it starts
        finally:
            torch.set_num_threads(threads)
        peak = np.abs(loop).max()
        loop = loop * (HEADROOM / peak) if peak > HEADROOM else loop  # as the worker plays it
        n = len(loop)
        rec = Recording(jack, 5, "vamen")
        time.sleep(2.3)
        s.send("/vamen/latent", *([2.5] * model.latent_dim))
        audio = rec.wait()[:, 0]
        late = s.state()["late_loops"]
    finally:
        s.stop()
    # where is the bar? the recording's first 1.3 s is the known loop at some
    # phase. A block JACK skipped on a loaded machine (an xrun) shifts the
    # phase by a period from there on, so the phase is read in the 0.4 s window
    # that fits best: the loop must match one window to within 2 %
    twice = np.concatenate([loop, loop, loop])

    def fit(at: int) -> tuple[float, int]:
        head = audio[at: at + int(0.4 * RATE)]
        errs = np.array([np.abs(twice[p:p + len(head)] - head).mean() for p in range(n)])
        return float(errs.min() / np.abs(head).mean()), int(np.argmin(errs))

    fits = {at: fit(at) for at in (int(0.1 * RATE), int(0.5 * RATE), int(0.9 * RATE))}
    start = min(fits, key=lambda at: fits[at][0])
    error, phase = fits[start]
    assert error < 0.02, fits
    bar0 = start - phase  # recording index where a bar starts (may be negative)
    # The old loop, continued from that phase, against what was recorded. A block
    # JACK skipped on a loaded machine (an xrun) delays everything after it by a
    # period without changing anything: the old loop is also compared a few
    # periods late, so only the new loop's arrival differs at every delay.
    period = 256
    delays = np.arange(-4, 5) * period
    continued = np.concatenate([loop] * 6)
    diffs = []
    for delay in delays:
        ref = continued[(start - bar0 - delay) % n:][: len(audio) - start]
        diff = np.abs(audio[start:start + len(ref)] - ref)
        diffs.append(diff[: len(diff) // 64 * 64].reshape(-1, 64).mean(axis=1))
    diffs = np.array(diffs)
    blocks, nearest = diffs.min(axis=0), diffs.argmin(axis=0)
    # the change is where the difference starts and stays: the median of the
    # next 16 blocks, so one glitched block is not taken for it
    threshold = 0.05 * np.abs(loop).mean()
    stays = np.array([blocks[i] > threshold and np.median(blocks[i:i + 16]) > threshold
                      for i in range(len(blocks) - 16)])
    assert stays.any(), "the change never arrived"
    first = int(np.argmax(stays))
    changed = start + 64 * first
    bar0 += int(delays[np.bincount(nearest[max(0, first - 32):first], minlength=len(delays)).argmax()]
                 if first > 0 else 0)  # the grid as late as the audio just before the change
    beat = n / 4
    offset = (changed - bar0) % beat
    distance = min(offset, beat - offset)
    assert distance <= 256 + 64, (changed, bar0, offset, late)
    assert late == 0
