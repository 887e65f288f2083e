"""``vamen eval``: how good is a model."""
from __future__ import annotations

from pathlib import Path

import click

from .common import emit, json_option, load_model, model_option, stderr_bar

HELDOUT_SEED = 7_000_000  # synthetic held-out loops: seeds no dataset command uses by default


@click.command("eval")
@model_option
@click.option("--data", type=click.Path(file_okay=False, exists=True, path_type=Path), default=None,
              help="Folder of held-out breaks (default: fresh synthetic breaks the model never saw).")
@click.option("--loops", type=click.IntRange(2, 10_000), default=48, show_default=True,
              help="Synthetic held-out loops when --data is not given.")
@click.option("--prior", type=click.IntRange(1, 10_000), default=64, show_default=True,
              help="Loops drawn from the prior for the rhythm figure.")
@click.option("--seed", type=int, default=0, show_default=True)
@json_option
def command(model_path, data, loops, prior, seed, as_json):
    """Reconstruction, inversion, active dimensions and rhythm of a model."""
    from vamen.model.dataset import LoopSet, load_folder
    from vamen.model.evaluate import evaluate

    model = load_model(model_path)
    c = model.config
    if data is not None:
        held = load_folder(data, c)
        source = str(data)
    else:
        from vamen.model.synth import synth_break

        held = LoopSet()
        for i in range(loops):
            audio, info = synth_break(HELDOUT_SEED + seed * 100_003 + i, sample_rate=c.sample_rate)
            held.names.append(f"heldout-{i}")
            held.bars.append(audio)
            held.tempos.append(info.tempo)
        source = f"{loops} synthetic breaks never used in training"
    with stderr_bar(len(held) + prior, "evaluating") as bar:
        figures = evaluate(model, held, prior_loops=prior, seed=seed, progress=bar.update)
    figures["model"] = str(model_path or "default")
    figures["heldout_source"] = source
    r = figures["rhythm"]
    emit(figures, as_json, "\n".join([
        f"model: {figures['model']}   held out: {source}",
        f"reconstruction: mel L1 {figures['recon_mel_l1_db']:.2f} dB",
        f"after Griffin-Lim: spectral convergence {figures['spectral_convergence_db']:.2f} dB",
        f"active latent dimensions: {figures['active_dims']}/{figures['latent_dim']}",
        f"onsets on the 16th grid (±{r['tolerance_s'] * 1000:.0f} ms): prior samples "
        f"{r['prior_on_grid']:.3f}, held-out loops {r['heldout_on_grid']:.3f} (ratio {r['ratio']})",
    ]))
