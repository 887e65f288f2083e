"""The SuperCollider client for real: sclang runs patches/supercollider/vamen.scd
(headless, :mod:`sclang`), boots scsynth on the JACK dummy server, and plays
the loops that ``vamen serve --sink supercollider`` streams into its buffers.
What scsynth plays is recorded from its JACK ports (client
``SuperCollider``) with ``jack_rec``.
"""
import time

import numpy as np
import pytest

from clients import Vamen, free_port, need_programs
from jackd import record
from sclang import Sclang
from spectra import difference, steady_take

RATE = 48000


@pytest.mark.slow
@pytest.mark.jack
def test_sclang_patch_plays_vamen_loops_from_scsynth_and_follows_the_latent(jack, tiny_model, tmp_path):
    need_programs("supercollider-language", "sclang")
    need_programs("supercollider-server", "scsynth")
    vamen_port = free_port()
    lang = Sclang(jack, tmp_path, vamen_port)
    served = None
    try:
        lang.wait_for("vamen: ready")
        jack.wait_for_ports("SuperCollider:", "output")
        served = Vamen(tiny_model, tmp_path, "--sink", "supercollider", "--tempo", 120,
                       "--quantize", 0, "--scsynth", f"127.0.0.1:{lang.scsynth}",
                       "--sclang", f"127.0.0.1:{lang.port}", port=vamen_port)
        time.sleep(2.0)
        bar = 2 * RATE  # one bar at 120 BPM

        def take():
            return record(jack, 4, "SuperCollider")[:, 0]

        again, steady = steady_take(take, bar, RATE)
        assert np.sqrt(np.mean(again ** 2)) > 1e-3, f"scsynth played silence:\n{lang.output()[-2000:]}"
        assert steady < 0.5, f"scsynth's output never repeated bar for bar ({steady:.2f} dB apart)"
        lang.send("/test/latent", *([2.5] * 8))
        lang.wait_for("test: latent")
        time.sleep(1.5)
        latent = [float(v) for v in served.state()["latent"].split(",")]
        assert latent == [2.5] * len(latent), "the patch's ~vamen.latent did not reach vamen"
        after, _ = steady_take(take, bar, RATE)
        assert np.sqrt(np.mean(after ** 2)) > 1e-3
        moved = difference(again, after, bar, RATE)
        assert moved > max(10 * steady, 2.0), (moved, steady)
        lang.send("/test/hold", 3)  # the patch's ~vamen.hold: a held slice, rolling
        lang.wait_for("test: hold")
        time.sleep(1.0)
        health = served.state()
        assert health["chop"].startswith("hits "), health["chop"]
        assert health["supercollider_sent"] >= 2 and not health["last_error"], health
    finally:
        if served is not None:
            served.stop()
        lang.stop()


def _synths(port: int) -> int:
    """How many synths scsynth runs (its ``/status.reply``)."""
    import socket

    from pythonosc.osc_message import OscMessage
    from pythonosc.osc_message_builder import OscMessageBuilder

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        s.sendto(OscMessageBuilder("/status").build().dgram, ("127.0.0.1", port))
        return int(OscMessage(s.recvfrom(4096)[0]).params[2])


@pytest.mark.slow
@pytest.mark.jack
def test_loops_due_at_once_leave_one_synth_playing_not_a_pile(jack, tmp_path):
    """Two loops due in one control block (a late render, a flood of changes): the one stopped
    as it began must still end. Such synths once piled up, silent, and over a 10-minute soak
    took scsynth's JACK thread from 40 to 670 us a cycle."""
    import socket

    from pythonosc.osc_bundle_builder import OscBundleBuilder
    from pythonosc.osc_message_builder import OscMessageBuilder

    need_programs("supercollider-language", "sclang")
    need_programs("supercollider-server", "scsynth")
    lang = Sclang(jack, tmp_path, free_port())

    def due(at: float, bufnum: int) -> bytes:  # what the supercollider sink sends sclang
        bundle, msg = OscBundleBuilder(at), OscMessageBuilder("/vamen/buffer")
        for arg in (bufnum, 0.0, 120.0, RATE, 0, RATE):
            msg.add_arg(arg)
        bundle.add_content(msg.build())
        return bundle.build().dgram

    try:
        lang.wait_for("vamen: ready")
        before = _synths(lang.scsynth)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for _ in range(10):
                at = time.time() + 0.3
                s.sendto(due(at, 1000), ("127.0.0.1", lang.port))
                s.sendto(due(at, 1001), ("127.0.0.1", lang.port))
                time.sleep(0.4)
        time.sleep(0.5)
        assert _synths(lang.scsynth) - before == 1, "loops stopped as they began are still there"
    finally:
        lang.stop()
