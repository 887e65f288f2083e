"""Ableton Link for real: two ``vamen serve --link`` on one JACK dummy card, and a third peer.

Both instances play the default model at the centre of its latent space,
so their loops are the same audio sample for sample; one ``jack_rec``
records both outputs in step, and the lag at which one recording matches
the other is how far apart their bars are (modulo a bar, a beat would show
as a lag of a beat). The third peer is the Link binding in this process,
as a DAW or a phone app would be. Discovery is Link's own UDP multicast
(224.76.78.75:20808) on whatever interfaces the machine has; it works on
loopback alone (checked in a network namespace with only ``lo``).
"""
from __future__ import annotations

import importlib.util
import time
import warnings

import numpy as np
import pytest

from clients import Vamen, need
from jackd import Recording
from waiting import wait_for

pytestmark = pytest.mark.jack

RATE = 48000
SAME_BAR = 0.005  # seconds: the two instances' bar lines, as recorded


def need_link():
    need(importlib.util.find_spec("link") is not None,
         "the Ableton Link binding is missing (pip install -e '.[link]': LinkPython-extern)")


def serve(jack, model, folder, *args) -> tuple[Vamen, str]:
    """``vamen serve --link`` on the JACK card; returns it and its JACK client's name."""
    before = {p.split(":")[0] for p in jack.ports("vamen", "output")}
    folder.mkdir()
    # 8 Griffin-Lim iterations: four times cheaper renders on a shared 2-core machine,
    # and still the same audio in both instances
    server = Vamen(model, folder, "--device", "JACK", "--link", "--tempo", 120, "--quality", 8,
                   *args, env=jack.env())
    deadline = time.monotonic() + 10
    while True:
        clients = {p.split(":")[0] for p in jack.ports("vamen", "output")} - before - {"vamen-tests"}
        if clients or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    if len(clients) != 1:
        server.stop()
        raise AssertionError(f"expected one new JACK client, found {clients}: {server.output()}")
    return server, clients.pop()


@pytest.fixture
def pair(jack, tmp_path):
    from vamen.model.loopmodel import DEFAULT_MODEL

    need_link()
    a, a_name = serve(jack, DEFAULT_MODEL, tmp_path / "a")
    try:
        b, b_name = serve(jack, DEFAULT_MODEL, tmp_path / "b")
    except BaseException:
        a.stop()
        raise
    try:
        wait_for(lambda: a.state()["link_peers"] >= 1 and b.state()["link_peers"] >= 1, 10,
                 "the two instances to find each other")
        yield (a, a_name), (b, b_name)
    finally:
        for s in (a, b):
            s.stop()


def trouble(*servers) -> str:
    """Underruns and late loops so far, for failure messages: CPU contention shows there."""
    return "; ".join(f"{name}: {st['underruns']} underruns, {st['late_loops']} late loops, "
                     f"render p99 {st['render_ms_p99']} ms, phase {st.get('link_phase_ms')} ms, "
                     f"{st.get('link_aligns')} aligns"
                     for name, st in zip("ab", (s.state() for s in servers)))


def period(x: np.ndarray, expected: int, window: int = RATE // 4) -> int:
    """The period near ``expected`` at which ``x`` repeats, the median over several windows.

    A window pair with an xrun between them is off by a block; the median is not.
    """
    found = []
    for start in range(0, len(x) - expected - window - 480, RATE // 2):
        seg = x[start:start + window]
        lags = np.arange(expected - 480, expected + 480)
        errs = [np.median(np.abs(x[start + k:start + k + window] - seg)) for k in lags]
        found.append(int(lags[int(np.argmin(errs))]))
    assert found, "recording too short"
    return int(np.median(found))


def record_both(jack, seconds, a_name, b_name) -> np.ndarray:
    audio = Recording(jack, seconds, [f"{a_name}:out_0", f"{b_name}:out_0"]).wait()
    return audio[int(0.1 * RATE):]  # jack_rec needs a moment to connect


def matched_take(jack, seconds, bpm, servers, names, tries: int = 3):
    """Record both outputs; ``(audio, lag, mismatch)`` of the first take whose two channels match.

    A take during which either instance counted an underrun or a late loop
    (a shared 2-core machine running two renderers) is taken again, up to
    ``tries`` takes; a take that does not match with both counters still is
    returned at once, for the test to fail on.
    """
    def counters():
        return [(st["underruns"], st["late_loops"]) for st in (s.state() for s in servers)]

    for _ in range(tries):
        before = counters()
        audio = record_both(jack, seconds, *names)
        lag, mismatch = bar_lag(audio, bpm)
        if mismatch < 0.05 or counters() == before:
            break
    return audio, lag, mismatch


def bar_lag(audio: np.ndarray, bpm: float) -> tuple[int, float]:
    """Samples by which the second channel's bars follow the first's (within half a bar), and the match.

    Cross-correlation proposes candidate lags; the median absolute difference
    at each decides, so a beat that looks like another beat cannot win.
    """
    x, y = audio[:, 0].astype(np.float64), audio[:, 1].astype(np.float64)
    bar = int(round(4 * 60 / bpm * RATE))
    span = min(len(x) - bar, 2 * bar)
    assert span > bar // 2, "recording too short"
    a, b = x[bar // 2: bar // 2 + span], y[: span + bar]
    n = 1 << int(np.ceil(np.log2(len(a) + len(b))))
    corr = np.fft.irfft(np.fft.rfft(b, n) * np.conj(np.fft.rfft(a, n)), n)[: len(b) - len(a) + 1]
    candidates = np.argsort(corr)[-40:]

    def mismatch(k):  # medians: an xrun's lost block must not hide a match that is there
        return float(np.median(np.abs(b[k:k + len(a)] - a)))

    best = min(candidates, key=mismatch)
    lag = int(best) - bar // 2  # y[t + lag] matches x[t]
    lag = (lag + bar // 2) % bar - bar // 2
    return lag, mismatch(best) / (float(np.median(np.abs(a))) + 1e-12)


def test_a_tempo_sent_to_one_reaches_the_other_and_their_bars_line_up(pair, jack):
    (a, a_name), (b, b_name) = pair
    asked = time.monotonic()
    a.send("/vamen/tempo", 137.0)
    wait_for(lambda: abs(b.state()["tempo"] - 137.0) < 0.01, 5.0, "the other instance to take 137 BPM")
    took = time.monotonic() - asked
    assert abs(a.state()["tempo"] - 137.0) < 0.01
    time.sleep(2.5)  # the loops re-rendered at 137 on both
    audio, lag, mismatch = matched_take(jack, 4, 137.0, (a, b), (a_name, b_name))
    assert np.sqrt(np.mean(audio ** 2)) > 1e-3
    assert mismatch < 0.05, f"the two recordings do not match at any lag ({mismatch:.3f}); {trouble(a, b)}"
    assert abs(lag) <= SAME_BAR * RATE, (
        f"bar lines {lag / RATE * 1000:+.2f} ms apart (tempo reached the other in {took:.2f} s); "
        f"{trouble(a, b)}")


def test_a_third_peer_leads_both_and_switching_clocks_keeps_the_audio(pair, jack):
    import link

    from jackd import SinePlayer

    (a, a_name), (b, b_name) = pair
    peer = link.Link(120.0)
    peer.startStopSyncEnabled = True
    peer.enabled = True
    # A plain sine client on the same JACK server: when it gets xruns too, the
    # server itself ran late (a busy machine), and vamen's underruns say nothing.
    reference = SinePlayer(jack, client_name="vamen-reference", limit=300)
    try:
        wait_for(lambda: a.state()["link_peers"] == 2 and b.state()["link_peers"] == 2, 10,
                 "the third peer to join")
        reference.wait_for(lambda r: r.get("calls", 0) > 0, 10)
        busy = []
        for bpm in (100.0, 110.0, 100.0, 110.0, 100.0):
            xruns = reference.latest["xruns"]
            under = {s: s.state()["underruns"] for s in (a, b)}
            state = peer.captureAppSessionState()
            state.setTempo(bpm, peer.clock().micros())
            peer.commitAppSessionState(state)
            wait_for(lambda: all(abs(s.state()["tempo"] - bpm) < 0.01 for s in (a, b)), 5,
                     f"both instances to follow the peer to {bpm:g} BPM")
            time.sleep(3.0)
            late = {s: s.state()["underruns"] - under[s] for s in (a, b)}
            server_late = reference.latest["xruns"] - xruns
            if server_late == 0:
                assert late == {a: 0, b: 0}, (
                    f"underruns while following the peer to {bpm:g} BPM: a {late[a]}, b {late[b]}, "
                    f"with none in a plain JACK client; {trouble(a, b)}")
                break
            busy.append(f"{bpm:g} BPM: the reference client {server_late} xruns, "
                        f"a {late[a]}, b {late[b]} underruns")
        quiet = len(busy) < 5
        if bpm != 100.0:  # end on 100 BPM for the recording
            state = peer.captureAppSessionState()
            state.setTempo(100.0, peer.clock().micros())
            peer.commitAppSessionState(state)
            wait_for(lambda: all(abs(s.state()["tempo"] - 100.0) < 0.01 for s in (a, b)), 5,
                     "both instances to follow the peer to 100 BPM")
            time.sleep(3.0)
        before = reference.latest
        audio, lag, mismatch = matched_take(jack, 6, 100.0, (a, b), (a_name, b_name))
        after = reference.latest
        assert mismatch < 0.05 and abs(lag) <= SAME_BAR * RATE, (
            f"bar lines {lag / RATE * 1000:+.2f} ms apart, mismatch {mismatch:.3f}; {trouble(a, b)}")
        # each plays bars of four beats at 100 BPM, 2.4 s of Link's wall clock. Under load
        # the dummy card falls behind that clock, and vamen rightly fits its bars to Link's,
        # in fewer card samples: the bar is 2.4 s at the rate the card kept meanwhile, as the
        # reference client counted its frames (to 0.25 %)
        card_rate = (after["frames"] - before["frames"]) / (after["t"] - before["t"])
        bar = int(round(4 * 60 / 100 * card_rate))
        # When the JACK server itself skipped cycles during the take (the plain reference client
        # got xruns too), the card's clock stumbled and vamen re-measured it at each underrun:
        # a bar can then be off by more than a JACK period (256 samples, 0.22 %). A wrong tempo
        # (110 for 100 BPM) is 9 % off, so it still fails.
        server_late = after["xruns"] - before["xruns"]
        tolerance = 0.0025 if server_late == 0 else 0.006
        for channel in (0, 1):
            found = period(audio[:, channel], bar)
            assert abs(found - bar) <= tolerance * bar, (
                f"bars of {found} samples, not {bar} (the card ran at {card_rate:.0f} Hz; "
                f"the JACK server ran late {server_late} times in the take); {trouble(a, b)}")
        for s in (a, b):
            health = s.state()
            assert health["link_tempo"] == pytest.approx(100.0, abs=0.01)

        # Switching clocks mid-performance: the audio carries on, Link is left and joined again.
        take = Recording(jack, 4, a_name)
        time.sleep(0.8)
        a.send("/vamen/clock", "internal")
        wait_for(lambda: a.state()["clock"] == "internal" and peer.numPeers() == 1, 3,
                 "vamen to leave the session")
        a.send("/vamen/clock", "link")
        wait_for(lambda: a.state()["clock"] == "link" and a.state().get("link_peers") == 2, 5,
                 "vamen to join again")
        recorded = take.wait()[int(0.1 * RATE):, 0]
        blocks = recorded[: len(recorded) // 256 * 256].reshape(-1, 256)
        silent = np.flatnonzero(np.all(blocks == 0.0, axis=1))
        assert len(silent) == 0, f"{len(silent)} silent blocks while switching clocks; {trouble(a, b)}"
        assert a.state()["tempo"] == pytest.approx(100.0, abs=0.01)
    finally:
        peer.enabled = False
        reference.close()
    if not quiet:  # following, bar lines and switching were all checked; only this is open
        warnings.warn("the JACK server itself ran late in every window, so vamen's underruns "
                      "could not be judged (a busy machine; the soak benchmark measures them): "
                      + "; ".join(busy))
