"""``vamen dataset``: make training corpora.

``vamen dataset recorded OUT_DIR`` writes one-bar loops of real recorded
drums, all CC0, from Debian's ``sonic-pi-samples`` (see
:mod:`vamen.model.recorded`): the corpus the shipped default model is trained on.

``vamen dataset synth OUT_DIR`` writes procedurally synthesised one-bar drum
breaks (see :mod:`vamen.model.synth`), made on any machine with no package.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from vamen.model.errors import VamenError
from vamen.server.options import FiniteRange


@click.group(name="dataset")
def command() -> None:
    """Make training corpora."""


def _check(out_dir: Path, count: int, seed: int, sample_rate: int) -> None:
    # Problems are reported as one line (VamenError), not click's usage block.
    if count < 1:
        raise VamenError(f"--count must be at least 1, not {count}")
    if seed < 0:
        raise VamenError(f"--seed must be 0 or more, not {seed}")
    if not 8000 <= sample_rate <= 192000:
        raise VamenError(f"--sample-rate must be 8000..192000 Hz, not {sample_rate}")
    if out_dir.exists() and not out_dir.is_dir():
        raise VamenError(f"{out_dir} exists and is not a folder")


@command.command(name="synth")
@click.argument("out_dir", type=click.Path(path_type=Path))
@click.option("--count", "-n", type=int, default=1000, show_default=True,
              help="Number of one-bar loops to write.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Dataset seed: the same seed and count give the same files.")
@click.option("--sample-rate", type=int, default=22050, show_default=True,
              help="Sample rate of the WAV files in Hz.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary instead of a line.")
def synth(out_dir: Path, count: int, seed: int, sample_rate: int, as_json: bool) -> None:
    """Write COUNT synthetic drum-break loops to OUT_DIR as 16-bit WAV files.

    Files are named like synth-00017-137.42bpm.wav (loop index, tempo).
    Re-running with the same seed rewrites the same files bit for bit.
    """
    _check(out_dir, count, seed, sample_rate)
    import soundfile as sf

    from vamen.model.synth import write_dataset

    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise VamenError(f"cannot create {out_dir}: {exc.strerror or exc}") from exc
    with click.progressbar(length=count, label="synthesising", file=sys.stderr) as bar:
        try:
            paths = write_dataset(out_dir, count, seed, sample_rate=sample_rate,
                                  progress=bar.update)
        except OSError as exc:
            raise VamenError(f"cannot write to {out_dir}: {exc.strerror or exc}") from exc

    frames = [sf.info(str(p)).frames for p in paths]
    tempos = [float(p.stem.rsplit("-", 1)[1].removesuffix("bpm")) for p in paths]
    seconds = sum(frames) / sample_rate
    if as_json:
        click.echo(json.dumps({
            "out_dir": str(out_dir), "files": len(paths), "seconds": round(seconds, 3),
            "tempo_min": min(tempos), "tempo_max": max(tempos),
            "sample_rate": sample_rate, "seed": seed,
        }))
    else:
        click.echo(f"wrote {len(paths)} loops ({seconds:.1f} s of audio, "
                   f"{min(tempos):.2f}-{max(tempos):.2f} BPM) to {out_dir}")


@command.command(name="recorded")
@click.argument("out_dir", type=click.Path(path_type=Path))
@click.option("--count", "-n", type=int, default=1600, show_default=True,
              help="Number of one-bar loops to write.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Dataset seed: the same seed and count give the same files.")
@click.option("--sample-rate", type=int, default=44100, show_default=True,
              help="Sample rate of the WAV files in Hz.")
@click.option("--chops", type=FiniteRange(0.0, 1.0), default=0.4, show_default=True,
              help="Share of loops that are re-chops of the recorded breaks; the rest are "
                   "break patterns played on recorded one-shots.")
@click.option("--samples", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder of the recordings (default: /usr/share/sonic-pi/samples).")
@click.option("--jobs", "-j", type=int, default=1, show_default=True,
              help="Processes writing loops at once; the files are the same for any number.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary instead of a line.")
def recorded(out_dir: Path, count: int, seed: int, sample_rate: int, chops: float,
             samples: Path | None, jobs: int, as_json: bool) -> None:
    """Write COUNT one-bar loops of real recorded drums (CC0) to OUT_DIR.

    Re-chops of the recorded breaks (chop-00017-loop_amen.1-137.42bpm.wav) and
    break patterns played on recorded one-shots (kit-00018-amen-151.20bpm.wav),
    from Debian's sonic-pi-samples, every file of which is CC0.
    """
    _check(out_dir, count, seed, sample_rate)
    if not 1 <= jobs <= 256:
        raise VamenError(f"--jobs must be 1..256, not {jobs}")
    from vamen.model.recorded import find_samples, write_dataset

    find_samples(samples)  # one line naming the package, before any folder is made
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise VamenError(f"cannot create {out_dir}: {exc.strerror or exc}") from exc
    with click.progressbar(length=count, label="recording", file=sys.stderr) as bar:
        try:
            paths = write_dataset(out_dir, count, seed, sample_rate=sample_rate, chops=chops,
                                  folder=samples, jobs=jobs, progress=bar.update)
        except OSError as exc:
            raise VamenError(f"cannot write to {out_dir}: {exc.strerror or exc}") from exc
    chopped = sum(p.name.startswith("chop-") for p in paths)
    if as_json:
        click.echo(json.dumps({"out_dir": str(out_dir), "files": len(paths), "chops": chopped,
                               "kit_loops": len(paths) - chopped, "sample_rate": sample_rate,
                               "seed": seed}))
    else:
        click.echo(f"wrote {len(paths)} loops ({chopped} re-chops of recorded breaks, "
                   f"{len(paths) - chopped} patterns on recorded one-shots) to {out_dir}")
