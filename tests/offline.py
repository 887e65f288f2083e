"""Driving an Engine with no sound card: the offline clock (``Engine.step``) at the tests' rate."""
from vamen.server.audio.output import OfflineOutput  # noqa: F401 (the tests' output factory)

RATE = 24000
BLOCK = 256  # OfflineOutput's block
