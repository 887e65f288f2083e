"""The TidalCycles client for real: Debian's Tidal (1.7) in ghci, booted with
patches/tidal/BootVamen.ghci, plays a pattern against ``vamen serve``.

ghci reads the boot script (``-ghci-script``; ``VAMEN_PORT`` points its
vamen target at this test's server, ``TIDAL_CTRL_PORT`` moves Tidal's own
control port off 6010), then from stdin::

    setcps 0.55
    d1 $ s "vamen*8" # z0 (range (-2) 2 sine)
    threadDelay 6000000
    hush

The test polls ``/vamen/state`` meanwhile: latent coordinate 0 sweeps the
sine's range (eight samples of it per cycle) and the tempo is ``cps * 240``.

A second test plays Tidal's own ``slice 16 "0 0 0 0" $ s "vamen"`` and
listens to vamen's recording: the bar's first sixteenth on every beat,
silence between.
"""
import os
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from clients import Vamen, free_port, need, need_programs

ROOT = Path(__file__).resolve().parents[3]
BOOT = ROOT / "patches" / "tidal" / "BootVamen.ghci"

PLAY = """setcps 0.55
d1 $ s "vamen*8" # z0 (range (-2) 2 sine)
import Control.Concurrent (threadDelay)
threadDelay 6000000
hush
threadDelay 300000
:quit
"""


def tidal_installed() -> bool:
    done = subprocess.run(["ghc-pkg", "list", "--simple-output", "tidal"], capture_output=True,
                          text=True)
    return done.returncode == 0 and "tidal-" in done.stdout


def start_tidal(served, tmp_path, play: str, log):
    """Tidal in ghci, booted with vamen's script, playing ``play`` at ``served``."""
    need_programs("ghc", "ghci", "ghc-pkg")
    need(tidal_installed(), "Tidal not found by ghc-pkg (Debian package libghc-tidal-dev)")
    env = dict(os.environ, VAMEN_PORT=str(served.port), TIDAL_CTRL_PORT=str(free_port()),
               HOME=str(tmp_path))
    proc = subprocess.Popen(["ghci", "-v0", "-ghci-script", str(BOOT)], cwd=ROOT, env=env,
                            stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT, text=True)
    proc.stdin.write(play)
    proc.stdin.close()
    return proc


@pytest.mark.slow
def test_tidal_in_ghci_moves_vamen_in_time_with_the_pattern(tiny_model, tmp_path):
    served = Vamen(tiny_model, tmp_path, "--sink", "file", "--record", tmp_path / "set.wav",
                   "--quantize", 0)
    log_path = tmp_path / "ghci.log"
    seen, tempos = [], []
    try:
        with open(log_path, "w") as log:
            ghci = start_tidal(served, tmp_path, PLAY, log)
            deadline = time.time() + 60
            missed = 0
            while ghci.poll() is None and time.time() < deadline:
                try:
                    state = served.state()
                except TimeoutError:
                    # ghci starting cold takes both cores for seconds: a late reply is
                    # the machine's, not what this test asserts (the pattern moving vamen)
                    missed += 1
                    continue
                seen.append(float(state["latent"].split(",")[0]))
                tempos.append(float(state["tempo"]))
                time.sleep(0.1)
            if ghci.poll() is None:
                ghci.kill()
            ghci.wait()
        after_hush = [float(served.state()["latent"].split(",")[0]) for _ in range(3)]
    finally:
        served.stop()
    out = log_path.read_text()
    assert "error" not in out.lower(), out[-2000:]
    assert len(seen) > 10 * missed, (len(seen), missed)  # the server kept answering
    assert abs(tempos[-1] - 0.55 * 240) < 1e-3, tempos[-5:]
    assert all(-2.0 - 1e-3 <= v <= 2.0 + 1e-3 for v in seen), seen
    assert max(seen) > 1.5 and min(seen) < -1.5, seen  # it swept the sine's range
    distinct = len({round(v, 3) for v in seen})
    assert distinct >= 4, seen  # eight values a cycle: it moved, not just once
    assert len(set(after_hush)) == 1  # hush: nothing moves it any more


SLICE = """setcps 0.5
import Control.Concurrent (threadDelay)
threadDelay 4000000
d1 $ slice 16 "0 0 0 0" $ s "vamen"
threadDelay 8000000
hush
threadDelay 300000
:quit
"""


@pytest.mark.slow
def test_tidal_slice_plays_the_first_sixteenth_on_every_beat(tiny_model, tmp_path):
    wav = tmp_path / "set.wav"
    served = Vamen(tiny_model, tmp_path, "--sink", "file", "--record", wav, "--tempo", 120)
    try:
        with open(tmp_path / "ghci.log", "w") as log:
            tidal = start_tidal(served, tmp_path, SLICE, log)
            try:
                tidal.wait(90)
            finally:
                if tidal.poll() is None:
                    tidal.kill()
        time.sleep(1.0)  # the last bars on to the recording
    finally:
        served.stop()
    out = (tmp_path / "ghci.log").read_text()
    assert "error" not in out.lower(), out[-2000:]
    audio, rate = sf.read(wav, dtype="float32")
    audio = audio[:, 0] if audio.ndim > 1 else audio
    beat, sixteenth = rate // 2, rate // 8  # 120 BPM: a beat is half a second, a 16th of the bar 1/8 s
    # Strikes are sound between long runs of true silence (the plain loop is never silent that
    # long; a 16-bit file also has the odd zero sample inside a sound, so look at 1 ms frames)
    frame = rate // 1000
    loud = np.abs(audio[:len(audio) // frame * frame]).reshape(-1, frame).max(axis=1) > 0
    gap = beat // 2 // frame  # a quarter of a second
    frames = np.flatnonzero(loud)
    groups = np.split(frames, np.flatnonzero(np.diff(frames) > gap) + 1)  # sounds, between long silences
    strikes = [(g[0] * frame, (g[-1] + 1) * frame) for g in groups[1:]]
    assert len(strikes) >= 8, f"only {len(strikes)} strikes heard: {strikes[:4]}"
    onsets = np.array([s for s, _ in strikes])
    spacing = np.diff(onsets)
    assert np.all(np.abs(spacing - beat) < 0.01 * rate), spacing  # one on every beat
    lengths = np.array([e - s for s, e in strikes[:-1]])
    assert np.all(np.abs(lengths - sixteenth) < 0.005 * rate), lengths  # each a sixteenth long
    # ... and each is the bar's first sixteenth: it matches the plain loop played before Tidal
    # started, best at a bar line
    plain = audio[:onsets[0] - 2 * beat]  # (the first strike follows the loop with no silence)
    bar = 4 * beat
    assert len(plain) > bar, "the plain loop played before the pattern"
    plain = plain[:2 * bar]
    piece = audio[onsets[2] + 100:onsets[2] + sixteenth - 100]
    scores = np.correlate(plain, piece, mode="valid")
    scores /= np.sqrt(np.convolve(plain ** 2, np.ones(len(piece)), mode="valid") + 1e-12)
    best = int(np.argmax(scores)) - 100
    assert min(best % bar, bar - best % bar) < 0.005 * rate, (best, best % bar)
