"""``vamen bench``: speed figures, each against a peer measured in the same run."""
from __future__ import annotations

import sys

import click

from vamen.server.options import FiniteRange

from .common import emit, json_option


@click.group("bench")
def command():
    """Benchmarks: render (vs librosa), latency and soak (the running server)."""


@command.command("render")
@click.option("--iterations", type=click.IntRange(1, 512), default=32, show_default=True)
@click.option("--loops", type=click.IntRange(1, 256), default=8, show_default=True,
              help="Distinct synthetic loops to render.")
@click.option("--batch", "batches", type=click.IntRange(1, 4096), multiple=True,
              help="Batch sizes (default 1 and 16; on CUDA 1 to 256).")
@click.option("--librosa-loops", type=click.IntRange(1, 64), default=4, show_default=True)
@click.option("--device", default=None, help="torch device (default: cuda when present).")
@click.option("--features", type=click.Choice(["linear", "mel"]), default="linear",
              show_default=True,
              help="linear: the full-band models (44.1 kHz, every STFT bin; peer librosa "
                   "griffinlim); mel: the older 22.05 kHz mel models (peer mel_to_audio).")
@json_option
def render(iterations, loops, batches, librosa_loops, device, features, as_json):
    """Seconds of audio rendered per second: vamen vs librosa in the same run."""
    import numpy as np
    import torch

    from vamen.model.bench import bench_render
    from vamen.model.config import LoopConfig
    from vamen.model.synth import synth_break

    c = LoopConfig() if features == "linear" else LoopConfig(
        features="mel", sample_rate=22050, db_min=-80.0, db_max=30.0)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if not batches:
        batches = (1, 2, 4, 8, 16, 32, 64, 128, 256) if device.startswith("cuda") else (1, 16)
    # loops exactly frames * hop long, so no resampling enters the comparison
    tempo = 240.0 * c.bars * c.sample_rate / (c.frames * c.hop_length)
    audio = np.stack([synth_break(1000 + i, sample_rate=c.sample_rate, tempo=tempo)[0]
                      for i in range(loops)])
    figures = bench_render(audio, c, iterations, tuple(batches), device, librosa_loops,
                           progress=lambda m: click.echo(f"bench: {m}", err=True))
    lines = [f"render benchmark: {loops} loops of {figures['loop_seconds']} s, "
             f"{iterations} Griffin-Lim iterations, {figures['device']}, "
             f"{figures['threads']} threads"]
    for size, row in figures["vamen"].items():
        lines.append(f"  vamen batch {size:>4}: {row['realtime']:>9.1f}x real time, "
                     f"SC {row['sc_db']:.2f} dB")
    for lib in figures["peers"].values():
        lines.append(f"  librosa {lib['peer']:<13}: {lib['realtime']:>8.2f}x real time; vamen "
                     f"(batch {batches[0]}) is {lib['speedup']}x faster")
        lines.append(f"    on the {lib['loops']} loops librosa rendered: SC vamen "
                     f"{lib['vamen_sc_db_same_loops']:.2f} dB, librosa {lib['sc_db']:.2f} dB, "
                     f"difference {lib['sc_gap_db']:+.2f} dB (negative: vamen is closer)")
    emit(figures, as_json, "\n".join(lines))
    sys.stdout.flush()


awake_option = click.option(
    "--keep-cpu-awake", "awake", is_flag=True,
    help="As vamen serve --keep-cpu-awake: CPUs out of deep sleep (PM QoS) during the run.")


def _engine(model_path, device, blocksize, quantize, autopilot=None, awake=False, **given):
    """An engine for a bench; ``given`` are more :class:`ServeOptions` (``sinks=`` replaces the
    sound card)."""
    import tempfile
    from pathlib import Path

    from vamen.server.engine import Engine
    from vamen.server.options import ServeOptions

    sinks = given.pop("sinks", ("soundcard",))
    if device is None and "soundcard" in sinks:
        try:
            from vamen.server.audio.devices import DeviceError, find_output

            find_output(None)
        except (ImportError, DeviceError):
            sinks = ()  # no sound card: the timer drives the player
    presets = Path(tempfile.mkdtemp(prefix="vamen-bench-")) / "presets.json"
    options = ServeOptions(model=model_path, sinks=sinks, device=device, osc_port=0,
                           blocksize=blocksize, quantize=quantize, presets=presets,
                           autopilot=autopilot, keep_cpu_awake=awake, **given)
    return Engine(options).start()


@command.command("latency")
@click.option("--model", "model_path", type=click.Path(dir_okay=False), default=None)
@click.option("--device", default=None, help="Output device (default: the default output, else none).")
@click.option("--count", type=click.IntRange(5, 10_000), default=50, show_default=True)
@click.option("--blocksize", type=click.IntRange(16, 8192), default=256, show_default=True)
@awake_option
@json_option
def latency(model_path, device, count, blocksize, awake, as_json):
    """OSC /vamen/latent to the first output block of the new loop, at quantise 0."""
    from vamen.server.bench import bench_latency

    from .common import stderr_bar

    engine = _engine(model_path, device, blocksize, 0.0, awake=awake)
    try:
        with stderr_bar(count, "latency") as bar:
            figures = bench_latency(engine, count, progress=bar.update)
    finally:
        engine.close()
    emit(figures, as_json, (
        f"latency over {count} messages ({figures['output']}, {figures['blocksize']}-frame blocks "
        f"at {figures['sample_rate']} Hz): p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms, "
        f"max {figures['max_ms']} ms; plus {figures['device_latency_ms']} ms device latency; "
        f"{figures['missed']} missed, {figures['underruns']} underruns"))


@command.command("soak")
@click.option("--model", "model_path", type=click.Path(dir_okay=False), default=None)
@click.option("--device", default=None, help="Output device (default: the default output, else none).")
@click.option("--minutes", type=FiniteRange(0.05, 10_000), default=10.0, show_default=True)
@click.option("--rate", type=click.IntRange(0, 100_000), default=1000, show_default=True,
              help="OSC messages a second.")
@click.option("--blocksize", type=click.IntRange(16, 8192), default=256, show_default=True)
@click.option("--autopilot", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Scenes to fly (as vamen serve --autopilot); the flood then only asks.")
@click.option("--page", is_flag=True,
              help="Take turns without and with the web page open in a headless Chromium (niced, "
                   "standing in for a phone): what serving the page costs the audio.")
@click.option("--page-client", type=click.Choice(["chromium", "socket"]), default=None,
              help="With --page: what holds the page open. chromium (the default) draws it, on this "
                   "machine's CPUs; socket only reads what the server pushes, as a phone's page does: "
                   "the server's part of the cost alone.")
@click.option("--peer", is_flag=True,
              help="Run jackd2's jack_metro (a C client with no work) on the same JACK server and "
                   "say per minute, and in a verdict, whose underruns they were, by jackd's log.")
@click.option("--jack-log", type=click.Path(dir_okay=False, exists=True), default=None,
              help="jackd's log (the file its output goes to), for --peer. Default: found when the "
                   "running jackd writes to a file, or is jackdbus.")
@click.option("--sink", type=click.Choice(["soundcard", "supercollider"]), default="soundcard",
              show_default=True,
              help="With --peer: what plays vamen's loops on the JACK server. supercollider: scsynth "
                   "(a C++ client, booted by patches/supercollider/vamen.scd beforehand) plays them "
                   "from the buffers vamen fills, and jackd's lines about its client are the "
                   "player's.")
@click.option("--scsynth", default="127.0.0.1:57110", show_default=True,
              help="With --sink supercollider: scsynth's HOST:PORT.")
@click.option("--sclang", default="127.0.0.1:57120", show_default=True,
              help="With --sink supercollider: sclang's HOST:PORT (the patch).")
@click.option("--audio-cpus", default=None, metavar="CPUS",
              help="As vamen serve --audio-cpus: vamen's audio process on these CPUs, the rest of "
                   "vamen on the others. With --peer the peer runs where the player runs (scsynth "
                   "where it was put: taskset -c CPUS).")
@awake_option
@json_option
def soak(model_path, device, minutes, rate, blocksize, autopilot, page, page_client, peer, jack_log, sink,
         scsynth, sclang, audio_cpus, awake, as_json):
    """A noise walk plus an OSC flood: underruns, late loops, memory growth."""
    from vamen.server.bench import bench_soak

    from .common import stderr_bar

    if peer and page:
        raise click.UsageError("--peer and --page measure different things: run them apart")
    if jack_log and not peer:
        raise click.UsageError("--jack-log is read for --peer")
    if page_client and not page:
        raise click.UsageError("--page-client is read for --page")
    if sink != "soundcard" and not peer:
        raise click.UsageError("--sink supercollider is measured with --peer (jackd's log says "
                               "how scsynth fared)")
    if audio_cpus is not None:
        from vamen.server.audio.cpus import split_cpus

        try:
            split_cpus(audio_cpus)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--audio-cpus") from None
    seconds = minutes * 60.0
    if peer:
        played = {"sinks": ("supercollider",), "scsynth": scsynth, "sclang": (sclang,)} \
            if sink == "supercollider" else None
        _soak_peer(model_path, device, minutes, rate, blocksize, autopilot, jack_log, awake, as_json,
                   played, audio_cpus)
        return
    engine = _engine(model_path, device, blocksize, 1.0, autopilot, awake, audio_cpus=audio_cpus)
    if page:
        try:
            _soak_page(engine, seconds, rate, minutes, page_client or "chromium", as_json)
        finally:
            engine.close()
        return
    try:
        with stderr_bar(int(seconds), "soak") as bar:
            figures = bench_soak(engine, seconds, rate, _soak_progress(bar))
    finally:
        engine.close()
    emit(figures, as_json, (
        f"soak {minutes:g} min, {figures['messages']} OSC messages ({rate}/s) on "
        f"{figures['output']}: {figures['underruns']} underruns, {figures['late_loops']} late loops, "
        f"{figures['starved_blocks']} starved blocks; RSS {figures['rss_start_mb']} -> "
        f"{figures['rss_end_mb']} MiB ({figures['rss_growth_pct']:+.2f} %"
        + (f"; {figures['rss_growth_after_warmup_pct']:+.2f} % after the first tenth)"
           if "rss_warm_mb" in figures else ")")
        + _steal_line(figures)))


def _soak_progress(bar):
    done = [0]

    def progress(elapsed):
        step = int(elapsed) - done[0]
        if step > 0:
            bar.update(step)
            done[0] += step

    return progress


def _soak_peer(model_path, device, minutes, rate, blocksize, autopilot, jack_log, awake, as_json,
               played: dict | None = None, audio_cpus: str | None = None) -> None:
    """The soak beside jack_metro on the same JACK server, with jackd's log saying who was late.

    ``played``: the engine's options when scsynth plays vamen's loops (``--sink
    supercollider``); jackd's lines about scsynth's client are then the player's.
    """
    from vamen.server import peer as p
    from vamen.server.bench import bench_soak, steal_seconds

    from .common import stderr_bar

    if not p.jack_running():
        raise p.PeerError(f"--peer needs a running JACK server (named {p.server_name()!r}, "
                          "from JACK_DEFAULT_SERVER): none answers")
    path = jack_log or p.find_jack_log()
    if path is None:
        raise p.PeerError("--peer reads jackd's log to say whose xruns they are, and the running "
                          "jackd does not write to a file: start it with its output in one "
                          "(jackd ... > jackd.log 2>&1) and pass --jack-log jackd.log")
    client = p.SCSYNTH if played else p.VAMEN
    if played and not p.client_ports(client):
        raise p.PeerError(f"--sink supercollider needs scsynth playing on this JACK server (client "
                          f"{client!r}): boot it with the patch first (sclang "
                          "patches/supercollider/vamen.scd)")
    if not played and p.client_ports(client):
        raise p.PeerError(f"a JACK client named {client!r} already plays on this server (a vamen "
                          "serve?): its xruns would be counted as the bench's; stop it first")
    log = p.JackLog(path)
    metro = p.Peer().start()
    try:
        if played:
            engine = _engine(model_path, None, blocksize, 1.0, autopilot, awake,
                             sample_rate=p.jack_rate() or 48000, audio_cpus=audio_cpus, **played)
        else:
            engine = _engine(model_path, device or "JACK", blocksize, 1.0, autopilot, awake,
                             audio_cpus=audio_cpus)
        try:
            player, audio = engine.player, engine.audio_process
            # the yardstick runs where the player runs: pinned apart, it would be spared the
            # player's neighbours (or burdened with vamen's renderer)
            placed = metro.follow(p.pid_of("scsynth") if played else audio.pid if audio else None)
            if played:  # scsynth's JACK thread beside the peer's; vamen hears of no underrun
                watch = p.PeerWatch(log, lambda: 0, lambda: 0, p.pid_of("scsynth"), metro.pid,
                                    steal=steal_seconds, blocksize=blocksize,
                                    sample_rate=engine.sample_rate, vamen=client, player="scsynth")
            else:
                watch = p.PeerWatch(
                    log, lambda: player.underruns, lambda: getattr(player, "slow_callbacks", 0),
                    audio.pid if audio is not None else None, metro.pid, steal=steal_seconds,
                    slow_cpu=lambda: getattr(player, "slow_cpu_callbacks", 0),
                    callback=(lambda: (player.callback_seconds, player.blocks)) if audio else None,
                    portaudio=(lambda: player.portaudio_load) if audio else None,
                    blocksize=blocksize, sample_rate=engine.sample_rate)
            with stderr_bar(int(minutes * 60.0), "soak --peer") as bar:
                figures = bench_soak(engine, minutes * 60.0, rate, _soak_progress(bar), peer=watch)
            if played:
                sink = engine.health()
                figures.update(supercollider_sent=sink.get("supercollider_sent"),
                               supercollider_dropped=sink.get("supercollider_dropped"))
        finally:
            engine.close()
    finally:
        metro.close()
    figures["peer"].update(jack_log=str(path), peer_connected_to=metro.connected_to,
                           player=client, cpus=placed)
    emit(figures, as_json, _peer_text(figures, minutes, rate))


#: columns of the per-minute table: (heading, key, width)
PEER_COLUMNS = (("min", "minute", 4), ("s", "seconds", 5), ("underruns", "underruns", 9),
                ("slow (cpu)", "slow", 10), ("vamen late (srv/unw/own)", "vamen", 24),
                ("peer late (srv/unw/own)", "peer", 23), ("timer", "driver_late", 5),
                ("steal s", "steal_seconds", 7), ("vamen cpu us", "vamen_cpu_us_per_cycle", 12),
                ("peer cpu us", "peer_cpu_us_per_cycle", 11),
                ("vamen rq ms/s", "vamen_runqueue_ms_per_s", 13),
                ("peer rq ms/s", "peer_runqueue_ms_per_s", 12),
                ("callback us", "callback_us_mean", 11), ("portaudio us", "portaudio_us_mean", 12))


def _cell(row: dict, key: str) -> str:
    if key in ("vamen", "peer"):
        # srv: in a cycle the server began late; unw: not yet woken; own: woken, given its period
        return f"{row[key + '_late']} ({row[key + '_timer_late']}/{row[key + '_unwoken']}/{row[key + '_own']})"
    if key == "slow":
        return f"{row['slow_callbacks']} ({row['slow_cpu_callbacks']})"
    value = row.get(key)
    return "-" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def _peer_text(figures: dict, minutes: float, rate: int) -> str:
    """The per-minute table, the run's other figures, and the verdict line last."""
    from vamen.server.peer import PEER

    peer = figures["peer"]
    sc = peer.get("player", "vamen") != "vamen"
    on = f"scsynth (JACK client {peer['player']!r}, fed by the supercollider sink)" if sc else figures["output"]
    name = "scsynth" if sc else "vamen"  # whose JACK thread the vamen_* figures are
    heads = [h.replace("vamen", name) for h, _, _ in PEER_COLUMNS]
    widths = [max(w, len(h)) for h, (_, _, w) in zip(heads, PEER_COLUMNS)]
    lines = [f"soak --peer {minutes:g} min, {figures['messages']} OSC messages ({rate}/s) on "
             f"{on}, beside jack_metro (client {PEER!r}); jackd's log: {peer['jack_log']}",
             "  ".join(f"{h:>{w}}" for h, w in zip(heads, widths))]
    cpus = peer.get("cpus") or {}
    if cpus:
        lines.insert(1, f"CPUs: {name} on {cpus['player'] or '?'}, the peer on {cpus['peer'] or '?'}, "
                        f"vamen's renderer and OSC on {cpus['vamen']}")
    for row in peer["rows"]:
        lines.append("  ".join(f"{_cell(row, k):>{w}}" for (_, k, _), w in zip(PEER_COLUMNS, widths)))
    lines.append(
        f"late loops {figures['late_loops']}, starved blocks {figures['starved_blocks']}, "
        f"slow callbacks {figures.get('slow_callbacks', '-')} ({peer['totals']['slow_cpu_callbacks']} slow in CPU "
        f"time; longest {figures.get('callback_max_ms', '-')} ms); "
        f"RSS {figures['rss_start_mb']} -> {figures['rss_end_mb']} MiB ({figures['rss_growth_pct']:+.2f} %"
        + (f"; {figures['rss_growth_after_warmup_pct']:+.2f} % after the first tenth)"
           if "rss_warm_mb" in figures else ")"))
    cycle = peer["cycle"]
    if "vamen_cpu_us_per_cycle" in cycle:
        lines.append(
            f"where a cycle went (means): {name}'s JACK thread {cycle['vamen_cpu_us_per_cycle']} us of CPU, "
            f"PortAudio's callback {cycle.get('portaudio_us_mean', '-')} us, vamen's Python callback "
            f"{cycle.get('callback_us_mean', '-')} us; the peer's thread "
            f"{cycle.get('peer_cpu_us_per_cycle', '-')} us; ready but not running: {name} "
            f"{cycle['vamen_runqueue_ms_per_s']} ms/s, the peer {cycle.get('peer_runqueue_ms_per_s', '-')} ms/s")
    for who in ("vamen", "peer"):
        late, calm = peer["by_second"][f"{who}_late"], peer["by_second"][f"{who}_calm"]
        if late["seconds"]:
            lines.append(
                f"{name if who == 'vamen' else who} late in {late['seconds']} s: its thread ready but not running "
                f"{late['runqueue_ms_per_s']} ms/s then, {calm['runqueue_ms_per_s']} ms/s in the other "
                f"{calm['seconds']} s; host steal {late['steal_ms_per_s']} against {calm['steal_ms_per_s']} ms/s")
    lines.append(peer["verdict"])
    return "\n".join(lines)


def _soak_page(engine, seconds, rate, minutes, client, as_json) -> None:
    from vamen.server.bench import bench_soak_page
    from vamen.server.web.browser import open_page, open_socket

    from .common import stderr_bar

    with stderr_bar(int(seconds), "soak --page") as bar:
        figures = bench_soak_page(engine, seconds, rate, open_page if client == "chromium" else open_socket,
                                  progress=_soak_progress(bar))
    figures["page_client"] = client
    a, b = figures["without_page"], figures["with_page"]
    emit(figures, as_json, (
        f"soak {minutes:g} min on {figures['output']}, {rate} OSC messages/s and a walk, in turns: "
        f"without the page {a['underruns']} underruns, {a['late_loops']} late loops, {a['starved_blocks']} "
        f"starved blocks; with the page open ({client}) {b['underruns']} underruns, {b['late_loops']} late "
        f"loops, {b['starved_blocks']} starved blocks"
        + (f"; the serving thread's CPU {a['web_cpu_ms_per_s']:g} ms/s without the page, "
           f"{b['web_cpu_ms_per_s']:g} ms/s with it" if b["web_cpu_ms_per_s"] is not None else "")))


def _steal_line(figures: dict) -> str:
    """Whose underruns: the seconds that had them, and how many of those the host stole."""
    if not figures["underruns"] or figures["steal_seconds"] is None:
        return ""
    return (f"; underruns in {figures['seconds_with_underruns']} s, "
            f"{figures['seconds_with_underruns_and_steal']} of them with host steal, "
            f"{figures['seconds_with_underruns_and_slow_callbacks']} with a slow callback "
            f"(steal in {figures['seconds_with_steal']} s of the run, {figures['steal_seconds']} s in all)")
