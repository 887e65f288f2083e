"""The autopilot on the offline clock: minutes of musical time, no sleeping.

The engine's offline output plays the sound card's part and
``engine.turn()`` the control thread's between blocks (``engine.take()``
for a command from OSC or MIDI), so every bar line passes exactly as it
would on stage.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from vamen.model.loopmodel import LoopModel
from vamen.server.engine import Engine
from vamen.server.options import ServeOptions
from vamen.server.sources.osc import parse

from offline import RATE, OfflineOutput

BLOCK = 4096  # larger blocks than a sound card's: nothing here renders, so minutes pass quickly


@pytest.fixture(scope="module")
def model(tiny_model):
    return LoopModel.load(tiny_model, "cpu")


def start(model, tmp_path, scenes: str, *, fresh: bool = True, **options) -> Engine:
    path = tmp_path / "scenes.toml"
    path.write_text(scenes)
    o = ServeOptions(sinks=(), sample_rate=RATE, osc_port=0, presets=tmp_path / "p.json",
                     autopilot=path, fresh=fresh, **options)
    return Engine(o, model, output_factory=lambda p: OfflineOutput(p, BLOCK)).start(background=False)


def fly(engine: Engine, bars: int, every_bar=None) -> None:
    """Play until ``bars`` more bar lines have passed, as the control thread would."""
    bar = int(engine.now_beat() // 4)
    end = bar + bars
    while bar < end:
        engine.output.play(1)  # nothing renders: Engine.step() without the worker
        now = int(engine.now_beat() // 4)
        if now != bar:
            bar = now
            if every_bar is not None:
                every_bar(bar)  # before the turn: what this bar sounds like, as planned
        engine.turn()


def path_and_scenes(engine: Engine, bars: int):
    """The latent at every beat of each bar, and the autopilot's (scene, bar in scene) for each bar."""
    path, scenes = [], []

    def record(bar):
        path.append([engine.control.trajectory.at(4.0 * bar + k) for k in range(4)])
        state = engine.autopilot.state(engine.now_beat())
        scenes.append((state["autopilot_scene"], state["autopilot_scene_bar"]))

    fly(engine, bars, record)
    return np.array(path), scenes


THREE = """
[autopilot]
seed = 7
[[autopilot.scene]]
name = "high"
bars = 3
centre = [2, 2, 2, 2, 2, 2, 2, 2]
radius = 0.5
morph-every = 1
morph-bars = 0.5
tempo = 240
[[autopilot.scene]]
name = "anchors"
bars = 2
anchors = [0, 1]
morph-every = 1
morph-bars = 0.5
tempo = [200, 230]
[[autopilot.scene]]
name = "low"
bars = 4
centre = [-2, -2, -2, -2, -2, -2, -2, -2]
radius = 0.5
walk = 0.3
walk-rate = 1
morph-every = 2
tempo = 240
"""


def test_scenes_play_in_order_for_their_bars_and_go_where_they_say(model, tmp_path):
    engine = start(model, tmp_path, THREE)
    try:
        path, scenes = path_and_scenes(engine, 180)  # three minutes and more of musical time
    finally:
        engine.close()
    cycle = [("high", k) for k in range(3)] + [("anchors", k) for k in range(2)] + \
        [("low", k) for k in range(4)]
    # bar 0 starts the first scene (the record starts at bar 1); then they follow each other
    assert len(scenes) == 180
    assert scenes == [cycle[(bar + 1) % len(cycle)] for bar in range(len(scenes))]
    anchors = np.array(list(model.anchors.values())[:2])
    high, low = np.full(8, 2.0), np.full(8, -2.0)
    for bar, (scene, k) in enumerate(scenes):
        end = path[bar, 3]  # the last beat of the bar: the half-bar morph has arrived
        if bar < 2:
            continue
        if scene == "high" and k >= 1:  # (at k = 0 the walk of "low" is still fading out)
            assert np.linalg.norm(end - high) <= 0.5 + 1e-4
        elif scene == "anchors":
            assert min(np.abs(end - a).max() for a in anchors) < 1e-4
        elif k >= 2:  # "low" walks around its centre, 2 bars into its first morph
            assert np.linalg.norm(end - low) < 0.5 + 4 * 0.3 * np.sqrt(8)
    # "low" walks: its beats move; "high" sits still once its morph has arrived
    lows = [b for b, (s, k) in enumerate(scenes) if s == "low" and k == 3]
    assert all(np.abs(path[b, 3] - path[b, 2]).max() > 1e-3 for b in lows)


def test_scene_tempo_is_drawn_from_its_range_once_per_scene(model, tmp_path):
    engine = start(model, tmp_path, THREE)
    tempos = []
    try:
        fly(engine, 60, lambda bar: tempos.append(
            (engine.autopilot.state(engine.now_beat())["autopilot_scene"],
             engine.tempo_map.tempo_at(engine.now_beat()))))
    finally:
        engine.close()
    seen = [t for s, t in tempos[2:] if s == "anchors"]
    assert seen and all(200 <= t <= 230 for t in seen)
    assert len(set(seen)) > 1  # each visit draws again
    for i in range(2, len(tempos) - 1):  # within a visit the tempo holds
        if tempos[i][0] == tempos[i + 1][0] == "anchors":
            assert tempos[i][1] == tempos[i + 1][1]
    assert all(t == 240 for s, t in tempos[3:] if s in ("high", "low"))


def test_random_order_follows_the_weights(model, tmp_path):
    engine = start(model, tmp_path, """
[autopilot]
order = "random"
[[autopilot.scene]]
name = "often"
bars = 1
weight = 3
tempo = 400
[[autopilot.scene]]
name = "seldom"
bars = 1
weight = 1
tempo = 400
""")
    try:
        _, scenes = path_and_scenes(engine, 400)  # 400 bars at 400 BPM: four minutes
    finally:
        engine.close()
    names = [s for s, _ in scenes]
    share = names.count("often") / len(names)
    assert 0.65 < share < 0.85, share  # 3 : 1
    assert all(k == 0 for _, k in scenes)  # one-bar scenes


WANDER = """
[autopilot]
seed = {seed}
[[autopilot.scene]]
name = "roam"
bars = 5
centre = [0, 0, 0, 0, 0, 0, 0, 0]
radius = 2
walk = 0.4
walk-rate = 0.5
morph-every = 2
curve = "slerp"
jump = 0.2
tempo = [180, 240]
[[autopilot.scene]]
name = "visit"
bars = 3
anchors = [0, 1, 2]
morph-every = 1
curve = "linear"
"""


def test_one_seed_one_performance(model, tmp_path):
    paths, scenes = [], []
    for run, seed in enumerate((11, 11, 12)):
        folder = tmp_path / str(run)
        folder.mkdir()
        engine = start(model, folder, WANDER.format(seed=seed))
        try:
            path, visited = path_and_scenes(engine, 60)
        finally:
            engine.close()
        paths.append(path)
        scenes.append(visited)
    assert scenes[0] == scenes[1] == scenes[2]  # sequence order: the seed picks places, not scenes
    np.testing.assert_array_equal(paths[0], paths[1])
    assert np.abs(paths[0] - paths[2]).max() > 0.5  # another seed wanders elsewhere
    # and it does wander: many places, not one
    assert len({tuple(np.round(p, 3)) for p in paths[0][:, 0]}) > 30


def send(engine, address, *args):
    (cmd,) = parse(address, list(args), None, None, engine.model.latent_dim)
    engine.take(cmd)  # as the control thread takes a command from OSC or MIDI


def test_a_performer_takes_over_and_the_autopilot_comes_back_after_idle(model, tmp_path):
    engine = start(model, tmp_path, """
[autopilot]
idle = 4
[[autopilot.scene]]
name = "roam"
bars = 100
centre = [2, 0, 0, 0, 0, 0, 0, 0]
radius = 1
morph-every = 1
tempo = 240
""")
    try:
        fly(engine, 4)
        send(engine, "/vamen/state")  # asking is not taking over
        assert engine.autopilot.state(engine.now_beat())["autopilot_paused"] == 0
        send(engine, "/vamen/quantize", 0.0)
        assert engine.autopilot.paused
        send(engine, "/vamen/latent", *([-3.0] * 8))
        held = []
        fly(engine, 3, lambda bar: held.append(engine.control.trajectory.at(4.0 * bar + 2)))
        assert len(held) == 3
        # three bars (3 s at 240 BPM) later the performer's point still holds
        assert all(np.allclose(p, -3.0) for p in held)
        state = engine.autopilot.state(engine.now_beat())
        assert state["autopilot_paused"] == 1 and state["autopilot"] == 1
        after = []
        fly(engine, 4, lambda bar: after.append(
            (engine.autopilot.paused, engine.control.trajectory.at(4.0 * bar),
             engine.control.trajectory.at(4.0 * bar + 2))))
        assert not engine.autopilot.paused  # 4 s without a command: it flies again
        back = next(i for i, (paused, _, _) in enumerate(after) if not paused)
        # it morphs away from where the performer left it: no jump at the bar line
        _, on_the_line, mid_bar = after[back]
        assert np.allclose(on_the_line, -3.0, atol=1e-4) and not np.allclose(mid_bar, -3.0, atol=0.1)
        fly(engine, 2)
        assert engine.control.trajectory.at(engine.now_beat())[0] > 0.5  # back in its region
    finally:
        engine.close()


def test_off_and_on_over_osc(model, tmp_path):
    engine = start(model, tmp_path, THREE)
    try:
        fly(engine, 3)
        send(engine, "/vamen/autopilot", 0)
        assert not engine.autopilot.on
        point = engine.control.trajectory.at(engine.now_beat() + 8)
        fly(engine, 4)
        assert np.allclose(engine.control.trajectory.at(engine.now_beat() + 4), point)
        state = dict(zip(*[iter(engine.control.state(engine.now_beat()))] * 2))
        assert state["autopilot"] == 0
        send(engine, "/vamen/autopilot", 1)
        fly(engine, 3)
        assert engine.autopilot.flying
        assert not np.allclose(engine.control.trajectory.at(engine.now_beat() + 4), point)
    finally:
        engine.close()


def test_schedule_turns_it_down_at_night(model, tmp_path):
    engine = start(model, tmp_path, """
[autopilot]
gain = 0.9
[[autopilot.scene]]
name = "day"
bars = 2
tempo = 200
[[autopilot.scene]]
name = "night"
bars = 2
tempo = 200
[[autopilot.schedule]]
from = "22:00"
to = "07:00"
gain = 0.3
tempo = [90, 100]
scenes = ["night"]
""")
    clock = {"minute": 12 * 60.0}
    engine.autopilot.time_of_day = lambda: clock["minute"]
    try:
        fly(engine, 6)
        assert engine.player.gain == 0.9 and engine.tempo_map.tempo_at(engine.now_beat()) == 200
        clock["minute"] = 23 * 60 + 30
        seen = []
        fly(engine, 8, lambda bar: seen.append(engine.autopilot.state(engine.now_beat())["autopilot_scene"]))
        assert engine.player.gain == 0.3
        assert 90 <= engine.tempo_map.tempo_at(engine.now_beat()) <= 100
        assert set(seen[2:]) == {"night"}
        clock["minute"] = 6 * 60 + 59  # still night: the window runs past midnight
        fly(engine, 2)
        assert engine.player.gain == 0.3
        clock["minute"] = 7 * 60
        seen = []
        fly(engine, 8, lambda bar: seen.append(engine.autopilot.state(engine.now_beat())["autopilot_scene"]))
        assert engine.player.gain == 0.9 and "day" in seen
        assert engine.tempo_map.tempo_at(engine.now_beat()) == 200
    finally:
        engine.close()


@pytest.mark.parametrize("crash_bar", [11, 13])  # mid-morph with a steady walk; a scene's first bar
def test_a_crash_resumes_at_the_saved_bar(model, tmp_path, crash_bar):
    """The session is saved every bar; a restart carries on from it (here: no clean stop at all)."""
    first = start(model, tmp_path, WANDER.format(seed=3))
    fly(first, crash_bar)
    saved = json.loads((tmp_path / "session.json").read_text())  # what a kill -9 leaves
    bar = int(first.now_beat() // 4)
    expect = first.control.trajectory.at(4.0 * bar)
    where = first.autopilot.state(4.0 * bar)
    first.osc.close()  # no close(): a crash saves nothing more
    assert saved["autopilot"]["bar"] == where["autopilot_bar"]
    # a tempo in vamen.toml (here: the options) wins at start-up, then the autopilot's takes over
    again = start(model, tmp_path, WANDER.format(seed=3), fresh=False, tempo=100.0)
    try:
        state = again.autopilot.state(0.0)
        assert (state["autopilot_scene"], state["autopilot_scene_bar"], state["autopilot_bar"]) == \
            (where["autopilot_scene"], where["autopilot_scene_bar"], where["autopilot_bar"])
        # the first bar sounds where the saved bar did: centre, move and walk phase carried over
        np.testing.assert_allclose(again.control.trajectory.at(0.0), expect, atol=1e-4)
        assert again.tempo_map.tempo_at(0.0) == first.tempo_map.tempo_at(4.0 * bar)
        fly(again, 10)
        nxt = again.autopilot.state(again.now_beat())
        assert nxt["autopilot_bar"] == where["autopilot_bar"] + 10
    finally:
        again.close()
        first.close()


def test_a_scene_that_names_nowhere_flies_where_the_models_loops_lie(model, tmp_path):
    """Its jumps are draws from the checkpoint's prior, not from about zero."""
    import torch

    model.prior_mean, model.prior_std = torch.full((model.latent_dim,), 2.5), torch.full((model.latent_dim,), 0.1)
    engine = start(model, tmp_path, """
[autopilot]
seed = 3
[[autopilot.scene]]
name = "anywhere"
bars = 8
morph-every = 1
morph-bars = 0.5
""")
    try:
        path, _ = path_and_scenes(engine, 6)
    finally:
        engine.close()
    landed = path[2:, 3]  # the last beat of each bar from the third on: the morph is over
    assert np.abs(landed - 2.5).max() < 0.6, landed
    assert len({tuple(np.round(p, 3)) for p in landed}) > 1  # and it moves from draw to draw
