"""Server benchmarks: control latency and a soak under an OSC flood.

Both run a real server in this process, on the sound card named by
``device`` (a JACK dummy server in CI), or on the timer when there is none.
"""
from __future__ import annotations

import os
import socket
import threading
import time
from typing import Callable

import numpy as np
from pythonosc.osc_message_builder import OscMessageBuilder

from .ops.trouble import rss_mb, rss_of


def steal_seconds() -> float | None:
    """CPU time the hypervisor took from this machine's vCPUs, summed (Linux).

    A real-time thread on a vCPU the host has descheduled cannot run, whatever
    its priority: where underruns line up with steal, the host caused them.
    """
    try:
        with open("/proc/stat") as fh:
            fields = fh.readline().split()
        return int(fields[8]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


class UnderrunWatch:
    """Per-second windows of underruns and host steal, to say whose they are."""

    def __init__(self, underruns: Callable[[], int], slow: Callable[[], int] = lambda: 0):
        self.underruns, self.slow = underruns, slow
        self.windows = 0
        self.with_underruns = 0
        self.with_steal = 0
        self.with_both = 0
        self.with_slow = 0
        self._last = (underruns(), steal_seconds(), slow())
        self._steal0 = self._last[1]

    def tick(self) -> None:
        under, steal, slow = self.underruns(), steal_seconds(), self.slow()
        was_under, was_steal, was_slow = self._last
        self._last = (under, steal, slow)
        hit = under > was_under
        stolen = steal is not None and was_steal is not None and steal > was_steal
        self.windows += 1
        self.with_underruns += hit
        self.with_steal += stolen
        self.with_both += hit and stolen
        self.with_slow += hit and slow > was_slow

    def figures(self) -> dict:
        steal = steal_seconds()
        total = None if steal is None or self._steal0 is None else round(steal - self._steal0, 2)
        return {"steal_seconds": total, "seconds_with_underruns": self.with_underruns,
                "seconds_with_steal": self.with_steal,
                "seconds_with_underruns_and_steal": self.with_both,
                "seconds_with_underruns_and_slow_callbacks": self.with_slow}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _dgram(address: str, *args) -> bytes:
    builder = OscMessageBuilder(address)
    for arg in args:
        builder.add_arg(arg)
    return builder.build().dgram


def bench_latency(engine, count: int = 50, pause: float = 0.25,
                  progress: Callable[[int], None] | None = None) -> dict:
    """Time from sending ``/vamen/latent`` to the block that plays the new loop.

    ``engine`` is a started :class:`~vamen.server.engine.Engine` at quantise 0
    with no walk, so every cue switch is one of ours.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    target = ("127.0.0.1", engine.osc.port)
    rng = np.random.default_rng(0)
    dim = engine.model.latent_dim
    player = engine.player
    times, missed = [], 0
    sock.sendto(_dgram("/vamen/quantize", 0.0), target)
    time.sleep(pause)
    for i in range(count):
        point = rng.standard_normal(dim).astype(np.float32).tolist()
        before = player.switches
        sent = time.perf_counter()
        sock.sendto(_dgram("/vamen/latent", *point), target)
        deadline = sent + 2.0
        while player.switches == before and time.perf_counter() < deadline:
            time.sleep(0.0005)
        if player.switches == before:
            missed += 1
        else:
            times.append(player.switch_time - sent)
        if progress:
            progress(1)
        time.sleep(pause)
    sock.close()
    ms = np.asarray(times) * 1000.0
    out_ms = float(getattr(engine.output, "latency", 0.0)) * 1000.0
    return {
        "messages": count, "missed": missed, "sample_rate": engine.sample_rate,
        "blocksize": engine.options.blocksize, "output": engine.output_name,
        "p50_ms": round(float(np.percentile(ms, 50)), 2) if len(ms) else None,
        "p99_ms": round(float(np.percentile(ms, 99)), 2) if len(ms) else None,
        "max_ms": round(float(ms.max()), 2) if len(ms) else None,
        "device_latency_ms": round(out_ms, 2),
        "render_ms_p50": round(engine.worker.render_ms()[0], 2),
        "underruns": engine.player.underruns,
    }


#: The share of a soak after which the working set counts as filled in.
WARMUP_SHARE = 0.1


def _after_warmup(samples: list[tuple[float, float]], seconds: float, rss_end: float) -> dict:
    """RSS growth from the end of the warm-up (the first tenth of the run) on.

    A leak grows for as long as the server runs; a working set fills in
    once (the scenes' tempos, the allocator's arenas) and stays. Growth from
    the start mixes the two; growth after the warm-up is the leak alone.
    """
    warm = next((r for t, r in samples if t >= WARMUP_SHARE * seconds), None)
    if warm is None:
        return {}
    return {"rss_warm_mb": round(warm, 1),
            "rss_growth_after_warmup_pct": round(100.0 * (rss_end - warm) / warm, 2)}


def bench_soak(engine, seconds: float, rate: int = 1000,
               progress: Callable[[float], None] | None = None, peer=None) -> dict:
    """A noise walk plus ``rate`` OSC messages a second for ``seconds``.

    With the engine's autopilot flying, the autopilot moves the music and the
    flood is ``/vamen/ping`` and ``/vamen/state`` (questions, which leave it
    flying), so the soak measures an installation being watched, not a
    performer taking over every millisecond.

    ``peer``, a :class:`~vamen.server.peer.PeerWatch`, is ticked every second
    beside the run (a C client on the same JACK server, and jackd's log); its
    per-minute rows and verdict come back under ``"peer"``.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    target = ("127.0.0.1", engine.osc.port)
    dim = engine.model.latent_dim
    flying = getattr(engine, "autopilot", None) is not None and engine.autopilot.on
    if not flying:
        sock.sendto(_dgram("/vamen/walk", 1.0, 1.0, 1), target)
    time.sleep(1.0)
    if peer is not None:
        peer.begin()  # a second to find the JACK threads, before anything is counted
    bar0 = int(engine.now_beat() // 4)
    rss_start = rss_mb()
    under0, late0 = engine.player.underruns, engine.worker.late
    slow0 = getattr(engine.player, "slow_callbacks", 0)
    slow_cpu0 = getattr(engine.player, "slow_cpu_callbacks", 0)
    starved0 = engine.player.starved
    rng = np.random.default_rng(1)
    sent = 0
    started = time.monotonic()
    stop = threading.Event()
    samples = []

    scenes: set[str] = set()
    audio = getattr(engine, "audio_process", None)
    audio_rss = [rss_of(audio.pid)] if audio is not None and audio.pid else []
    watch = UnderrunWatch(lambda: engine.player.underruns,
                          lambda: getattr(engine.player, "slow_callbacks", 0))

    def sample():
        ticks = 0
        while not stop.wait(1.0):
            watch.tick()
            if peer is not None:
                peer.tick()
            ticks += 1
            if ticks % 5:
                continue
            samples.append((time.monotonic() - started, rss_mb()))
            if flying:
                scenes.add(str(engine.autopilot.state(engine.now_beat())["autopilot_scene"]))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    while (elapsed := time.monotonic() - started) < seconds:
        due = int(elapsed * rate)
        while sent < due:
            if flying:
                sock.sendto(_dgram("/vamen/state" if sent % 100 == 0 else "/vamen/ping"), target)
            else:
                i = int(rng.integers(dim))
                sock.sendto(_dgram(f"/vamen/latent/{i}", float(rng.uniform(-2, 2))), target)
            sent += 1
            if sent % 50 == 0:
                sock.sendto(_dgram("/vamen/ping"), target)
        if progress:
            progress(elapsed)
        time.sleep(0.002)
    stop.set()
    sampler.join(timeout=2.0)
    if peer is not None:
        peer.finish()
    rss_end = rss_mb()
    if audio_rss:
        audio_rss.append(rss_of(audio.pid) if audio.pid else None)
    sock.close()
    return {
        "seconds": round(seconds, 1), "messages": sent, "rate": rate,
        "underruns": engine.player.underruns - under0,
        "starved_blocks": engine.player.starved - starved0,
        "late_loops": engine.worker.late - late0,
        "renders": engine.worker.renders,
        "render_ms_p50": round(engine.worker.render_ms()[0], 2),
        "render_ms_p99": round(engine.worker.render_ms()[1], 2),
        "rss_start_mb": round(rss_start, 1), "rss_end_mb": round(rss_end, 1),
        "rss_peak_mb": round(max([r for _, r in samples] + [rss_end]), 1),
        "rss_growth_pct": round(100.0 * (rss_end - rss_start) / rss_start, 2),
        **_after_warmup(samples, seconds, rss_end),
        # above --osc-rate (2000/s by default) one sender is held back: say so
        "osc_dropped": engine.osc.health()["osc_dropped"],
        "output": engine.output_name,
        "bars": int(engine.now_beat() // 4) - bar0,
        "autopilot": flying,
        "cpu_awake": bool(getattr(engine, "cpu_awake", None) and engine.cpu_awake.holding),
        **({"autopilot_scenes": sorted(scenes)} if flying else {}),
        **({"audio_restarts": audio.restarts,
            "slow_callbacks": engine.player.slow_callbacks - slow0,
            "slow_cpu_callbacks": engine.player.slow_cpu_callbacks - slow_cpu0,
            "callback_max_ms": round(engine.player.callback_max_ms, 2)} if audio is not None else {}),
        # the audio process is its own: its memory counted apart (shared loop pool included)
        **({"audio_rss_start_mb": _round(audio_rss[0]), "audio_rss_end_mb": _round(audio_rss[-1])}
           if audio_rss else {}),
        **watch.figures(),
        **({"peer": peer.figures()} if peer is not None else {}),
    }


PAGE_COUNTS = ("underruns", "starved_blocks", "late_loops", "messages")


def bench_soak_page(engine, seconds: float, rate: int, open_page: Callable[[str], object],
                    rounds: int = 2, progress: Callable[[float], None] | None = None) -> dict:
    """The soak in turns without and with the web page open, on one engine: what the page costs.

    The web server runs throughout (``engine.start_web``). The run is cut
    into ``2 * rounds`` equal turns, without a page then with one, so drift
    over the run (a warming cache, a busy neighbour) falls on both sides
    alike. ``open_page(url)`` opens a browser on the page before a turn with
    it (not measured) and returns something with ``quit()``. Returns the
    counts of each side summed (``without_page``, ``with_page``: underruns,
    starved blocks, late loops, messages), the serving thread's CPU time per
    second on each side (``web_cpu_ms_per_s``: what the server does for a
    page, free of the host's steal that moves the counts from turn to turn)
    and each turn's own figures.
    """
    from vamen.server.peer import thread_times

    web = engine.web or engine.start_web()

    def web_cpu() -> float | None:
        times = thread_times(os.getpid(), web.thread_id) if web.thread_id else None
        return times[0] if times else None

    turn = seconds / (2 * rounds)
    sides = {"without_page": dict.fromkeys(PAGE_COUNTS, 0), "with_page": dict.fromkeys(PAGE_COUNTS, 0)}
    turns = []
    done = 0.0
    for _ in range(rounds):
        for side in sides:
            browser = open_page(web.url) if side == "with_page" else None
            try:
                cpu = web_cpu()
                figures = bench_soak(engine, turn, rate,
                                     (lambda e, done=done: progress(done + e)) if progress else None)
                figures["pages"] = web.health()["web_pages"]
                if cpu is not None and (after := web_cpu()) is not None:
                    figures["web_cpu_ms_per_s"] = round(1000.0 * (after - cpu) / turn, 3)
            finally:
                if browser is not None:
                    browser.quit()
            done += turn
            turns.append({"side": side, **figures})
            for key in PAGE_COUNTS:
                sides[side][key] += figures[key]
    for side, counts in sides.items():
        cpu = [t["web_cpu_ms_per_s"] for t in turns if t["side"] == side and "web_cpu_ms_per_s" in t]
        counts["web_cpu_ms_per_s"] = round(sum(cpu) / len(cpu), 3) if cpu else None
    return {"seconds": round(seconds, 1), "rate": rate, "output": engine.output_name, **sides, "turns": turns}
