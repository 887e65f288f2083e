"""Latent trajectories as pure functions of beats."""
import math

import numpy as np
import pytest

from vamen.server.core import motion as m

DIM = 16


@pytest.fixture
def rng():
    return np.random.default_rng(20240521)


def points(rng, n=2, dim=DIM):
    return [m.as_point(rng.standard_normal(dim)) for _ in range(n)]


def walk(seed=3, depth=1.0, rate=1.0, centre=None, **kw):
    return m.Walk(centre or m.Still(np.zeros(DIM)), depth, rate, seed, 0.0, **kw)


# -- prior and points ------------------------------------------------------------


def test_prior_point_is_seeded_and_scaled():
    a, b = m.prior_point(DIM, 1.0, 5), m.prior_point(DIM, 1.0, 5)
    assert a.dtype == np.float32 and a.shape == (DIM,)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, m.prior_point(DIM, 1.0, 6))
    np.testing.assert_allclose(m.prior_point(DIM, 0.5, 5), np.clip(a * 0.5, -4, 4), rtol=1e-6)
    np.testing.assert_array_equal(m.prior_point(DIM, 0.0, 5), np.zeros(DIM))
    assert np.abs(m.prior_point(DIM, 4.0, 1)).max() <= m.LIMIT


@pytest.mark.parametrize("bad", [[1.0, np.nan], [np.inf], [], [[1.0, 2.0]], 3.0])
def test_as_point_refuses(bad):
    with pytest.raises(ValueError):
        m.as_point(bad)


def test_as_point_clips_and_freezes():
    p = m.as_point([10.0, -10.0, 1.0])
    np.testing.assert_array_equal(p, [4.0, -4.0, 1.0])
    with pytest.raises(ValueError):
        p[0] = 0.0


# -- still, glide, morph, interp -------------------------------------------------------


def test_still_returns_copies(rng):
    (a,) = points(rng, 1)
    s = m.Still(a)
    out = s.at(3.0)
    out[:] = 9
    np.testing.assert_array_equal(s.at(100.0), a)


@pytest.mark.parametrize("curve", m.CURVES)
def test_morph_endpoints_exact(rng, curve):
    a, b = points(rng)
    mo = m.Morph(a, b, 8.0, 4.0, curve)
    for beat in (-100.0, 0.0, 7.999, 8.0):
        if beat < 8.0 or beat == 8.0:
            np.testing.assert_array_equal(mo.at(beat), a)
    for beat in (12.0, 12.5, 1e6):
        np.testing.assert_array_equal(mo.at(beat), b)
    assert mo.at(10.0).dtype == np.float32


def test_glide_is_linear_in_time(rng):
    a, b = points(rng)
    g = m.Glide(a, b, 2.0, 4.0)
    for t in (0.25, 0.5, 0.75):
        np.testing.assert_allclose(g.at(2.0 + 4.0 * t), a + t * (b - a), atol=1e-6)


def test_glide_of_zero_beats_jumps(rng):
    a, b = points(rng)
    g = m.Glide(a, b, 2.0, 0.0)
    np.testing.assert_array_equal(g.at(1.99), a)
    np.testing.assert_array_equal(g.at(2.0), b)


def test_smooth_eases_in_and_out(rng):
    a, b = points(rng)
    lin, smooth = m.Morph(a, b, 0, 1, "linear"), m.Morph(a, b, 0, 1, "smooth")
    np.testing.assert_allclose(smooth.at(0.5), lin.at(0.5), atol=1e-6)  # symmetric
    start_step = np.linalg.norm(smooth.at(0.01) - a)
    assert start_step < 0.1 * np.linalg.norm(lin.at(0.01) - a)


def test_slerp_stays_near_the_prior_shell():
    rng = np.random.default_rng(1)
    dim = 32
    for _ in range(20):
        a, b = rng.standard_normal(dim), rng.standard_normal(dim)
        low, high = sorted([np.linalg.norm(a), np.linalg.norm(b)])
        sl, li = m.Morph(a, b, 0, 1, "slerp"), m.Morph(a, b, 0, 1, "linear")
        norms = [np.linalg.norm(sl.at(t)) for t in np.linspace(0, 1, 21)]
        assert min(norms) >= 0.98 * low and max(norms) <= 1.02 * high
        # the straight line sags towards the centre; slerp does not
        assert np.linalg.norm(li.at(0.5)) < 0.85 * np.linalg.norm(sl.at(0.5))


def test_slerp_degenerate_cases_fall_back(rng):
    (a,) = points(rng, 1)
    for b in (a, -a, np.zeros(DIM)):
        out = m.Morph(a, b, 0, 1, "slerp").at(0.5)
        assert np.all(np.isfinite(out))
        np.testing.assert_allclose(out, (a + b) / 2, atol=1e-5)


def test_morph_refuses_unknown_curve_and_bad_beats(rng):
    a, b = points(rng)
    with pytest.raises(ValueError, match="unknown curve"):
        m.Morph(a, b, 0, 1, "cubic")
    with pytest.raises(ValueError):
        m.Morph(a, b, 0, -1)
    with pytest.raises(ValueError):
        m.Morph(a, b[:3], 0, 1)


def test_interp_is_static(rng):
    a, b = points(rng)
    ip = m.Interp(a, b, 0.25)
    np.testing.assert_allclose(ip.at(0), a + 0.25 * (b - a), atol=1e-6)
    np.testing.assert_array_equal(ip.at(0), ip.at(1e5))
    np.testing.assert_array_equal(m.Interp(a, b, 0).at(0), a)
    np.testing.assert_array_equal(m.Interp(a, b, 1).at(0), b)
    with pytest.raises(ValueError):
        m.Interp(a, b, 1.5)


# -- walks ---------------------------------------------------------------------------

BEATS = np.linspace(-8, 64, 97)


def path(w, beats=BEATS):
    return np.stack([w.at(b) for b in beats])


def test_walk_same_seed_same_path():
    np.testing.assert_array_equal(path(walk(3)), path(walk(3)))


def test_walk_different_seeds_differ():
    assert np.abs(path(walk(3)) - path(walk(4))).mean() > 0.2


def test_walk_is_independent_of_evaluation_order():
    w = walk(11)
    forward = path(w)
    order = np.random.default_rng(0).permutation(len(BEATS))
    shuffled = np.empty_like(forward)
    for i in order:
        shuffled[i] = w.at(BEATS[i])
    np.testing.assert_array_equal(forward, shuffled)
    np.testing.assert_array_equal(walk(11).at(1e4), w.at(1e4))


def test_walk_depth_zero_is_the_centre(rng):
    a, b = points(rng)
    centre = m.Morph(a, b, 0, 16, "smooth")
    w = walk(5, depth=0.0, centre=centre)
    for beat in BEATS:
        np.testing.assert_array_equal(w.at(beat), centre.at(beat))


@pytest.mark.parametrize("rate", [0.25, 1.0, 4.0])
def test_walk_is_continuous(rate):
    w = walk(2, depth=1.0, rate=rate)
    beats = np.arange(0, 32, 1 / 64)
    steps = np.abs(np.diff(path(w, beats), axis=0)).max()
    # Lipschitz bound: 4 partials of amplitude sqrt(2/4), at most 1.5 cycles per
    # phase unit, phase advancing rate/4 per beat, sampled every 1/64 beat
    bound = 4 * math.sqrt(2 / 4) * 2 * math.pi * 1.5 * rate / 4 * (1 / 64) * 1.01
    assert steps <= bound


def test_walk_depth_scales_its_spread():
    beats = np.arange(0, 400, 0.5)
    spread = path(walk(1, depth=0.5, rate=1.0), beats).std()
    assert 0.3 < spread < 0.7


def test_walk_fade_and_phase_continuity():
    w1 = walk(4, depth=1.0, rate=1.0)
    # a new walk at beat 10 with another rate, continuing the phase and fading the depth
    w2 = m.Walk(w1.centre, 0.5, 3.0, 4, 10.0, start_phase=w1.phase_at(10.0), fade_from=w1.depth_at(10.0))
    np.testing.assert_allclose(w2.at(10.0), w1.at(10.0), atol=1e-6)
    assert w2.depth_at(12.0) == pytest.approx(0.75)
    assert w2.depth_at(14.0) == pytest.approx(0.5)
    fading_out = m.Walk(w1.centre, 0.0, 1.0, 4, 10.0, fade_from=1.0)
    np.testing.assert_array_equal(fading_out.at(14.0), np.zeros(DIM))


def test_values_stay_finite_and_clipped():
    w = walk(9, depth=4.0, rate=8.0, centre=m.Still(np.full(DIM, 3.9)))
    out = path(w)
    assert np.all(np.isfinite(out)) and np.abs(out).max() <= m.LIMIT


# -- switch and settle -------------------------------------------------------------------


def test_switch_and_settle(rng):
    a, b, c = points(rng, 3)
    t = m.switch(m.Still(a), m.Morph(a, b, 4.0, 4.0), 4.0)
    t = m.switch(t, m.Still(c), 6.0)
    np.testing.assert_array_equal(t.at(3.0), a)
    np.testing.assert_array_equal(t.at(6.0), c)
    # a later change landing earlier hides the pending ones
    t2 = m.switch(t, m.Still(b), 5.0)
    assert isinstance(t2.before, m.Switch) and t2.before.beat == 4.0
    np.testing.assert_array_equal(t2.at(7.0), b)
    # settling keeps the future and drops the past
    s = m.settle(t, 6.5)
    assert isinstance(s, m.Still)
    np.testing.assert_array_equal(s.at(7.0), c)
    s = m.settle(m.Walk(t, 0.5, 1.0, 1, 0.0), 100.0)
    assert isinstance(s, m.Walk) and isinstance(s.centre, m.Still)
    assert m.settle(m.Walk(m.Still(a), 0.0, 1.0, 1, 0.0), 1.0).at(3.0).tolist() == a.tolist()
