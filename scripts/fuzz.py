"""``make fuzz``: bad input at every door of a live ``vamen serve``, and through the real file loaders.

Four runs, each seeded (``--seed``), so a failure replays:

OSC
    Starts ``vamen serve`` (the file sink: no sound card needed; no rate
    limit, so every datagram reaches the decoder; a log file) and sends it
    mutated datagrams in bursts from one socket: noise, bit flips,
    truncations, bytes spliced in, absurd type tags and counts, bundles
    nested deep or grown huge or with sizes that lie, and well-formed
    messages the control thread must refuse (an anchor that is not there, a
    preset never saved). Only datagrams vamen's own decoder and parser
    refuse are sent, plus those refusals, so none of it may change anything.
    After each burst, from a second socket: ``/vamen/ping`` must be answered
    within 100 ms, and ``/vamen/state`` must be what it was at the start.
    At the end: the process is alive, it has no fewer threads, its RSS grew
    by less than 5 %, the recording kept growing, no traceback reached its
    stderr or log, and the log grew by a few lines (they are counted).

MIDI
    Starts a JACK dummy server and ``vamen serve --midi`` with four knobs
    mapped, and sends it mutated MIDI over JACK MIDI from a python-rtmidi
    port, as a controller would: random and cut messages, running status,
    sysex garbage, notes and CCs on every channel, NRPN, pitch bend, clock
    floods, stray and undefined status bytes. A reference reader written
    from the MIDI 1.0 specification says what each burst means: garbage
    bursts must leave ``/vamen/state`` as it was, mixed ones must set the
    mapped knobs to what the CCs say and touch nothing else. The same ping,
    thread, RSS and traceback checks as for OSC. (``scripts/fuzz_midi.py``.)

Checkpoints
    A small valid checkpoint, mutated (cut, bits flipped, spans overwritten;
    keys dropped, wrong types, absurd config figures, tensors declaring a
    huge size over a tiny storage), each loaded with ``LoopModel.load``: a
    model, or a CheckpointError of one line.

Audio
    Files written by libsndfile (WAV, FLAC, AIFF; 1 to 8 channels; 8 to
    384 kHz; from no samples to a few bars; noise, silence, nan, inf, far
    beyond full scale), half of them with damaged headers, each encoded with
    ``LoopModel.encode_file`` (what ``/vamen/encode`` runs): a finite point,
    or an AudioFileError of one line.

Progress goes to stderr; the summary to stdout (``--json`` for a program).
Exit status 0 when every invariant held, 1 otherwise. ``make fuzz`` runs
the long version (200,000 datagrams, 10,000 MIDI messages, 1,000
checkpoints, 1,000 audio files); ``--midi 0`` leaves MIDI (and JACK) out;
``tests/server/test_fuzz_run.py`` runs a short one on every submission.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

import numpy as np
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

from vamen.server.sources.osc import ADDRESSES, BadMessage, parse
from vamen.server.sources.oscserver import decode_packet

PARTS = ("osc", "midi", "checkpoints", "audio")
PING_DEADLINE = 0.100  # seconds: the answer to a ping after a burst (--ping-ms)
RSS_GROWTH = 0.05  # at most, from after the warm-up to the end
SETTLE_SECONDS = 3.0  # after the server answers and records, before the first burst
SETTLED_BYTES = 48_000 * 2 * 2  # a second of the recording (48 kHz, 16 bits, 2 channels)
ITEM_SECONDS = 60  # one checkpoint or audio file may take this long before it counts as a hang
LATENT_DIM_OF_SMALL = 8
BUNDLE = b"#bundle\x00"
MAX_UDP = 65_507  # the largest UDP payload over IPv4
IMMEDIATELY = b"\x00" * 7 + b"\x01"
TAG_CHARS = "ifsbhdtmrcSITFN[]xyz\x00\x7f"
#: The /vamen/state keys no invalid input may change (bar and beat move with time).
STABLE = ("latent", "latent_dim", "tempo", "quantize", "playing", "gain", "quality", "glide", "walk_depth",
          "walk_rate", "walk_seed", "anchors", "presets", "subscribers", "midi_learn", "chop")


def say(text: str) -> None:
    print(f"fuzz: {text}", file=sys.stderr, flush=True)


def message(address: str, *args) -> bytes:
    builder = OscMessageBuilder(address)
    for arg in args:
        builder.add_arg(arg)
    return builder.build().dgram


def numbers_message(address: str, kind: str, values: list) -> bytes:
    """A message of many floats (``f``) or ints (``i``), packed directly: python-osc's builder is slow."""
    def padded(raw: bytes) -> bytes:
        return raw + b"\x00" * (4 - len(raw) % 4)

    return padded(address.encode()) + padded(b"," + kind.encode() * len(values)) + struct.pack(
        f">{len(values)}{kind}", *values)


def bundle(*elements: bytes, tag: bytes = IMMEDIATELY) -> bytes:
    return BUNDLE + tag + b"".join(struct.pack(">i", len(e)) + e for e in elements)


# -- OSC datagrams ------------------------------------------------------------------------------

class Datagrams:
    """Mutated OSC datagrams from a seeded ``random.Random``; ``next()`` gives one (bytes)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.pool = [self.valid() for _ in range(256)]  # for the huge bundles: building is the slow part
        self.kinds = [self.noise, self.flipped, self.cut, self.spliced, self.absurd_tags, self.absurd_counts,
                      self.nested, self.huge_bundle, self.lying_bundle, self.refused_by_control]

    def value(self):
        r = self.rng
        return r.choice([r.randint(-2**31, 2**31 - 1), r.uniform(-1e6, 1e6), float("nan"), float("inf"),
                         r.choice(["random", "verse", "", "x" * r.randint(0, 300), "linear"]), True, None,
                         bytes(r.getrandbits(8) for _ in range(r.randint(0, 16)))])

    def valid(self) -> bytes:
        """A well-formed message to one of vamen's addresses, arguments of any type."""
        r = self.rng
        address = r.choice(ADDRESSES + ("/vamen/latent/3", "/vamen/nowhere"))
        try:
            return message(address, *(self.value() for _ in range(r.randint(0, 6))))
        except Exception:  # a value python-osc will not build
            return message(address)

    def noise(self) -> bytes:
        r = self.rng
        head = r.choice([b"", b"/", b"/vamen/", BUNDLE, b"/vamen/latent\x00\x00\x00,"])
        return head + bytes(r.getrandbits(8) for _ in range(r.randint(0, 512)))

    def flipped(self) -> bytes:
        data = bytearray(self.rng.choice([self.valid, self.nested])())
        for _ in range(self.rng.randint(1, 8)):
            data[self.rng.randrange(len(data))] ^= 1 << self.rng.randrange(8)
        return bytes(data)

    def cut(self) -> bytes:
        data = self.rng.choice([self.valid, self.nested])()
        return data[:self.rng.randrange(len(data))]

    def spliced(self) -> bytes:
        data = self.valid()
        at = self.rng.randrange(len(data) + 1)
        return data[:at] + bytes(self.rng.getrandbits(8) for _ in range(self.rng.randint(1, 32))) + data[at:]

    def absurd_tags(self) -> bytes:
        r = self.rng
        tags = "," + "".join(r.choice(TAG_CHARS) for _ in range(r.choice([1, 3, 40, 300, 4000])))
        raw = tags.encode("latin-1") + b"\x00"
        raw += b"\x00" * (-len(raw) % 4)
        body = bytes(r.getrandbits(8) for _ in range(r.randint(0, 256)))
        return b"/vamen/" + r.choice([b"latent", b"gain", b"chop", b"morph"]).ljust(8, b"\x00") + raw + body

    def absurd_counts(self) -> bytes:
        r = self.rng
        return r.choice([
            b"/vamen/encode\x00\x00\x00,b\x00\x00" + struct.pack(">i", r.choice([2**31 - 1, -1, 4096])) + b"abc\x00",
            b"/vamen/preset/save\x00\x00,s\x00\x00" + b"unterminated" * r.randint(1, 50),
            b"/vamen/latent\x00\x00\x00," + b"[" * r.randint(1, 2000) + b"\x00" * 4,
            numbers_message("/vamen/latent", "f", [float("nan")] * r.randint(1, 4000)),
            numbers_message("/vamen/latent", "f", [0.5] * r.randint(33, 12000)),
            numbers_message("/vamen/chop", "i", [r.randint(-2, 10**6)] * r.randint(1, 4000)),
            message("/vamen/latent/" + str(r.choice([-1, 10**9, 2**64])), 1.0),
            message("/vamen/quality", r.choice([0, -5, 10**6])), message("/vamen/tempo", r.choice([0.0, -1.0, 1e30])),
        ])

    def nested(self, depth: int | None = None) -> bytes:
        r = self.rng
        depth = r.randint(1, 20) if depth is None else depth
        inner = self.valid() if depth == 0 else self.nested(depth - 1)
        tag = r.choice([IMMEDIATELY, struct.pack(">Q", r.getrandbits(64))])
        return bundle(*([inner] * (r.randint(1, 2) if len(inner) < 8000 else 1)), tag=tag)

    def huge_bundle(self) -> bytes:
        size = self.rng.choice([2_000, 16_000, 60_000])
        out, elements = 0, []
        while out < size:
            e = self.rng.choice(self.pool)
            elements.append(e)
            out += len(e) + 4
        elements[self.rng.randrange(len(elements))] = self.noise()[:64] or b"\x00\x00\x00\x00"
        return bundle(*elements)[:65_000]

    def lying_bundle(self) -> bytes:
        r = self.rng
        e = self.valid()
        size = r.choice([0, -1, -2**31, 2**31 - 1, len(e) + 4, len(e) - 4, len(e) + 1])
        return BUNDLE + IMMEDIATELY + struct.pack(">i", size) + e

    def refused_by_control(self) -> bytes:
        """Well-formed, and about things that are not there: refused by the control thread."""
        r = self.rng
        name = f"zz-{r.getrandbits(32):x}"
        return r.choice([message("/vamen/anchor", r.randint(10_000, 2**31 - 1)),
                         message("/vamen/preset/load", name), message("/vamen/morph", name, 4.0),
                         message("/vamen/interp", name, 0, 0.5), message("/vamen/encode", f"/nowhere/{name}.wav")])

    def next(self) -> tuple[str, bytes]:
        """(the kind of mutation, a datagram that fits in UDP)."""
        while True:
            kind = self.rng.choice(self.kinds)
            dgram = kind()
            if len(dgram) <= MAX_UDP:
                return kind.__name__, dgram


def refused(dgram: bytes) -> bool:
    """Whether vamen's decoder and parser refuse every message of ``dgram`` (so it can change nothing)."""
    try:
        timed = decode_packet(dgram)
    except BadMessage:
        return True
    for at, msg in timed:
        try:
            if parse(msg.address, msg.params, ("127.0.0.1", 9), at, 32):
                return False
        except BadMessage:
            continue
    return True


# -- the live server ----------------------------------------------------------------------------

class Served:
    """``vamen serve`` in a subprocess, with a socket that asks it things."""

    def __init__(self, model: Path | None, folder: Path, env: dict | None = None,
                 extra: list[str] | None = None) -> None:
        self.folder = folder
        self.log = folder / "serve.log"
        self.stderr = open(folder / "serve.stderr", "w+")
        self.recording = folder / "rec.wav"
        env = dict(os.environ, XDG_DATA_HOME=str(folder / "data"), PYTHONUNBUFFERED="1", **(env or {}))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        args = [sys.executable, "-m", "vamen.server.cli", "serve", "--osc-port", str(self.port), "--fresh",
                "--quiet", "--sink", "file", "--record", str(self.recording), "--osc-rate", "0",
                "--log", str(self.log)] + (["--model", str(model)] if model else []) + (extra or [])
        self.proc = subprocess.Popen(args, env=env, stdout=self.stderr, stderr=subprocess.STDOUT, cwd=folder)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        deadline = time.monotonic() + 180
        while self.ping(1.0) is None:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"fuzz: vamen serve did not come up:\n{self.output()[-3000:]}")
        # Settled: the first bars rendered and the recording under way, as a server is
        # when an attack finds it (its first seconds are torch warming up).
        while (not self.recording.exists() or self.recording.stat().st_size < 2 * SETTLED_BYTES) \
                and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(SETTLE_SECONDS)

    def ask(self, dgram: bytes, want: str, timeout: float) -> tuple[float, list] | None:
        """Send ``dgram``; (seconds, args) of the first reply to ``want``, or None after ``timeout``."""
        sent = time.monotonic()
        self.sock.sendto(dgram, ("127.0.0.1", self.port))
        while (left := sent + timeout - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                reply = OscMessage(self.sock.recv(65535))
            except (socket.timeout, OSError):
                return None
            if reply.address == want:
                return time.monotonic() - sent, reply.params
        return None

    def ping(self, timeout: float) -> float | None:
        got = self.ask(message("/vamen/ping"), "/vamen/pong", timeout)
        return None if got is None else got[0]

    def state(self) -> dict | None:
        got = self.ask(message("/vamen/state"), "/vamen/state", 5.0)
        return None if got is None else dict(zip(got[1][::2], got[1][1::2]))

    def status(self, key: str) -> int:
        """A figure of /proc/PID/status (VmRSS in kB, Threads)."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
        return 0

    def kernel_drops(self) -> int:
        """Datagrams the kernel dropped at the server's socket (its receive buffer was full)."""
        hexport = f":{self.port:04X}"
        for line in Path("/proc/net/udp").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[1].endswith(hexport):
                return int(fields[-1])
        return 0

    def output(self) -> str:
        self.stderr.flush()
        self.stderr.seek(0)
        return self.stderr.read()

    def log_lines(self) -> int:
        logs = sorted(self.folder.glob("serve.log*"))
        return sum(len(p.read_text(errors="replace").splitlines()) for p in logs) + len(self.output().splitlines())

    def stop(self) -> int:
        self.sock.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def ended(self, start: dict, end: dict, lines_at_start: int, failures: list, what: str) -> tuple[str, float, int]:
        """Stop the server and add what a run may never do to ``failures``.

        ``start`` and ``end`` hold ``rss`` (kB) and ``threads``, measured after the
        warm-up and at the end. Returns (stderr and log text, RSS growth, log lines added).
        """
        lines = self.log_lines() - lines_at_start
        alive = self.proc.poll() is None
        status = self.stop()
        text = self.output() + "".join(p.read_text(errors="replace") for p in sorted(self.folder.glob("serve.log*")))
        growth = (end["rss"] - start["rss"]) / start["rss"] if start["rss"] else 0.0
        if not alive:
            failures.append(f"vamen serve died during {what}")
        if status != 0:
            failures.append(f"vamen serve stopped with status {status}")
        if end["threads"] < start["threads"]:
            failures.append(f"threads: {start['threads']} at the start, {end['threads']} at the end")
        if growth >= RSS_GROWTH:
            failures.append(f"RSS grew {growth:.1%} ({start['rss']} kB to {end['rss']} kB)")
        if "Traceback" in text:
            failures.append("a traceback in vamen serve's stderr or log")
        return text, growth, lines


def fuzz_osc(count: int, burst: int, rng: random.Random, model: Path | None, folder: Path,
             deadline: float = PING_DEADLINE) -> dict:
    server = Served(model, folder)
    failures: list[str] = []
    flooder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    flooder.bind(("127.0.0.1", 0))
    flooder.setblocking(False)
    make = Datagrams(rng)
    before = server.state()
    lines_at_start = server.log_lines()
    drops_at_start = server.kernel_drops()
    threads_at_start = server.status("Threads")
    pings, sent, skipped, bursts, kinds = [], 0, 0, 0, {}
    rss_at_start = recorded_at_start = None
    warm_up = max(1, min(10, count // burst // 4))  # bursts before the RSS and the recording are measured
    started = time.monotonic()
    while sent < count:
        chunk = []
        while len(chunk) < min(burst, count - sent):
            kind, dgram = make.next()
            if kind != "refused_by_control" and not refused(dgram):
                skipped += 1  # it means something: it could change the state, so it is not sent
                continue
            chunk.append(dgram)
            kinds[kind] = kinds.get(kind, 0) + 1
        for dgram in chunk:
            try:
                flooder.sendto(dgram, ("127.0.0.1", server.port))
            except BlockingIOError:  # our own send buffer is full: wait for it, then send
                time.sleep(0.001)
                flooder.setblocking(True)
                flooder.sendto(dgram, ("127.0.0.1", server.port))
                flooder.setblocking(False)
        try:
            while flooder.recv(65535):  # the /vamen/error replies: read, so ours never fills
                pass
        except (BlockingIOError, OSError):
            pass
        sent += len(chunk)
        bursts += 1
        answered = server.ping(deadline)
        if answered is None:
            late = server.ping(2.0)
            failures.append(f"burst {bursts}: no /vamen/pong within {deadline * 1000:.0f} ms"
                            + (f" (it came after {late * 1000:.0f} ms)" if late is not None else " (none in 2 s)"))
            if server.proc.poll() is not None:
                failures.append(f"vamen serve exited with status {server.proc.returncode}")
                break
        else:
            pings.append(answered)
        now = server.state()
        if now is None:
            failures.append(f"burst {bursts}: no /vamen/state reply")
        elif before is not None and {k: now.get(k) for k in STABLE} != {k: before.get(k) for k in STABLE}:
            changed = {k: (before.get(k), now.get(k)) for k in STABLE if now.get(k) != before.get(k)}
            failures.append(f"burst {bursts}: invalid input changed the state: {changed}")
            before = now
        if rss_at_start is None and bursts >= warm_up:  # after the warm-up: caches filled
            rss_at_start = server.status("VmRSS")
            recorded_at_start = server.recording.stat().st_size if server.recording.exists() else 0
        if bursts % 40 == 0 or sent >= count:
            say(f"OSC {sent:,}/{count:,} datagrams, ping max {max(pings, default=0) * 1000:.1f} ms, "
                f"RSS {server.status('VmRSS') / 1024:.1f} MB, log +{server.log_lines() - lines_at_start} lines")
    seconds = time.monotonic() - started
    rss_at_end = server.status("VmRSS")
    threads_at_end = server.status("Threads")
    recorded_at_end = server.recording.stat().st_size if server.recording.exists() else 0
    drops = server.kernel_drops() - drops_at_start
    text, growth, lines = server.ended({"rss": rss_at_start, "threads": threads_at_start},
                                       {"rss": rss_at_end, "threads": threads_at_end},
                                       lines_at_start, failures, "the run")
    if recorded_at_start is not None and recorded_at_end <= recorded_at_start:
        failures.append("the recording stopped growing: the audio or the render thread stopped")
    pings.sort()
    return {"datagrams": sent, "bursts": bursts, "seconds": round(seconds, 1), "kinds": kinds,
            "skipped_as_commands": skipped, "ping_ms_max": round(pings[-1] * 1000, 2) if pings else None,
            "ping_ms_p50": round(pings[len(pings) // 2] * 1000, 2) if pings else None,
            "pings_late": bursts - len(pings), "ping_deadline_ms": round(deadline * 1000), "rss_kb_start": rss_at_start, "rss_kb_end": rss_at_end,
            "rss_growth_percent": round(100 * growth, 2), "threads_start": threads_at_start,
            "threads_end": threads_at_end, "log_lines": lines, "kernel_drops": drops,
            "tracebacks": text.count("Traceback"), "failures": failures}


# -- files through the real loaders ---------------------------------------------------------------

class Hang(Exception):
    pass


def _hang(*_):
    raise Hang(f"took more than {ITEM_SECONDS} s")


def judged(run, expected: type, tally: dict, failures: list, what: str) -> None:
    """Run one item: 'ok', or 'refused' with a one-line ``expected``; anything else is a failure."""
    signal.signal(signal.SIGALRM, _hang)
    signal.alarm(ITEM_SECONDS)
    try:
        with warnings.catch_warnings():  # librosa's overflow warnings on samples of 1e30: not news
            warnings.simplefilter("ignore")
            run()
        tally["ok"] += 1
    except expected as exc:
        text = str(exc)
        if text.strip() and "\n" not in text and "\r" not in text:
            tally["refused"] += 1
        else:
            failures.append(f"{what}: {type(exc).__name__} of more than one line: {text!r}")
    except Exception as exc:  # noqa: BLE001 - any other exception is what we are looking for
        failures.append(f"{what}: {type(exc).__name__}: {exc}\n{traceback.format_exc(limit=6)}")
    finally:
        signal.alarm(0)


def small_model():
    import torch

    from vamen.model.config import LoopConfig
    from vamen.model.loopmodel import LoopModel
    from vamen.model.vae import LoopVAE

    torch.manual_seed(0)
    config = LoopConfig(sample_rate=8000, n_fft=256, hop_length=64, n_mels=16, channels=8,
                        latent_dim=LATENT_DIM_OF_SMALL)
    return LoopModel(config, LoopVAE(config), ["amen", "think"], torch.zeros(2, LATENT_DIM_OF_SMALL), "cpu")


def damage(data: bytes, rng: random.Random, within: int | None = None) -> bytes:
    """Cut, flip, overwrite or zero a few places of ``data`` (within its first ``within`` bytes)."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        if not out:
            break
        at = rng.randrange(min(len(out), within or len(out)))
        how = rng.choice(["cut", "flip", "overwrite", "zero", "size"])
        if how == "cut":
            del out[at:]
        elif how == "flip":
            for _ in range(rng.randint(1, 16)):
                out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
        elif how == "overwrite":
            out[at:at + 16] = bytes(rng.getrandbits(8) for _ in range(16))
        elif how == "zero":
            out[at:at + 512] = bytes(len(out[at:at + 512]))
        else:
            out[at:at + 4] = rng.getrandbits(32).to_bytes(4, rng.choice(["little", "big"]))
    return bytes(out)


def junk(rng: random.Random):
    import torch

    return rng.choice([None, True, -1, 0, 2**63 - 1, float("nan"), float("inf"), 2.5, "x", [1, 2], {"a": 1},
                       torch.zeros(rng.randint(0, 4), rng.randint(0, 4)), torch.full((2, 8), float("nan")),
                       torch.zeros(3, dtype=torch.int64), torch.zeros(1).expand(rng.choice([10**6, 10**12])),
                       10**6, 1 << 20, 10**12, "mel", "linear"])


def rewritten(payload: dict, rng: random.Random) -> dict:
    out = {**payload, "config": dict(payload["config"]), "weights": dict(payload["weights"]),
           "anchors": dict(payload["anchors"])}
    for _ in range(rng.randint(1, 4)):
        part = rng.choice(["top", "config", "weights", "anchors"])
        table = out if part == "top" or not isinstance(out.get(part), dict) else out[part]
        key = rng.choice(sorted(table) + ["extra"]) if table else "extra"
        if rng.random() < 0.3:
            table.pop(key, None)
        else:
            table[key] = junk(rng)
    return out


def fuzz_checkpoints(count: int, rng: random.Random, folder: Path) -> dict:
    import torch

    from vamen.model.errors import CheckpointError
    from vamen.model.loopmodel import LoopModel

    valid = folder / "valid.pt"
    small_model().save(valid)
    raw, payload = valid.read_bytes(), torch.load(valid, weights_only=True)
    tally, failures = {"ok": 0, "refused": 0}, []
    path = folder / "mutant.pt"
    for n in range(count):
        if rng.random() < 0.5:
            path.write_bytes(damage(raw, rng))
        else:
            buffer = io.BytesIO()
            torch.save(rewritten(payload, rng), buffer)
            path.write_bytes(buffer.getvalue())
        judged(lambda: LoopModel.load(path, "cpu"), CheckpointError, tally, failures, f"checkpoint {n}")
        if (n + 1) % 200 == 0:
            say(f"checkpoints {n + 1:,}/{count:,}: {tally['ok']} loaded, {tally['refused']} refused, "
                f"{len(failures)} failed")
    return {"files": count, "loaded": tally["ok"], "refused": tally["refused"], "failures": failures}


AUDIO_FORMATS = {"WAV": ["PCM_16", "PCM_24", "FLOAT", "DOUBLE", "PCM_U8"], "FLAC": ["PCM_16", "PCM_24"],
                 "AIFF": ["PCM_16", "FLOAT"]}


def fuzz_audio(count: int, rng: random.Random, folder: Path) -> dict:
    import soundfile as sf

    from vamen.model.errors import AudioFileError

    model = small_model()
    tally, failures, written = {"ok": 0, "refused": 0}, [], 0
    path = folder / "mutant.audio"

    def encode():
        point = model.encode_file(path)
        if point.shape != (LATENT_DIM_OF_SMALL,) or not np.isfinite(point).all():
            raise AssertionError(f"encode_file gave {point!r}")

    for n in range(count):
        fmt = rng.choice(sorted(AUDIO_FORMATS))
        rate = rng.choice([8000, 11025, 22050, 44100, 48000, 96000, 192000, 384000])
        channels = rng.randint(1, 8)
        frames = round(rng.choice([0, 1 / rate, 2 / rate, 0.01, 0.5, 1.2, 2.0, 3.1]) * rate)
        audio = np.random.default_rng(rng.getrandbits(32)).uniform(-0.8, 0.8, (frames, channels))
        kind = rng.choice(["noise", "silence", "nan", "inf", "huge"])
        if kind == "silence":
            audio[:] = 0
        elif kind != "noise" and frames:
            audio[rng.randrange(frames), rng.randrange(channels)] = {"nan": np.nan, "inf": np.inf, "huge": 1e30}[kind]
        try:
            sf.write(str(path), audio, rate, format=fmt, subtype=rng.choice(AUDIO_FORMATS[fmt]))
        except (sf.LibsndfileError, RuntimeError, ValueError, AssertionError):
            continue  # a format that cannot hold it: libsndfile's business, not vamen's
        written += 1
        if rng.random() < 0.5:
            path.write_bytes(damage(path.read_bytes(), rng, within=96))
        judged(encode, AudioFileError, tally, failures, f"audio {n} ({fmt}, {rate} Hz, {channels} ch, {kind})")
        if (n + 1) % 200 == 0:
            say(f"audio {n + 1:,}/{count:,}: {tally['ok']} encoded, {tally['refused']} refused, "
                f"{len(failures)} failed")
    return {"files": written, "encoded": tally["ok"], "refused": tally["refused"], "failures": failures}


# -- the run ------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datagrams", type=int, default=200_000)
    parser.add_argument("--burst", type=int, default=500, help="datagrams between two pings")
    parser.add_argument("--midi", type=int, default=10_000, help="MIDI messages over JACK MIDI (0: none)")
    parser.add_argument("--midi-burst", type=int, default=100, help="MIDI messages between two pings")
    parser.add_argument("--jack-server", default=None,
                        help="a running JACK server to use for MIDI [default: start a dummy one]")
    parser.add_argument("--jack-log", type=Path, default=None,
                        help="that server's log, where it says which client missed a cycle")
    parser.add_argument("--checkpoints", type=int, default=1000)
    parser.add_argument("--audio", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--ping-ms", type=float, default=PING_DEADLINE * 1000,
                        help="the deadline for the ping after each burst [default: 100]")
    parser.add_argument("--model", type=Path, default=None, help="checkpoint vamen serve plays [default: vamen's]")
    parser.add_argument("--json", action="store_true", help="the summary as JSON")
    args = parser.parse_args(argv)
    started = time.monotonic()
    summary: dict = {"seed": args.seed}
    with tempfile.TemporaryDirectory(prefix="vamen-fuzz-") as tmp:
        folder = Path(tmp)
        if args.datagrams:
            (folder / "osc").mkdir()
            summary["osc"] = fuzz_osc(args.datagrams, args.burst, random.Random(args.seed), args.model,
                                      folder / "osc", args.ping_ms / 1000)
        if args.midi:
            from fuzz_midi import fuzz_midi

            (folder / "midi").mkdir()
            summary["midi"] = fuzz_midi(args.midi, args.midi_burst, random.Random(args.seed + 3), args.model,
                                        folder / "midi", Served, say, args.ping_ms / 1000, args.jack_server,
                                        args.jack_log)
        if args.checkpoints:
            (folder / "ck").mkdir()
            summary["checkpoints"] = fuzz_checkpoints(args.checkpoints, random.Random(args.seed + 1), folder / "ck")
        if args.audio:
            (folder / "audio").mkdir()
            summary["audio"] = fuzz_audio(args.audio, random.Random(args.seed + 2), folder / "audio")
    summary["seconds"] = round(time.monotonic() - started, 1)
    failures = [f for part in PARTS for f in summary.get(part, {}).get("failures", [])]
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(report(summary))
    return 1 if failures else 0


def report(s: dict) -> str:
    lines = []
    if (o := s.get("osc")) is not None:
        lines.append(f"OSC: {o['datagrams']:,} invalid datagrams in {o['bursts']} bursts, {o['seconds']} s "
                     f"({o['skipped_as_commands']:,} mutants that parse as commands not sent); "
                     f"ping after every burst: max {o['ping_ms_max']} ms, p50 {o['ping_ms_p50']} ms, "
                     f"{o['pings_late']} over {o['ping_deadline_ms']} ms; RSS {o['rss_kb_start'] / 1024:.1f} -> "
                     f"{o['rss_kb_end'] / 1024:.1f} MB ({o['rss_growth_percent']:+.2f} %); threads "
                     f"{o['threads_start']} -> {o['threads_end']}; log +{o['log_lines']} lines; "
                     f"{o['tracebacks']} tracebacks; kernel drops {o['kernel_drops']}")
    if (m := s.get("midi")) is not None:
        lines.append(f"MIDI: {m['messages']:,} messages over JACK MIDI in {m['bursts']} bursts, {m['seconds']} s "
                     f"({m['acting']:,} mapped CCs that act, in the mixed bursts; {m['held_back']:,} mutants "
                     f"held back); ping after every burst: max {m['ping_ms_max']} ms, p50 {m['ping_ms_p50']} ms, "
                     f"{m['pings_late']} over {m['ping_deadline_ms']} ms; the state as the reference says within "
                     f"{m['settle_ms_max']} ms; RSS {m['rss_kb_start'] / 1024:.1f} -> {m['rss_kb_end'] / 1024:.1f} MB "
                     f"({m['rss_growth_percent']:+.2f} %); threads {m['threads_start']} -> {m['threads_end']}; "
                     f"log +{m['log_lines']} lines; {m['tracebacks']} tracebacks; JACK clients missed "
                     f"{m['cycles_missed']} cycles, losing MIDI in {len(m['bursts_lost_by_jack'])} bursts")
    if (c := s.get("checkpoints")) is not None:
        lines.append(f"checkpoints: {c['files']:,} mutated: {c['loaded']} loaded, {c['refused']} refused in one "
                     f"line, {len(c['failures'])} failed")
    if (a := s.get("audio")) is not None:
        lines.append(f"audio: {a['files']:,} mutated files: {a['encoded']} encoded, {a['refused']} refused in "
                     f"one line, {len(a['failures'])} failed")
    for part in PARTS:
        for failure in s.get(part, {}).get("failures", [])[:20]:
            lines.append(f"FAILED {part}: {failure}")
    lines.append(f"seed {s['seed']}, {s['seconds']} s in all")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
