"""Following a live input: the bar is cut on its downbeat, as loop files and training loops begin."""
import numpy as np

from vamen.model.audio import downbeat_starts, snap_reach

RATE = 44100
BAR = 2 * RATE  # a bar at 120 BPM
HOP = 64  # the onset finder's hop: where a hit starts is found to within one
BREAK = "breaks125/016_bllstmp.wav"  # a one-bar loop file, its downbeat at its first sample


def hit(length, rng):
    """A drum-like stroke: noise under a 30 ms decay."""
    t = np.arange(length) / RATE
    return rng.standard_normal(length) * np.exp(-t / 0.03)


def cut(signal, line, frames=BAR):
    return downbeat_starts(signal, RATE, [line], snap_reach(frames, RATE))[0]


def test_a_hit_near_the_line_is_where_the_bar_starts():
    """A latency figure a period out, or a drummer up to half a sixteenth off the line."""
    rng = np.random.default_rng(0)
    assert snap_reach(BAR, RATE) == int(0.060 * RATE)  # half a sixteenth at 120 is 62.5 ms: capped
    for late_ms in (-40.0, -10.0, -4.0, 0.0, 3.0, 11.0, 25.0, 55.0):
        signal = 0.01 * rng.standard_normal(RATE)  # a room's noise floor
        line = RATE // 2
        at = line + int(late_ms * RATE / 1000)
        signal[at:at + 4000] += hit(4000, rng)
        assert abs(cut(signal, line) - at) <= HOP, (late_ms, cut(signal, line) - at)


def test_without_a_hit_near_the_line_the_cut_stays_on_it():
    rng = np.random.default_rng(1)
    line = RATE // 2
    wash = 0.3 * rng.standard_normal(RATE)  # a ride's wash: loud, but no stroke starts
    assert cut(wash, line) == line
    later = 0.01 * rng.standard_normal(RATE)
    at = line + int(0.070 * RATE)  # the first stroke comes after the reach
    later[at:at + 4000] += hit(4000, rng)
    assert cut(later, line) == line


def test_a_bar_cut_off_its_line_is_heard_as_the_file_is(breaks_dir):
    """What /vamen/follow hears of a loop played in should be the point /vamen/encode gives the file."""
    from vamen.model.audio import read_audio
    from vamen.model.loopmodel import LoopModel

    model = LoopModel.load()
    rate = model.config.sample_rate
    path = breaks_dir / BREAK
    loop = read_audio(path, rate)
    played = np.concatenate([loop, loop, loop])  # looped, as a drummer's sampler plays it in
    encoded = model.encode_file(path)
    reach = snap_reach(len(loop), rate)
    for off_ms in (-7.0, 6.0, 25.0):  # a latency figure a period out, a drummer a touch or more late
        line = len(loop) + int(off_ms * rate / 1000)
        start = downbeat_starts(played, rate, [line], reach)[0]
        snapped = played[start:start + len(loop)]
        unsnapped = played[line:line + len(loop)]
        far, near = (float(np.sqrt(np.mean((model.encode_loops(bar[None])[0] - encoded) ** 2)))
                     for bar in (unsnapped, snapped))
        assert near < 0.15 < far, (off_ms, near, far)
