"""``vamen render``: bars of breakbeat to a WAV file, no server needed."""
from __future__ import annotations

from pathlib import Path

import click

from vamen.server.options import FiniteRange

from .common import load_model, model_option

FADE_SECONDS = 0.005


def _output_format(out: Path) -> tuple[str, str]:
    """(libsndfile format, subtype) for OUT's extension, checked before any work.

    A render of 200 bars takes tens of seconds: a name libsndfile cannot
    write, or a folder that does not exist, is refused before it starts.
    16-bit PCM where the format takes it, else the format's own default
    (MP3, Ogg Vorbis).
    """
    import soundfile as sf

    from vamen.model.errors import VamenError

    fmt = out.suffix[1:].upper()
    fmt = {"AIF": "AIFF", "OGA": "OGG"}.get(fmt, fmt)
    if fmt not in sf.available_formats():
        raise VamenError(f"cannot write {out}: give it an audio extension "
                         f"(.wav, .flac, .ogg, .aiff{', .mp3' if 'MP3' in sf.available_formats() else ''})")
    if not out.parent.is_dir():
        raise VamenError(f"cannot write {out}: the folder {out.parent} does not exist")
    subtype = "PCM_16" if sf.check_format(fmt, "PCM_16") else sf.default_subtype(fmt)
    return fmt, subtype


def _point(text: str, model, seed: int):
    """Resolve a point: anchor index, anchor name or 'random'."""
    from vamen.server.core.motion import prior_point

    if text == "random":
        return prior_point(model.latent_dim, 1.0, seed, model.prior)
    names = model.anchor_names
    if text.lstrip("-").isdigit():
        i = int(text)
        if not 0 <= i < len(names):
            raise click.BadParameter(f"anchor index {i} is out of range 0..{len(names) - 1}")
        return model.anchor_latents[i].numpy()
    from vamen.server.core.points import anchor_index, near_names

    index = anchor_index(text, names)  # a training file's name, extension or not
    if index is not None:
        return model.anchor_latents[index].numpy()
    raise click.BadParameter(f"{text!r} is not an anchor index, an anchor name or 'random'"
                             f"{near_names(text, names)} (vamen anchors lists them)")


def _latent(text: str, dim: int):
    import numpy as np

    try:
        values = [float(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        raise click.BadParameter("--latent takes comma-separated numbers") from None
    point = np.zeros(dim, dtype=np.float32)
    if 1 <= len(values) <= dim:
        with np.errstate(over="ignore"):  # 1e308 is inf as a float32: refused below, not warned about
            point[: len(values)] = values
    if not 1 <= len(values) <= dim or not np.isfinite(point).all():
        raise click.BadParameter(f"--latent takes 1 to {dim} finite numbers")
    return point


@click.command("render")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@model_option
@click.option("--bars", type=click.IntRange(1, 10_000), default=4, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seeds the starting point, the walk and the phase.")
@click.option("--latent", default=None, help="Start point as comma-separated latent values.")
@click.option("--walk", type=FiniteRange(0, 4), default=0.0, show_default=True,
              help="Noise-walk depth in latent units.")
@click.option("--walk-rate", type=FiniteRange(0, 16), default=0.5, show_default=True,
              help="Walk speed in cycles per bar, roughly.")
@click.option("--morph", nargs=2, default=None, metavar="POINT POINT",
              help="Travel from one point to another over the bars (anchor index or name, or random).")
@click.option("--tempo", type=FiniteRange(20, 400), default=None,
              help="BPM (default: the model's reference tempo).")
@click.option("--sample-rate", type=click.IntRange(8000, 192000), default=None,
              help="Output rate (default: the model's).")
@click.option("--iterations", type=click.IntRange(1, 512), default=None,
              help="Griffin-Lim iterations (default 32).")
@click.option("--encode", "encode_file", type=click.Path(dir_okay=False, path_type=Path),
              default=None,
              help="Play the model's version of every bar of this audio file, at the file's "
                   "own tempo (or --tempo) and bar count, to hear what the model makes of it.")
def command(out, model_path, bars, seed, latent, walk, walk_rate, morph, tempo, sample_rate,
            iterations, encode_file):
    """Render BARS bars of breakbeat from the model to OUT (WAV)."""
    import numpy as np
    import soundfile as sf

    import torch

    from vamen.server.render.loops import join_bars
    from vamen.server.render.worker import RENDER_THREADS
    from vamen.server.core.motion import Morph, Still, Walk, prior_point

    fmt, subtype = _output_format(out)
    if encode_file is not None and (latent or morph or walk > 0):
        raise click.UsageError("--encode plays the file's own bars: it takes no --latent, "
                               "--morph or --walk")
    model = load_model(model_path)
    # One torch thread, as the server's renderer has: the same seed then gives
    # the same file on a busy machine too. With 2 threads and 3 renders on 2
    # cores, 3 files in 57 came out different (a float's worth upstream, which
    # Griffin-Lim's 32 iterations carry to 1 %); with 1 thread, 0 in 45. A
    # 16-bar render took 8.2 s on 1 thread and 8.5 s on 2 (4 December).
    torch.set_num_threads(RENDER_THREADS)
    dim = model.latent_dim
    if encode_file is not None:
        file_tempo, points = model.encode_bars(encode_file)
        bars, tempo = len(points), tempo or file_tempo
        path = None
    elif morph:
        start, end = (_point(p, model, seed + k) for k, p in enumerate(morph))
        path = Morph(start, end, 0.0, 4.0 * max(bars - 1, 1), "smooth")
    else:
        start = _latent(latent, dim) if latent else prior_point(dim, 1.0, seed, model.prior)
        path = Still(start)
    if walk > 0:
        path = Walk(path, walk, walk_rate, seed)
    if path is not None:
        points = np.stack([path.at(4.0 * bar) for bar in range(bars)]).astype(np.float32)
    tempo = tempo or model.config.tempo
    rate = sample_rate or model.config.sample_rate
    loops, _ = model.render(points, tempo=tempo, sample_rate=rate, iterations=iterations, seed=seed)
    audio = join_bars(loops, int(FADE_SECONDS * rate))
    peak = float(np.abs(audio).max())
    if peak > 0.98:  # a render never clips: scale the whole file down instead
        audio *= 0.98 / peak
    sf.write(str(out), audio, rate, format=fmt, subtype=subtype)
    source = f" (the model's version of {encode_file.name})" if encode_file else ""
    click.echo(f"wrote {out}{source}: {bars} bar{'s' if bars != 1 else ''} at {tempo:.6g} BPM, {len(audio) / rate:.3f} s, "
               f"{rate} Hz, peak {min(peak, 0.98):.2f}")
