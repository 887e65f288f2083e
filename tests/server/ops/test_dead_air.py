"""Dead air, end to end on the offline clock: a loop that renders NaN is caught, healed and
alerted; a stop, gain 0 and a loop silent by design are not dead air.

The engine runs the real model; a fault injector around it turns chosen renders into NaN, as a
broken GPU driver or a bad checkpoint would.
"""
import numpy as np
import pytest

from vamen.model.loopmodel import LoopModel

from clients import alert_command
from offline import BLOCK, RATE, offline_engine, send
from oscclient import Client
from waiting import wait_for


class BreakingModel:
    """The real model, but its next ``broken`` renders come out as NaN."""

    def __init__(self, model):
        self.model = model
        self.broken = 0

    def __getattr__(self, name):
        return getattr(self.model, name)

    def render(self, points, **kwargs):
        audio, extra = self.model.render(points, **kwargs)
        if self.broken > 0:
            self.broken -= 1
            audio = np.full_like(audio, np.nan)
        return audio, extra


@pytest.fixture
def engine(tiny_model, tmp_path):
    alerts = tmp_path / "alerts.txt"
    model = BreakingModel(LoopModel.load(tiny_model, "cpu"))
    e = offline_engine(model, tmp_path, fresh=True, dead_air=1.0, on_alert=alert_command(alerts))
    e.breaking, e.alert_file = model, alerts
    e.client = Client(e.osc)
    yield e
    e.client.close()
    e.close()


def play(engine, seconds):
    return engine.step(-(-int(seconds * RATE) // BLOCK))


def alerts(engine):
    return engine.alert_file.read_text().splitlines() if engine.alert_file.exists() else []


def test_a_loop_that_renders_nan_is_silenced_caught_healed_and_alerted(engine):
    send(engine, "/vamen/subscribe")
    before = play(engine, 2.0)
    assert np.sqrt(np.mean(before ** 2)) > 1e-3
    engine.breaking.broken = 1  # the next render comes out broken
    send(engine, "/vamen/latent/0", 1.0)
    played = []
    for _ in range(40):  # up to 20 s of audio, in half seconds
        played.append(play(engine, 0.5))
        if any(line.startswith("dead-air-over") for line in alerts(engine)):
            break
    played = np.concatenate(played)
    assert np.isfinite(played).all()  # NaN never reached the output: broken blocks play as silence
    assert engine.player.broken > 0
    state = engine.health()
    assert state["dead_air"] == 1 and state["dead_air_now"] == 0, state
    wait_for(lambda: len(alerts(engine)) >= 2, 10, "the alert command's two runs")
    said = alerts(engine)
    assert said[0].startswith("dead-air: ") and "broken audio (NaN or inf)" in said[0], said
    assert "rendering the playing bar again" in said[0]
    assert said[1].startswith("dead-air-over: sound is back after"), said
    silent = np.flatnonzero(np.abs(played.reshape(-1, BLOCK)).max(axis=1) == 0)
    assert len(silent) and silent[-1] * BLOCK / RATE < 10.0, "healed within 10 s"
    assert np.sqrt(np.mean(played[-RATE // 2:] ** 2)) > 1e-3  # and the music plays again
    # the subscriber heard it too, as OSC
    got = []
    while True:
        try:
            address, args = engine.client.reply()
        except (TimeoutError, OSError):
            break
        got.append(address)
        if address == "/vamen/alert":
            assert args[0] == "dead-air"
            break
    assert "/vamen/alert" in got


@pytest.mark.parametrize("quiet", ["stop", "gain 0", "a chop of rests"])
def test_intentional_silence_is_not_dead_air(engine, quiet):
    play(engine, 1.0)
    if quiet == "stop":
        send(engine, "/vamen/stop")
    elif quiet == "gain 0":
        send(engine, "/vamen/gain", 0.0)
    else:
        send(engine, "/vamen/chop", -1, -1, -1, -1)
    out = play(engine, 6.0)
    assert np.abs(out[-2 * RATE:]).max() == 0.0  # silent, as asked
    assert engine.health()["dead_air"] == 0 and alerts(engine) == []
