"""What travels on a page's WebSocket, as pure functions (no sockets, no threads).

Page to server: one JSON object per text frame, an OSC message in other
clothes::

    {"address": "/vamen/morph", "args": ["verse", 4]}

:func:`read_message` checks the frame (size, JSON, shape) and hands
address and arguments to :func:`vamen.server.sources.osc.parse`, the OSC
parser itself: a page and an OSC client get the same commands and the same
sentence for the same mistake. ``NaN`` and ``Infinity`` (which Python's
JSON reader accepts) reach the parser as floats and are refused there.

Server to page: JSON objects with a ``type``:

``hello``   once: ``latent_dim``, ``anchors`` [{name, z}], ``plane`` {origin, axes}, ``addresses``
``state``   ten times a second: every ``/vamen/state`` pair, ``latent`` as a list of floats,
            ``presets`` [{name, z}], ``senders`` (OSC senders heard lately), ``time`` (epoch s)
``spectra`` when the loop playing or the next one changes: ``now`` and ``next``, each
            {beat, png (base64)} or null
``reply``   any other reply a command asks for: ``address``, ``args`` (``/vamen/pong``, lists)
``error``   ``address``, ``message``: what ``/vamen/error`` says to an OSC client

Contents
--------
MAX_MESSAGE     bytes a page's message may have
read_message    text frame -> list of commands (BadMessage for anything wrong)
state_fields    ``/vamen/state``'s flat pairs -> a dict for the page
outgoing        a reply (address, args) -> the JSON object for the page
"""
from __future__ import annotations

import json
import math
from typing import Any

from vamen.server.core import commands as c
from vamen.server.sources.osc import BadMessage, parse

#: Bytes in one message from a page. The longest a page sends, /vamen/latent
#: with 64 coordinates or a chop of 64 steps, is under 2 KiB.
MAX_MESSAGE = 8192


def read_message(text: str | bytes, source: tuple[str, int], latent_dim: int) -> list[c.Command]:
    """Turn one text frame from a page into commands.

    Parameters
    ----------
    text : str or bytes
        The frame's payload (bytes are refused: pages send text).
    source : tuple of (str, int)
        The page, copied into every command so replies find their way back.
    latent_dim : int
        The model's latent size, for the parser.

    Raises
    ------
    BadMessage
        Too long, not JSON, not ``{"address": str, "args": [...]}``, or refused
        by the OSC parser; ``address`` is the message's when it had one.
    """
    if isinstance(text, (bytes, bytearray)):
        raise BadMessage("", "send JSON text, not binary frames")
    if len(text) > MAX_MESSAGE:
        raise BadMessage("", f"message too long: {len(text)} characters, at most {MAX_MESSAGE}")
    try:
        message = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise BadMessage("", f"not JSON: {str(exc)[:80]}") from None
    if not isinstance(message, dict) or not isinstance(message.get("address"), str):
        raise BadMessage("", 'expected {"address": "/vamen/...", "args": [...]}')
    address = message["address"][:128]
    args = message.get("args", [])
    if not isinstance(args, list):
        raise BadMessage(address, "args must be a list")
    if any(isinstance(a, (list, dict)) or a is None for a in args):
        raise BadMessage(address, "args must be numbers and strings")
    return parse(address, args, source, None, latent_dim)


def state_fields(pairs: list) -> dict[str, Any]:
    """``/vamen/state``'s flat ``key, value`` list -> a dict, ``latent`` split into floats.

    Non-finite floats (none should be there) become None: JSON has no NaN.
    """
    out: dict[str, Any] = {}
    for key, value in zip(pairs[0::2], pairs[1::2]):
        if isinstance(value, float) and not math.isfinite(value):
            value = None
        out[str(key)] = value
    latent = out.get("latent")
    if isinstance(latent, str):
        out["latent"] = [float(v) for v in latent.split(",") if v]
    return out


def outgoing(address: str, args: list) -> dict[str, Any]:
    """The page's JSON object for a reply a command made (``/vamen/error`` becomes an ``error``)."""
    plain = [a.item() if hasattr(a, "item") else a for a in args]
    if address == "/vamen/error":
        return {"type": "error", "address": str(plain[0]) if plain else "",
                "message": str(plain[1]) if len(plain) > 1 else ""}
    return {"type": "reply", "address": address, "args": plain}
