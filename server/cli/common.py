"""Small pieces the subcommands share."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

model_option = click.option(
    "--model", "model_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="Checkpoint to use (default: the model shipped with vamen).")
json_option = click.option("--json", "as_json", is_flag=True, help="Print figures as JSON.")


def emit(figures: dict, as_json: bool, text: str) -> None:
    """Print ``figures`` as JSON on stdout, or ``text`` for people."""
    click.echo(json.dumps(figures, indent=2) if as_json else text)


def stderr_bar(length: int, label: str):
    """A progress bar on stderr, so stdout stays clean for --json."""
    return click.progressbar(length=length, label=label, file=sys.stderr, show_pos=True,
                             show_eta=True)


def load_model(path: Path | None, device: str | None = None):
    from vamen.model.loopmodel import LoopModel

    return LoopModel.load(path, device)
