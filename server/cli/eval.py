"""``vamen eval``: how good is a model."""
from __future__ import annotations

from pathlib import Path

import click

from .common import emit, json_option, load_model, model_option, stderr_bar

HELDOUT_SEED = 7_000_000  # synthetic held-out loops: seeds no dataset command uses by default


def _kit_like_training(model):
    """The drums the model's held-out loops are played on: the training corpus's kind.

    A model trained on ``vamen dataset recorded`` is judged on new patterns
    played on the recorded one-shots (seeds no dataset command uses); any
    other on the procedural kit.
    """
    generator = model.meta.get("dataset", {}).get("generator") if isinstance(
        model.meta.get("dataset"), dict) else None
    if generator == "vamen dataset recorded":
        from vamen.model.errors import VamenError
        from vamen.model.recorded import APT_PACKAGE, SampleBank

        try:
            bank = SampleBank.load(sample_rate=model.config.sample_rate)
        except VamenError:  # no recordings here: judge on the procedural kit, and say so
            return None, f"synthetic breaks (the recorded kit needs {APT_PACKAGE})"
        return bank.kit, "breaks on recorded CC0 one-shots"
    return None, "synthetic breaks"


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

        kit, kind = _kit_like_training(model)
        held = LoopSet()
        for i in range(loops):
            audio, info = synth_break(HELDOUT_SEED + seed * 100_003 + i, sample_rate=c.sample_rate,
                                      kit=kit)
            held.names.append(f"heldout-{i}")
            held.bars.append(audio)
            held.tempos.append(info.tempo)
        source = f"{loops} {kind} never used in training"
    with stderr_bar(len(held) + prior, "evaluating") as bar:
        figures = evaluate(model, held, prior_loops=prior, seed=seed, progress=bar.update)
    figures["model"] = str(model_path or "default")
    figures["heldout_source"] = source
    r = figures["rhythm"]
    lis = figures["listening"]

    def row(name: str, f: dict) -> str:
        return (f"  {name:<14}{f.get('dynamic_range_db', float('nan')):>8.1f} dB"
                f"{f.get('hats_range_db', float('nan')):>10.1f} dB{f.get('air', float('nan')):>9.3f}")

    emit(figures, as_json, "\n".join([
        f"model: {figures['model']}   held out: {source}",
        f"reconstruction: mel L1 {figures['recon_mel_l1_db']:.2f} dB",
        f"encode -> decode -> render: spectral convergence "
        f"{figures['spectral_convergence_db']:.2f} dB, onset correlation "
        f"{figures['onset_correlation']:.3f} ({figures['fit_steps']} fitting steps; the encoder "
        f"alone: {figures['encoder_alone']['spectral_convergence_db']:.2f} dB, "
        f"{figures['encoder_alone']['onset_correlation']:.3f})",
        f"renderer alone (the loops' own {c.features} features): spectral convergence "
        f"{figures['renderer_sc_db']:.2f} dB",
        f"at {c.sample_rate} Hz, median of   range      hats' range    air (>8 kHz)",
        row("real loops", lis["real"]), row("reconstructed", lis["reconstructed"]),
        row("prior draws", lis["prior"]),
        f"active latent dimensions: {figures['active_dims']}/{figures['latent_dim']}",
        f"onsets on the 16th grid (±{r['tolerance_s'] * 1000:.0f} ms): prior samples "
        f"{r['prior_on_grid']:.3f}, held-out loops {r['heldout_on_grid']:.3f} (ratio {r['ratio']})",
    ]))
