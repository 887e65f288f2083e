"""The ``vamen`` command line.

Each subcommand lives in its own module and imports torch and friends only
when it runs, so ``vamen --help`` is instant.
"""
from __future__ import annotations

import sys

import click

from vamen.model.errors import VamenError


class _Group(click.Group):
    """Turns the errors a user can fix into one line on stderr and exit 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except VamenError as exc:
            click.echo(f"vamen: {exc}", err=True)
            sys.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="vamen")
def main() -> None:
    """vamen: a live performance server for neural breakbeats."""


COMMANDS = ("serve", "render", "train", "dataset", "eval", "bench", "devices", "midi", "status", "anchors")


def _register() -> None:
    import importlib

    for name in COMMANDS:
        main.add_command(importlib.import_module(f"{__name__}.{name}").command)


_register()
