"""Keep the CPUs from sleeping deeply while vamen plays (``--keep-cpu-awake``).

A CPU that idles in a deep state (or, in a virtual machine, a virtual CPU
the host has put to sleep) takes milliseconds to wake for the audio thread;
at 256 frames a block has 5.3 ms. Linux lets a program ask for a maximum
wake-up latency through PM QoS: while ``/dev/cpu_dma_latency`` is held open
with a value written to it, idle CPUs stay in states that wake within that
many microseconds (0: they poll). It is the same request tuned's
latency-performance profile and real-time audio setups make; it costs
power, so vamen only makes it when asked. Writing needs root, or a udev
rule giving the audio group the device:
``KERNEL=="cpu_dma_latency", GROUP="audio", MODE="0660"``.

Measured on the 2-core development machine (a virtual machine) with
``vamen bench soak`` on a real-time JACK dummy server: 78 underruns in 90 s
without it, 3 with it (README, Benchmarks).
"""
from __future__ import annotations

import os
import struct

DEVICE = "/dev/cpu_dma_latency"


class CpuAwake:
    """Holds a PM QoS request of ``microseconds`` until :meth:`close`."""

    def __init__(self, microseconds: int = 0, device: str = DEVICE):
        self.microseconds = int(microseconds)
        self.device = device
        self._fd: int | None = None

    def start(self) -> str | None:
        """Make the request; None when it holds, else why not (one line)."""
        try:
            fd = os.open(self.device, os.O_WRONLY)
        except OSError as exc:
            return (f"cannot keep the CPUs awake: {self.device}: {exc.strerror or exc} "
                    "(needs root or a udev rule; see vamen serve --help)")
        try:
            os.write(fd, struct.pack("i", self.microseconds))
        except OSError as exc:
            os.close(fd)
            return f"cannot keep the CPUs awake: {self.device}: {exc.strerror or exc}"
        self._fd = fd
        return None

    @property
    def holding(self) -> bool:
        return self._fd is not None

    def close(self) -> None:
        """Withdraw the request (the kernel also does when the process ends)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
