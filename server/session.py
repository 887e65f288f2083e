"""Where the performance was when vamen stopped, so the next start carries on.

Saved atomically on a clean stop (SIGINT, SIGTERM) next to the presets, as
``session.json``; read at start unless ``vamen serve --fresh``. A file that
is unreadable or made for a model with another latent size is ignored with
one warning.
"""
from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

from vamen.model.files import atomic_open

from .presets import default_path

log = logging.getLogger(__name__)
FORMAT = "vamen-session"


def session_path(presets_path: Path | None = None) -> Path:
    return (Path(presets_path) if presets_path else default_path()).with_name("session.json")


def save_session(path: Path, control) -> None:
    walk = control.walk
    data = {"format": FORMAT, "version": 1,
            "point": [round(float(v), 6) for v in control.target],
            "tempo": control.tempo, "quantize": control.quantize, "gain": control.gain,
            "quality": control.quality, "glide": control.glide,
            "walk": {"depth": walk.depth, "rate": walk.rate, "seed": walk.seed}}
    with atomic_open(path, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1)


def load_session(path: Path, latent_dim: int) -> dict[str, Any] | None:
    """The saved settings, or None (nothing saved, unreadable, another model)."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        point = [float(v) for v in data["point"]]
        numbers = [float(data[k]) for k in ("tempo", "quantize", "gain", "quality", "glide")]
        walk = {k: float(data["walk"][k]) for k in ("depth", "rate", "seed")}
        if data.get("format") != FORMAT or not all(map(math.isfinite, point + numbers)):
            raise ValueError("not a vamen session")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring saved session %s (%s)", path, exc)
        return None
    if len(point) != latent_dim:
        log.warning("ignoring saved session %s: it is for a %d-dimensional model", path, len(point))
        return None
    tempo, quantize, gain, quality, glide = numbers
    return {"point": point, "tempo": tempo, "quantize": quantize, "gain": gain,
            "quality": int(quality), "glide": glide, "walk": walk}
