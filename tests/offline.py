"""Driving an Engine with no sound card: the offline clock (``Engine.step``) at the tests' rate."""
from vamen.server.audio.output import OfflineOutput

RATE = 24000
BLOCK = 256  # OfflineOutput's block


def offline_engine(model, tmp_path, **options):
    """An engine started on the offline clock: no threads but OSC's; the test calls ``step()``.

    ``model`` is a loaded LoopModel; presets and the session live in ``tmp_path``.
    """
    from vamen.server.engine import Engine
    from vamen.server.options import ServeOptions

    values = dict(sinks=(), sample_rate=RATE, osc_port=0, presets=tmp_path / "p.json")
    values.update(options)
    return Engine(ServeOptions(**values), model, output_factory=OfflineOutput).start(background=False)


def send(engine, address, *args):
    """Send over real UDP from ``engine.client`` and let the control thread take it (its next turn)."""
    from oscclient import message
    from waiting import wait_for

    engine.client.send(message(address, *args))
    wait_for(lambda: not engine.commands.empty(), 5, f"{address} to arrive")
    engine.turn()
