"""Re-chops: a synthetic break's 16th-note slices re-triggered as on a sampler.

Jungle producers chopped the Amen into slices and played them back in a new
order, repeated or stuttered; :func:`chop` does the same to one bar, cutting
where the hits are so that no cut lands mid-decay.
"""
from __future__ import annotations

import numpy as np

#: Slices start this long before their grid point, so a hit played early is
#: never cut in two by a re-chop.
PREROLL_S = 0.008


def chop(x: np.ndarray, times: np.ndarray, voices: list[str], grid_times: np.ndarray,
         sr: int, rng: np.random.Generator, jitter: float) -> tuple[np.ndarray, np.ndarray, list[str]] | None:
    """Re-trigger 16th-note slices of the bar the way a sampler plays a chopped break.

    The bar is cut at the swung grid, :data:`PREROLL_S` early so that each
    slice starts just before its hits. Every slice that starts with a hit is
    a pad; playing the bar is triggering each pad on its own slot. A re-chop
    triggers other pads (swap), the last pad again (repeat) or one pad twice
    in a slot (stutter). As on a sampler, a pad plays on until the next
    trigger, so every cut lands on a hit and none lands mid-decay. Slot 0
    keeps its downbeat.

    ``times`` and ``voices`` are the bar's hits; ``jitter`` is the most
    seconds a hit may sit off its grid point. Returns the new audio, hit
    times and voices, or None when the draws changed nothing.
    """
    n = len(x)
    pre = int(PREROLL_S * sr)
    # In rolled samples (the bar shifted by the pre-roll) slot k starts at bounds[k].
    bounds = np.append(np.rint(grid_times * sr).astype(int), n)
    slots = len(bounds) - 1
    xr = np.roll(x, pre)
    hit_pos = (np.rint(times * sr).astype(int) + pre) % n
    reach = pre + int(jitter * sr) + 2

    def starts_with_hit(src: int) -> bool:
        return bool(np.any((hit_pos - src) % n < reach))

    # Trigger position -> source position, in rolled samples.
    plain = {int(b): int(b) for b in bounds[:-1] if starts_with_hit(int(b))}
    plain[0] = 0
    triggers = dict(plain)
    unit = 2 if rng.random() < 0.4 else 1
    pads = [k for k in range(0, slots, unit) if starts_with_hit(int(bounds[k]))]
    if not pads:
        return None
    for _ in range(int(rng.integers(1, 5))):
        i = int(rng.integers(1, slots // unit)) * unit
        kind = rng.choice(["swap", "repeat", "stutter"], p=[0.45, 0.3, 0.25])
        j = int(rng.choice(pads))
        at = int(bounds[i])
        if unit == 2:
            triggers.pop(int(bounds[i + 1]), None)
        if kind == "swap":
            triggers[at] = int(bounds[j])
        elif kind == "repeat":
            triggers[at] = triggers[max(d for d in triggers if d < at)]
        elif unit == 1:
            triggers[at] = triggers[at + (int(bounds[i + 1]) - at) // 2] = int(bounds[j])
        else:
            triggers[at] = triggers[int(bounds[i + 1])] = int(bounds[j])
    if triggers == plain:
        return None

    starts = sorted(triggers)
    pieces = [(d, triggers[d], (starts[k + 1] if k + 1 < len(starts) else n) - d)
              for k, d in enumerate(starts)]
    out = np.zeros(n)
    xx = np.concatenate([xr, xr])
    fade_in, fade_out = max(2, int(0.001 * sr)), max(2, int(0.002 * sr))
    new_pos, new_voice = [], []
    for k, (dst, src, length) in enumerate(pieces):
        seg = xx[src:src + length].copy()
        prev, nxt = pieces[k - 1], pieces[(k + 1) % len(pieces)]
        if (prev[1] + prev[2] - src) % n:
            # Only the downbeat's pad may start without a hit; a hard cut into
            # a decay would be heard as a hit that is not there, so it swells in.
            ramp = fade_in if starts_with_hit(src) else min(length // 2, int(0.025 * sr))
            seg[:ramp] *= np.sin(0.5 * np.pi * np.arange(ramp) / ramp) ** 2
        if (src + length - nxt[1]) % n:
            seg[-fade_out:] *= np.linspace(1.0, 0.0, fade_out)
        out[dst:dst + length] = seg
        offset = (hit_pos - src) % n
        # A hit needs a few milliseconds inside the piece to be heard as a hit.
        inside = offset < length - int(0.004 * sr)
        new_pos += (dst + offset[inside]).tolist()
        new_voice += [voices[h] for h in np.flatnonzero(inside)]
    new_times = ((np.asarray(new_pos) - pre) % n) / sr
    return np.roll(out, -pre), new_times, new_voice
