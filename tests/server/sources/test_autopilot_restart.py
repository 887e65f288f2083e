"""A real ``vamen serve`` flying an autopilot, killed with SIGKILL and started again: it carries on."""
import os
import subprocess
import sys
import time

import numpy as np

from clients import free_port
from oscclient import Client, message
from waiting import wait_for

TEMPO = 240  # one bar a second
SCENES = """
[autopilot]
seed = 5
[[autopilot.scene]]
name = "up"
bars = 5
centre = [3, 3, 3, 3, 3, 3, 3, 3]
radius = 0.5
walk = 0.2
walk-rate = 0.5
morph-every = 2
tempo = 240
[[autopilot.scene]]
name = "side"
bars = 3
centre = [3, 3, 3, 3, 2, 2, 2, 2]
radius = 0.3
morph-every = 1
tempo = 240
"""
CYCLE = [("up", k) for k in range(5)] + [("side", k) for k in range(3)]


class Serve:
    def __init__(self, tmp_path, model, port, run: int):
        env = dict(os.environ, XDG_DATA_HOME=str(tmp_path / "data"))
        self.log = open(tmp_path / f"vamen-{run}.log", "w+")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vamen.server.cli", "serve", "--model", str(model),
             "--osc-port", str(port), "--quiet", "--sink", "file", "--record", str(tmp_path / f"{run}.wav"),
             "--autopilot", str(tmp_path / "scenes.toml")],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, text=True)

        class Target:
            pass

        Target.port = port
        self.client = Client(Target)
        deadline = time.time() + 120
        while "Ctrl-C stops" not in self.output():  # started: the control thread answers
            if self.proc.poll() is not None or time.time() > deadline:
                self.proc.kill()
                raise RuntimeError(f"vamen serve did not come up: {self.output()}")
            time.sleep(0.1)

    def state(self) -> dict:
        for _ in range(3):
            address, args = self.client.ask(message("/vamen/state"))
            if address == "/vamen/state":
                state = dict(zip(args[::2], args[1::2]))
                state["z"] = np.array([float(v) for v in state["latent"].split(",")])
                state["at"] = 4 * state["autopilot_bar"] + state["beat"]  # beats flown
                return state
        raise AssertionError(f"no /vamen/state reply, got {address}")

    def output(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()[-3000:]

    def close(self, kill=False):
        self.client.close()
        if self.proc.poll() is None:
            self.proc.kill() if kill else self.proc.terminate()
            self.proc.wait(timeout=60)
        self.log.close()


def test_kill_9_and_restart_carries_on_within_a_bar(tmp_path, tiny_model):
    (tmp_path / "scenes.toml").write_text(SCENES)
    port = free_port()
    first = Serve(tmp_path, tiny_model, port, 1)
    try:
        seen = []
        deadline = time.time() + 60
        while time.time() < deadline and (not seen or seen[-1]["autopilot_bar"] < 10):
            seen.append(first.state())
            time.sleep(0.2)
        last = first.state()  # the last word before the kill
        first.proc.kill()  # SIGKILL: no handler runs, nothing is saved on the way out
        first.proc.wait(timeout=30)
    finally:
        first.close(kill=True)
    seen.append(last)
    assert last["autopilot_bar"] >= 10, first.output()
    for state in seen:  # flying as configured: scenes in order, bar by bar
        assert state["autopilot"] == 1 and state["autopilot_paused"] == 0
        assert (state["autopilot_scene"], state["autopilot_scene_bar"]) == CYCLE[state["autopilot_bar"] % 8]

    again = Serve(tmp_path, tiny_model, port, 2)
    try:
        after = again.state()
        assert "carrying on" in again.output()
        # it resumed at the bar it saved last, which is the bar of the last state or the next
        resumed = after["autopilot_bar"] - after["bar"]
        assert 0 <= resumed - last["autopilot_bar"] <= 1, (last, after)
        assert (after["autopilot_scene"], after["autopilot_scene_bar"]) == CYCLE[after["autopilot_bar"] % 8]
        # the latent carries on: it is no further from the last one heard than the
        # autopilot itself moves in the musical time between them (a fresh start
        # would sit at the centre of the space, 8 units away)
        gap = abs(after["at"] - last["at"])
        steady = [s for s in seen if s["autopilot_bar"] >= 3]  # arrived from the centre by then
        moved = max(np.linalg.norm(a["z"] - b["z"]) for a in steady for b in steady
                    if abs(a["at"] - b["at"]) <= gap + 2)
        assert np.linalg.norm(after["z"] - last["z"]) <= moved + 0.1, (after["z"], last["z"], moved)
        assert np.linalg.norm(last["z"]) > 3 * moved  # so a restart from scratch would fail this test
        assert after["tempo"] == TEMPO
        later = wait_for(lambda: (st := again.state())["autopilot_bar"] >= after["autopilot_bar"] + 2 and st,
                         10, "the autopilot to fly on two bars (of a second each)")
        assert (later["autopilot_scene"], later["autopilot_scene_bar"]) == CYCLE[later["autopilot_bar"] % 8]
        # /vamen/autopilot switches it and replies with where it is
        address, args = again.client.ask(message("/vamen/autopilot", 0))
        reply = dict(zip(args[::2], args[1::2]))
        assert address == "/vamen/autopilot" and reply["autopilot"] == 0
        assert reply["autopilot_scene"] in ("up", "side") and reply["autopilot_scene_bars"] in (5, 3)
        time.sleep(2.5)
        off = again.state()
        assert off["autopilot"] == 0 and off["autopilot_bar"] <= later["autopilot_bar"] + 1  # it stopped
        address, args = again.client.ask(message("/vamen/autopilot", 1))
        assert address == "/vamen/autopilot" and dict(zip(args[::2], args[1::2]))["autopilot"] == 1
    finally:
        again.close()
