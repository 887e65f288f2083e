"""Render benchmark: vamen's batched fast Griffin-Lim against librosa.

Both start from the same features with the same STFT settings and iteration
count: for a mel model librosa's peer is ``mel_to_audio`` (NNLS mel
inversion, then Griffin-Lim); for a linear model, which needs no mel
inversion, it is ``griffinlim`` on the same magnitudes, the stricter peer; both outputs are scored by spectral convergence
against the original audio's STFT magnitude, computed by librosa for both.
Speed is reported as seconds of audio per second of wall time, and as a
ratio to librosa measured in the same run, never as absolute thresholds.
"""
from __future__ import annotations

import time
from typing import Callable

import numpy as np
import torch

from .config import LoopConfig
from .features import MelFrontEnd
from .inversion import LoopRenderer


def _sc_db(audio: np.ndarray, reference: np.ndarray, n_fft: int, hop: int) -> float:
    import librosa

    est = np.abs(librosa.stft(audio, n_fft=n_fft, hop_length=hop))
    ref = np.abs(librosa.stft(reference, n_fft=n_fft, hop_length=hop))
    return float(20 * np.log10(np.linalg.norm(est - ref) / np.linalg.norm(ref) + 1e-12))


def _timed(fn: Callable[[], object], min_seconds: float = 1.0, min_runs: int = 2) -> tuple[float, object]:
    """Best-of wall time of ``fn``: the least disturbed run on a shared machine."""
    fn()  # warm-up: caches, JIT, thread pools
    best, runs, spent, result = float("inf"), 0, 0.0, None
    while runs < min_runs or spent < min_seconds:
        t = time.perf_counter()
        result = fn()
        dt = time.perf_counter() - t
        best, runs, spent = min(best, dt), runs + 1, spent + dt
    return best, result


def bench_render(loops: np.ndarray, config: LoopConfig, iterations: int = 32,
                 batches: tuple[int, ...] = (1, 16), device: str = "cpu",
                 librosa_loops: int = 4, refine: int = 0,
                 progress: Callable[[str], None] | None = None) -> dict:
    """Benchmark rendering of one-loop audio ``loops`` [shape=(N, L)] at the model rate.

    Returns
    -------
    dict with the settings and, for each contender, ``realtime`` (seconds of
    audio per wall second), ``seconds_per_loop`` and ``sc_db``; plus
    ``speedup_vs_librosa`` and ``sc_gap_db`` (vamen at the first batch size minus
    librosa, on the loops librosa rendered; negative means vamen is closer).
    """
    import librosa

    say = progress or (lambda _msg: None)
    c = config
    front = MelFrontEnd(c)
    audio = torch.from_numpy(np.ascontiguousarray(loops, dtype=np.float32))
    fitted, hop = front.fit_loop(audio)
    mel = front.normalise(front.power_mel(fitted))
    power = front.denormalise(mel).numpy()  # mel power, or linear power per bin
    # librosa frames centred windows up to and including sample L; on a loop
    # that last frame is the first one again
    power = np.concatenate([power, power[..., :1]], axis=-1)
    reference = fitted.numpy()
    # the loops' own tempo makes the output exactly as long as the reference
    tempo = c.bars * 240.0 * c.sample_rate / reference.shape[-1]
    seconds = reference.shape[-1] / c.sample_rate
    renderer = LoopRenderer(c, iterations=iterations, refine=refine)
    dev = torch.device(device)
    mel_dev = mel.to(dev)
    result = {"iterations": iterations, "n_fft": c.n_fft, "hop": hop, "features": c.features,
              "n_bins": c.n_bins,
              "sample_rate": c.sample_rate, "loop_seconds": round(seconds, 4),
              "loops": len(loops), "device": str(dev), "threads": torch.get_num_threads(),
              "vamen": {}}

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize()

    def render(batch: torch.Tensor) -> np.ndarray:
        out, _ = renderer.render(batch, tempo=tempo, sample_rate=c.sample_rate)
        sync()
        return out.cpu().numpy()

    n_loops = len(mel_dev)
    for size in batches:
        say(f"vamen, batch {size}")
        # every batch size renders (at least) all loops, so SC covers the same set
        reps = -(-size // n_loops)
        pool = mel_dev.repeat(reps, 1, 1) if reps > 1 else mel_dev
        chunks = [pool[i:i + size] for i in range(0, max(size, n_loops), size)]
        wall, outs = _timed(lambda: [render(chunk) for chunk in chunks])
        out = np.concatenate(outs)[:n_loops]
        if size == batches[0]:
            out_first = out
        rendered = sum(len(chunk) for chunk in chunks)
        sc = float(np.mean([_sc_db(out[i], reference[i], c.n_fft, hop) for i in range(n_loops)]))
        result["vamen"][str(size)] = {"realtime": round(rendered * seconds / wall, 1),
                                      "seconds_per_loop": round(wall / rendered, 5),
                                      "sc_db": round(sc, 3)}
    linear = c.features == "linear"
    # the same work first; for a linear model also the mel path it replaces
    peers = ("griffinlim", "mel_to_audio") if linear else ("mel_to_audio",)
    count = min(librosa_loops, len(power))
    if linear:
        import librosa.filters

        fb = librosa.filters.mel(sr=c.sample_rate, n_fft=c.n_fft, n_mels=c.n_mels,
                                 fmin=c.fmin, fmax=c.mel_fmax).astype(np.float32)
        mel_power = fb @ power
    else:
        mel_power = power

    def librosa_one(peer: str, i: int) -> np.ndarray:
        if peer == "griffinlim":
            return librosa.griffinlim(np.sqrt(power[i]), n_iter=iterations, hop_length=hop,
                                      n_fft=c.n_fft, length=reference.shape[-1])
        return librosa.feature.inverse.mel_to_audio(
            mel_power[i], sr=c.sample_rate, n_fft=c.n_fft, hop_length=hop, n_iter=iterations,
            fmin=c.fmin, fmax=c.mel_fmax, length=reference.shape[-1])

    # vamen's SC on the very loops librosa rendered, for a like-for-like gap
    vamen_sc = float(np.mean([_sc_db(out_first[i], reference[i], c.n_fft, hop)
                              for i in range(count)]))
    one = result["vamen"][str(batches[0])]
    result["peers"] = {}
    for peer in peers:
        say(f"librosa {peer}")
        wall, outs = _timed(lambda: [librosa_one(peer, i) for i in range(count)],
                            min_seconds=0.0, min_runs=1)
        sc = float(np.mean([_sc_db(outs[i], reference[i], c.n_fft, hop) for i in range(count)]))
        realtime = round(count * seconds / wall, 2)
        result["peers"][peer] = {
            "peer": peer, "loops": count, "realtime": realtime,
            "seconds_per_loop": round(wall / count, 4), "sc_db": round(sc, 3),
            "vamen_sc_db_same_loops": round(vamen_sc, 3),
            "speedup": round(one["realtime"] / realtime, 1),
            # the difference of the two figures printed side by side, rounded the same way
            "sc_gap_db": round(round(vamen_sc, 3) - round(sc, 3), 3),
        }
    first = result["peers"][peers[0]]
    result["librosa"] = first
    result["speedup_vs_librosa"] = first["speedup"]
    result["sc_gap_db"] = first["sc_gap_db"]
    return result
