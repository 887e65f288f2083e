"""The output never reaches full scale: crossfades of loud loops and gains above 1 are limited."""
import numpy as np

from vamen.server.audio.player import CEILING, Cue, Player

RATE = 48000
BAR = RATE * 2  # one bar at 120 BPM


def loud_loop(seed: int) -> np.ndarray:
    """A loud loop, peaks at -1 dBFS as the renderer leaves them: hits and noise, one bar."""
    rng = np.random.default_rng(seed)
    loop = rng.standard_normal(BAR).astype(np.float32)
    loop[:: BAR // 16] = 10.0 * (1 if seed % 2 else -1)  # a hit every sixteenth
    return (loop * (CEILING / np.abs(loop).max())).astype(np.float32)


def play(player: Player, blocks: int, frames: int = 256) -> np.ndarray:
    out = np.zeros((frames, player.channels), dtype=np.float32)
    heard = []
    for _ in range(blocks):
        player.fill(out, frames)
        heard.append(out[:, 0].copy())
    return np.concatenate(heard)


def test_gain_2_through_a_crossfade_of_two_loud_loops_never_reaches_full_scale():
    player = Player(RATE, BAR, slots=4, fade=int(0.005 * RATE))
    player.pool[0, :BAR] = loud_loop(1)
    player.pool[1, :BAR] = -loud_loop(2)  # opposite hits: an equal-power fade summed them to 1.26
    switch = BAR // 16 - 100  # the second loop takes over just before a hit of both
    player.publish((Cue(0, 0, 0, BAR), Cue(1, switch, 0, BAR)))
    player.gain = 2.0
    heard = play(player, 4 * BAR // 256)
    assert np.abs(heard).max() < 1.0
    assert np.abs(heard).max() <= CEILING + 1e-6  # held at -1 dBFS
    assert player.clipped == 0
    assert np.abs(heard[-BAR // 2:]).max() > 0.5 * CEILING  # limited, not silenced


def test_loud_loops_at_gain_1_pass_unchanged():
    player = Player(RATE, BAR, slots=4, fade=int(0.005 * RATE))
    loop = loud_loop(3)
    player.pool[0, :BAR] = loop
    player.publish((Cue(0, 0, 0, BAR),))
    heard = play(player, BAR // 256)
    np.testing.assert_allclose(heard, loop[:len(heard)], atol=1e-6)


def test_full_scale_samples_are_counted():
    """Were anything to reach full scale past the limiter, the state's ``clipped`` would say so."""
    player = Player(RATE, BAR, slots=2, fade=64)
    mono = np.array([0.5, 1.0, -1.0, -1.5], dtype=np.float32)
    player._count_clipped(mono, 4)
    assert player.clipped == 3
