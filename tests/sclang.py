"""sclang running ``patches/supercollider/vamen.scd`` headless, for tests.

sclang runs headless (``QT_QPA_PLATFORM=offscreen``, a private
``XDG_RUNTIME_DIR``) with a small wrapper that points the patch at the
test's ports, loads it, and turns ``/test/latent f...`` into the patch's own
``~vamen.latent(i, v)`` calls. The patch boots scsynth on the JACK server of
the test session (client ``SuperCollider``).
"""
import subprocess
import time
from pathlib import Path

from clients import free_port
from oscclient import message

ROOT = Path(__file__).resolve().parents[1]
PATCH = ROOT / "patches" / "supercollider" / "vamen.scd"

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
