"""``vamen anchors``: the model's anchors, by index and name, as points accept them."""
from __future__ import annotations

from pathlib import Path

import click

from .common import emit, json_option, load_model, model_option


@click.command("anchors")
@model_option
@json_option
def command(model_path: Path | None, as_json: bool) -> None:
    """The model's anchors: the index and the name a point may be given as.

    Anchors are the training loops, encoded and named after their files
    (without the extension; with it is accepted too). Give one by index or
    name to ``/vamen/anchor``, ``/vamen/morph``, ``vamen render --morph`` or
    an autopilot scene. Presets are listed by ``/vamen/preset/list``.
    """
    model = load_model(model_path, "cpu")
    names = list(model.anchors)
    width = len(str(max(len(names) - 1, 0)))
    lines = [f"{i:>{width}}  {name}" for i, name in enumerate(names)] or ["this model has no anchors"]
    noun = "anchor" if len(names) == 1 else "anchors"
    emit({"anchors": [{"index": i, "name": n} for i, n in enumerate(names)]}, as_json,
         "\n".join(lines + [f"({len(names)} {noun})"] if names else lines))
