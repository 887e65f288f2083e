"""Driving an Engine with no sound card: the test plays the sound card's part (the offline clock)."""
import numpy as np

RATE = 24000
BLOCK = 256


class ManualOutput:
    """No device: the test calls fill() itself."""

    latency = 0.0
    alive = True
    blocksize = BLOCK

    def __init__(self, player):
        self.player = player
        self.buffer = np.zeros((BLOCK, player.channels), dtype=np.float32)

    def start(self):
        return self

    def close(self):
        pass

    def play(self, blocks: int, step_worker=True) -> np.ndarray:
        out = []
        for _ in range(blocks):
            self.player.fill(self.buffer, BLOCK)
            out.append(self.buffer[:, 0].copy())
        return np.concatenate(out)
