"""Live chops end to end: OSC over real UDP into the engine, the output it plays measured.

The engine runs on the offline clock (``Engine.step``): what it returns is
exactly what a sound card or a recording would have been given.
"""
import select

import numpy as np
import pytest

from vamen.model.loopmodel import LoopModel

from offline import BLOCK, RATE, offline_engine, send
from oscclient import Client, message
from waiting import wait_for

BAR = 2 * RATE  # one bar at 120 BPM
SIXTEENTH = BAR // 16


@pytest.fixture
def engine(tiny_model, tmp_path):
    e = offline_engine(LoopModel.load(tiny_model, "cpu"), tmp_path, fresh=True)
    e.client = Client(e.osc)
    yield e
    e.client.close()
    e.close()


def bars(engine, count):
    """Play on until the next bar line, then ``count`` whole bars; those bars."""
    engine.step(-(-(BAR - engine.player.position % BAR) // BLOCK))
    start = engine.player.position % BAR
    out = engine.step(-(-(count * BAR + BAR) // BLOCK))[BAR - start:][:count * BAR]
    return out.reshape(count, BAR)


def sixteenths(bar):
    return bar[:16 * SIXTEENTH].reshape(16, SIXTEENTH)


def lag_correlation(x, lag):
    a, b = x[:-lag], x[lag:]
    return float(np.dot(a, b) / np.sqrt(np.dot(a, a) * np.dot(b, b)))


def test_sixteen_zeros_repeat_the_first_sixteenth_sixteen_times_a_bar(engine):
    (plain,) = bars(engine, 1)
    send(engine, "/vamen/chop", *([0] * 16))
    (chopped,) = bars(engine, 1)
    plain_r, chopped_r = lag_correlation(plain, SIXTEENTH), lag_correlation(chopped, SIXTEENTH)
    assert chopped_r > 0.9, (chopped_r, plain_r)  # each 16th is the first one again
    assert chopped_r > plain_r + 0.3
    first = sixteenths(plain)[0]
    for piece in sixteenths(chopped):
        assert np.corrcoef(piece[100:-100], first[100:-100])[0, 1] > 0.99


def test_reversed_order_plays_the_plain_sixteenths_backwards(engine):
    (plain,) = bars(engine, 1)
    send(engine, "/vamen/chop", *range(15, -1, -1))
    (chopped,) = bars(engine, 1)

    def spectrum(x):
        return np.log(np.abs(np.fft.rfft(x * np.hanning(len(x)))) + 1e-6)

    want = [spectrum(p) for p in sixteenths(plain)[::-1]]
    got = [spectrum(p) for p in sixteenths(chopped)]
    # each chopped 16th is nearest, in spectrum, to the plain 16th it should be
    for k, g in enumerate(got):
        distances = [np.abs(g - w).mean() for w in want]
        assert int(np.argmin(distances)) == k, (k, distances)


def test_rests_are_silent_and_no_arguments_is_the_plain_loop_again(engine):
    (plain,) = bars(engine, 1)
    send(engine, "/vamen/chop", *([0, -1] * 8))
    (chopped,) = bars(engine, 1)
    assert all(np.abs(p).max() == 0.0 for p in sixteenths(chopped)[1::2])
    send(engine, "/vamen/chop")
    (again,) = bars(engine, 1)
    np.testing.assert_allclose(again, plain, atol=1e-6)


def test_the_state_tells_the_pattern_and_bad_chops_change_nothing(engine):
    send(engine, "/vamen/chop", 0, 0, 2, 3)
    send(engine, "/vamen/chop/reverse", 2)
    send(engine, "/vamen/chop/roll", 3, 4)
    bars(engine, 1)
    bad = [("/vamen/chop", [0] * 65), ("/vamen/chop", [0, 4]), ("/vamen/chop", [0, float("nan")]),
           ("/vamen/chop", [0, "x"]), ("/vamen/chop/reverse", [7]), ("/vamen/chop/roll", [1, 64]),
           ("/vamen/chop/roll", [1])]
    for address, args in bad:
        engine.client.send(message(address, *args))
        # the parser refuses most at once; the control thread what needs the pattern (step 7 of 4)
        ready = wait_for(lambda: select.select([engine.client.sock], [], [], 0)[0]
                         or not engine.commands.empty(), 5, f"{address} to arrive")
        if ready is True:
            engine.turn()
        reply, (about, why) = engine.client.reply()
        assert reply == "/vamen/error" and about == address and why, (address, args)
    send(engine, "/vamen/state")
    address, args = engine.client.reply()
    state = dict(zip(args[::2], args[1::2]))
    assert state["chop"] == "0,0,2,3 r2 x3:4"


# -- hits: the bar struck as a sample (/dirt/play from TidalCycles, /vamen/chop/slice, pads) --

def play_to(engine, sample):
    """Play on until the output has passed ``sample``; what was played."""
    return engine.step(max(0, -(-(sample + 1 - engine.player.position) // BLOCK)))


def test_dirt_slices_put_the_first_sixteenth_on_every_beat_then_hush_brings_the_loop_back(engine):
    (plain,) = bars(engine, 1)
    send(engine, "/vamen/quantize", 1)
    beat = BAR // 4
    bar_line = (engine.player.position // BAR + 2) * BAR
    play_to(engine, bar_line - beat)
    start, played = engine.player.position, []
    # just after each beat line, the event for the next beat (TidalCycles: slice 16 "0 0 0 0")
    for k in range(4):
        send(engine, "/dirt/play", "s", "vamen", "begin", 0.0, "end", 1 / 16)
        played.append(play_to(engine, bar_line + k * beat))
    played.append(play_to(engine, bar_line + 3 * BAR))  # then nothing more, as after hush
    played = np.concatenate(played)[bar_line - start:]
    first = sixteenths(plain)[0]
    fade = int(0.002 * RATE) + 2
    for piece in played[:BAR].reshape(4, beat):
        np.testing.assert_allclose(piece[fade:SIXTEENTH - fade], first[fade:-fade], atol=1e-5)
        assert np.abs(piece[SIXTEENTH:]).max() == 0.0  # then silence to the next beat
    assert np.abs(played[BAR:2 * BAR]).max() == 0.0  # the bar after the last slice: silence, as after hush
    back = played[2 * BAR:3 * BAR]
    np.testing.assert_allclose(back[BAR // 8:], plain[BAR // 8:], atol=1e-6)  # then the loop again


def test_slice_edges_are_click_free(engine):
    (plain,) = bars(engine, 1)
    send(engine, "/vamen/quantize", 0.25)
    engine.step(-(-(BAR - engine.player.position % BAR) // BLOCK))
    # a held slice 5 rolls on every sixteenth; slice 9 backwards on top of it at half speed
    send(engine, "/vamen/chop/hold", 5)
    send(engine, "/vamen/chop/slice", 9, 16, -0.5)
    played = engine.step(-(-2 * BAR // BLOCK))
    send(engine, "/vamen/chop/release", 5)
    released = engine.step(-(-2 * BAR // BLOCK))
    own = np.abs(np.diff(plain)).max()  # the biggest sample-to-sample step the loop itself makes
    jumps = np.abs(np.diff(np.concatenate([played, released])))
    assert jumps.max() <= own * 1.05, (jumps.max(), own)
    roll = sixteenths(played[-BAR:])
    fifth = sixteenths(plain)[5]
    assert np.corrcoef(roll[3][200:-200], fifth[200:-200])[0, 1] > 0.99  # slice 5 again and again
    assert np.abs(released[-BAR:]).max() == 0.0  # let go: the roll stops, the bar after is silent


def test_bad_hits_get_an_error_and_change_nothing(engine):
    send(engine, "/vamen/chop", 0, 1, 2, 3)
    bars(engine, 1)
    bad = [("/dirt/play", ["s", "vamen", "begin", 0.5, "end", 0.25]),
           ("/dirt/play", ["s", "vamen", "begin", float("nan")]),
           ("/dirt/play", ["s", "vamen", "speed", "fast"]),
           ("/vamen/chop/hit", [0.0, 2.0]), ("/vamen/chop/slice", [16]), ("/vamen/chop/hold", ["x"])]
    for address, args in bad:
        reply, (about, why) = engine.client.ask(message(address, *args))
        assert reply == "/vamen/error" and about == address and why, (address, args)
    send(engine, "/vamen/state")
    address, args = engine.client.reply()
    assert dict(zip(args[::2], args[1::2]))["chop"] == "0,1,2,3"


def test_a_slice_event_with_a_latent_param_moves_the_latent_under_the_hit(engine):
    bars(engine, 1)
    send(engine, "/vamen/quantize", 1)
    send(engine, "/dirt/play", "s", "vamen", "begin", 0.25, "end", 0.5, "z3", 1.5)  # slice 4 "1" # z3 1.5
    engine.step(-(-BAR // 2 // BLOCK))  # half a bar on: the hit has sounded
    send(engine, "/vamen/state")
    address, args = engine.client.reply()
    state = dict(zip(args[::2], args[1::2]))
    assert float(state["latent"].split(",")[3]) == 1.5
    assert state["chop"].startswith("hits ")
    assert engine.worker.error is None and engine.last_error == ""
