"""The engine on an offline clock: the test plays the sound card's part."""
import numpy as np
import pytest

from vamen.model.loopmodel import LoopModel
from vamen.server.sources.osc import parse

from offline import BLOCK, RATE, offline_engine

@pytest.fixture
def engine(tiny_model, tmp_path):
    e = offline_engine(LoopModel.load(tiny_model, "cpu"), tmp_path)
    yield e
    e.close()


def send(engine, address, *args):
    (cmd,) = parse(address, list(args), None, None, engine.model.latent_dim)
    return engine.handle(cmd)


def run(engine, seconds: float) -> np.ndarray:
    """Play ``seconds`` on the offline clock: worker, sound card and control thread take turns."""
    return engine.step(int(seconds * RATE / BLOCK))


def test_plays_sound_from_the_first_block(engine):
    engine.output.play(1)
    assert engine.player.starved == 0  # a loop was ready before the first block
    audio = run(engine, 1.0)
    assert np.sqrt(np.mean(audio ** 2)) > 1e-3
    assert engine.player.starved == 0


def test_a_still_point_loops_exactly_once_per_bar(engine):
    audio = run(engine, 6.5)
    bar = engine.tempo_map.loop_samples(0)
    assert bar == round(4 * 60 / 120 * RATE)
    np.testing.assert_allclose(audio[bar:2 * bar], audio[2 * bar:3 * bar], atol=1e-6)


def test_change_lands_on_the_next_beat(engine):
    send(engine, "/vamen/quantize", 1.0)
    run(engine, 0.7)  # into beat 2
    now = engine.player.position
    send(engine, "/vamen/latent", *([2.0] * engine.model.latent_dim))
    landing = engine.tempo_map.sample_at(np.ceil(engine.now_beat()))
    before = engine.player.position
    audio = run(engine, 1.0)
    cues = [c for c in engine.player.schedule if c.start > now]
    assert cues, "the change made no new cue"
    cue = cues[0]
    assert abs(cue.start - landing) <= BLOCK
    # after the crossfade the output is the new loop, at the same place in the bar
    at = cue.start - before + engine.player.fade
    loop = engine.player.pool[cue.slot]
    pos = (cue.start + engine.player.fade - cue.bar) % cue.length
    np.testing.assert_allclose(audio[at:at + 500], loop[pos:pos + 500], atol=1e-5)


def test_quantize_zero_lands_within_a_block_or_two(engine):
    send(engine, "/vamen/quantize", 0.0)
    run(engine, 0.3)
    asked = engine.player.position
    send(engine, "/vamen/random", 1.0, 5)
    run(engine, 0.05)
    slots = [s for s in engine.worker.slots if s.cue.start >= asked]
    first = min(slots, key=lambda s: s.cue.start)
    assert first.cue.start - asked <= 2 * BLOCK and first.draft
    run(engine, 0.2)
    # the next beat plays the same point again, rendered at full quality
    refined = [s for s in engine.worker.slots if not s.draft and np.allclose(s.point, first.point)]
    assert refined and refined[0].beat == np.ceil(first.beat)


@pytest.mark.parametrize("bpm", [90.0, 174.0])
def test_tempo_changes_bar_length_not_pitch(engine, bpm):
    ref = run(engine, 4.2)
    send(engine, "/vamen/tempo", bpm)
    run(engine, 4.0)
    audio = run(engine, 8.0)
    bar = round(4 * 60 / bpm * RATE)
    assert engine.tempo_map.loop_samples(engine.now_beat()) == bar
    np.testing.assert_allclose(audio[:bar], audio[bar:2 * bar], atol=1e-6)

    def centroid(x):
        spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
        return float((spec * np.arange(len(spec))).sum() / spec.sum() / len(x) * RATE)

    ref_bar = engine.tempo_map.loop_samples(0)  # 120 BPM
    # same loop at another tempo: same spectrum, so the same brightness
    assert abs(centroid(audio[:bar]) - centroid(ref[ref_bar:2 * ref_bar])) < 0.1 * centroid(ref)


def test_walk_keeps_changing_the_sound(engine):
    send(engine, "/vamen/walk", 1.5, 2.0, 7)
    run(engine, 2.2)
    audio = run(engine, 4.0)
    bar = engine.tempo_map.loop_samples(0)
    assert np.abs(audio[:bar] - audio[bar:2 * bar]).mean() > 1e-3
    assert engine.worker.renders >= 4


def test_gain_and_stop(engine):
    loud = run(engine, 2.5)  # each take holds a whole bar, so both hold the loop's peak
    send(engine, "/vamen/gain", 0.5)
    run(engine, 0.1)
    quiet = run(engine, 2.5)
    assert np.abs(quiet).max() == pytest.approx(0.5 * np.abs(loud).max(), rel=1e-3)
    send(engine, "/vamen/stop")
    run(engine, 0.1)
    assert np.abs(run(engine, 0.5)).max() == 0.0


def test_a_clean_stop_saves_the_session_and_the_next_start_resumes(tiny_model, tmp_path):
    model = LoopModel.load(tiny_model, "cpu")
    first = offline_engine(model, tmp_path)
    send(first, "/vamen/quantize", 0.0)
    send(first, "/vamen/latent", *([1.5] * model.latent_dim))
    send(first, "/vamen/tempo", 97.0)
    send(first, "/vamen/walk", 0.5, 1.0, 4)
    send(first, "/vamen/gain", 0.6)
    send(first, "/vamen/quality", 20)
    send(first, "/vamen/chop", 0, 0, 2, 3)
    send(first, "/vamen/chop/roll", 3, 4)
    first.close()
    again = offline_engine(model, tmp_path)
    try:
        assert np.allclose(again.control.target, 1.5)
        assert again.control.tempo == 97.0 and again.tempo_map.tempo_at(0) == 97.0
        assert again.control.walk.depth == 0.5 and again.control.walk.seed == 4
        assert again.control.quantize == 0.0 and again.control.gain == 0.6
        assert again.control.quality == 20 and again.worker.iterations == 20
        assert again.player.gain == 0.6
        assert again.control.chop.describe() == "0,0,2,3 x3:4"  # the chops go on
        assert again.worker.chops.at(0.0) == again.control.chop
        assert any("carrying on" in note for note in again.options.notes)
    finally:
        again.close()
    fresh = offline_engine(model, tmp_path, fresh=True)  # at the model's centre, as on a first start
    assert np.allclose(fresh.control.target, model.prior[0]) and fresh.control.tempo == 120.0
    assert fresh.control.quantize == 1.0 and fresh.control.gain == 1.0 and fresh.control.quality == 32
    assert fresh.control.chop is None
    fresh.close()


def test_a_session_that_followed_the_input_restarts_without_one_on_the_performers_own_point(tiny_model,
                                                                                            tmp_path):
    import json

    model = LoopModel.load(tiny_model, "cpu")
    dim = model.latent_dim
    (tmp_path / "session.json").write_text(json.dumps({
        "format": "vamen-session", "version": 2, "point": [0.5] * dim, "centre": [0.5] * dim, "move": None,
        "tempo": 120.0, "quantize": 1.0, "gain": 1.0, "quality": 16, "glide": 0.0,
        "walk": {"depth": 0.0, "rate": 1.0, "seed": 0, "phase": 0.0, "depth_now": 0.0},
        "follow": {"amount": 1.0, "to": 1.0, "beats": 0.0, "heard": [2.0] * dim}}))
    e = offline_engine(model, tmp_path)  # no --input
    try:
        assert np.allclose(e.control.trajectory.at(0.0), 0.5)
        assert any("followed the live input" in note for note in e.options.notes), e.options.notes
    finally:
        e.close()


def test_a_corrupt_session_file_is_ignored(tiny_model, tmp_path):
    (tmp_path / "session.json").write_text("{not json")
    model = LoopModel.load(tiny_model, "cpu")
    e = offline_engine(model, tmp_path)
    assert np.allclose(e.control.target, model.prior[0])  # where a first start begins
    e.close()


def test_state_tells_the_bar_playing_now_even_just_before_a_bar_line(engine):
    """A change lands a render ahead; the state is told as it sounds (a dashboard, a
    live coder's clock), so just before a bar line it is still the old bar."""
    from oscclient import Client, message

    while engine.now_beat() < 3.93:
        engine.step()
    assert engine.earliest_beat() >= 4.0  # a change asked for now would land in the next bar
    now = engine.now_beat()
    client = Client(engine.osc)  # over real UDP; this test plays the control thread's part
    try:
        client.send(message("/vamen/state"))
        engine.take(engine.commands.get(timeout=5))
        address, args = client.reply()
    finally:
        client.close()
    state = dict(zip(args[::2], args[1::2]))
    assert address == "/vamen/state"
    assert state["bar"] == 0 and state["beat"] == pytest.approx(now, abs=1e-6)


def test_a_stamp_nearer_than_the_render_lead_still_lands_at_its_time(engine):
    """Tidal stamps its notes 0.2 s ahead; a loaded machine's render lead can be longer."""
    import time

    send(engine, "/vamen/quantize", 1.0)
    run(engine, 0.7)  # into beat 2
    lead = engine.worker.change_lead()
    seconds = lead / 4  # nearer than the lead, not yet played
    (hit,) = parse("/vamen/chop/hit", [0.0, 0.0625], None, time.time() + seconds, engine.model.latent_dim)
    stamp = engine.now_beat() + seconds * 2  # 120 BPM: two beats a second
    change = engine.handle(hit)
    # at the stamp (within the output's latency of a block, which a stamp allows for), not the
    # next beat, 0.3 beats or more away
    assert abs(change.from_beat - stamp) < 0.03, (change.from_beat, stamp)
    # a stamp the playhead has passed lands on the next quantisation point, as an untagged change
    (late,) = parse("/vamen/chop/hit", [0.0, 0.0625], None, time.time() - 0.2, engine.model.latent_dim)
    assert engine.handle(late).from_beat == np.ceil(engine.earliest_beat())
