"""Following a live input: the bar is cut on its downbeat, as loop files and training loops begin."""
import numpy as np

from vamen.server.render.listener import SNAP_FRAME_MS, SNAP_MS, downbeat_offset

RATE = 44100
FRAME = int(RATE * SNAP_FRAME_MS / 1000)
BREAK = "breaks125/016_bllstmp.wav"  # a one-bar loop file, its downbeat at its first sample


def hit(length, rng):
    """A drum-like stroke: noise under a 30 ms decay."""
    t = np.arange(length) / RATE
    return rng.standard_normal(length) * np.exp(-t / 0.03)


def test_a_hit_near_the_line_is_where_the_bar_starts():
    rng = np.random.default_rng(0)
    for late_ms in (-10.0, -4.0, 0.0, 3.0, 11.0):
        signal = 0.01 * rng.standard_normal(RATE)  # a room's noise floor
        line = RATE // 2
        at = line + int(late_ms * RATE / 1000)
        signal[at:at + 4000] += hit(4000, rng)
        moved = downbeat_offset(signal, line, RATE)
        assert abs(line + moved - at) <= FRAME, (late_ms, moved)


def test_without_a_hit_near_the_line_the_cut_stays_on_it():
    rng = np.random.default_rng(1)
    line = RATE // 2
    wash = 0.3 * rng.standard_normal(RATE)  # a ride's wash: loud, but no stroke starts
    assert downbeat_offset(wash, line, RATE) == 0
    later = 0.01 * rng.standard_normal(RATE)
    at = line + int((SNAP_MS + 8) * RATE / 1000)  # the first stroke comes after the reach
    later[at:at + 4000] += hit(4000, rng)
    assert downbeat_offset(later, line, RATE) == 0
    assert downbeat_offset(later, 10, RATE) == 0  # no room before the line to look in


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
    for off_ms in (-7.0, 6.0):  # a latency figure a period out, or a drummer a touch late
        line = len(loop) + int(off_ms * rate / 1000)
        moved = downbeat_offset(played, line, rate)
        snapped = played[line + moved:line + moved + len(loop)]
        unsnapped = played[line:line + len(loop)]
        far, near = (float(np.sqrt(np.mean((model.encode_loops(cut[None])[0] - encoded) ** 2)))
                     for cut in (unsnapped, snapped))
        assert near < 0.15 < far, (off_ms, near, far)
