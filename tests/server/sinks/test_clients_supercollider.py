"""The SuperCollider client for real: sclang runs patches/supercollider/vamen.scd,
boots scsynth on the JACK dummy server, and plays the loops that
``vamen serve --sink supercollider`` streams into its buffers.

sclang runs headless (``QT_QPA_PLATFORM=offscreen``, a private
``XDG_RUNTIME_DIR``) with a small wrapper that points the patch at this
test's ports, loads it, and turns ``/test/latent f...`` into the patch's own
``~vamen.latent(i, v)`` calls. What scsynth plays is recorded from its JACK
ports (client ``SuperCollider``) with ``jack_rec``.
"""
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from clients import Vamen, free_port, need_programs
from jackd import record
from oscclient import message
from spectra import difference, steady_take

ROOT = Path(__file__).resolve().parents[3]
PATCH = ROOT / "patches" / "supercollider" / "vamen.scd"
RATE = 48000

WRAPPER = """
Server.default = Server(\\vamentest, NetAddr("127.0.0.1", {scsynth}));
Server.default.options.bindAddress = "127.0.0.1";
Server.default.options.numInputBusChannels = 0;
~vamenAddr = NetAddr("127.0.0.1", {vamen});
"{patch}".load;
OSCdef(\\testLatent, {{ |msg| msg[1..].do {{ |v, i| ~vamen.latent(i, v) }}; "test: latent %".format(msg[1..]).postln }}, '/test/latent');
OSCdef(\\testHold, {{ |msg| ~vamen.hold(msg[1]); "test: hold %".format(msg[1]).postln }}, '/test/hold');
OSCdef(\\testQuit, {{ "test: quit".postln; Server.default.quit; fork {{ 1.wait; 0.exit }} }}, '/test/quit');
"""


class Sclang:
    def __init__(self, jack, tmp_path, vamen_port):
        self.port, self.scsynth = free_port(), free_port()
        wrapper = tmp_path / "wrapper.scd"
        wrapper.write_text(WRAPPER.format(scsynth=self.scsynth, vamen=vamen_port, patch=PATCH))
        runtime = tmp_path / "xdg"
        runtime.mkdir(mode=0o700)
        env = jack.env()
        env.update(QT_QPA_PLATFORM="offscreen", QTWEBENGINE_DISABLE_SANDBOX="1",
                   XDG_RUNTIME_DIR=str(runtime), HOME=str(tmp_path))
        self.log_path = tmp_path / "sclang.log"
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(["sclang", "-u", str(self.port), str(wrapper)],
                                     stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT, env=env, cwd=tmp_path)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float = 60.0) -> None:
        deadline = time.time() + timeout
        while text not in self.output():
            if self.proc.poll() is not None or time.time() > deadline:
                raise AssertionError(f"sclang never printed {text!r}:\n{self.output()[-3000:]}")
            time.sleep(0.2)

    def send(self, address, *args) -> None:
        import socket

        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(message(address, *args).dgram, ("127.0.0.1", self.port))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.send("/test/quit")
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


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
