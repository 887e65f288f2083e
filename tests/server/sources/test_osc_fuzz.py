"""Any bytes at all, as an OSC datagram: commands or one line of refusal, never anything else.

Property-based (hypothesis): datagrams built from vamen's own addresses with
arguments of every OSC type (nan, inf, huge integers, long strings, blobs,
arrays), then damaged (bits flipped, cut short, bytes spliced in, type tags
swapped for ones nobody knows), wrapped in bundles nested and sized at
random, and plain noise. Each goes through the receive thread's two steps,
:func:`decode_packet` and :func:`parse`: the first gives messages or a
:class:`BadMessage`, the second commands or a :class:`BadMessage`, whose
sentence is one line; any other exception fails. A command that comes out
holds no nan or inf.
"""
import struct

from hypothesis import given
from hypothesis import strategies as st
from pythonosc.osc_message_builder import OscMessageBuilder

from fuzzing import assert_finite, examples, one_line
from vamen.server.sources.osc import ADDRESSES, BadMessage, parse
from vamen.server.sources.oscserver import decode_packet

SOURCE = ("127.0.0.1", 57999)
LATENT_DIM = 8
BUNDLE = b"#bundle\x00"

numbers = st.one_of(st.integers(-2**31, 2**31 - 1), st.floats(width=32),
                    st.sampled_from([0, 1, -1, 2**31 - 1, -2**31, 1e30, -1e30]))
texts = st.one_of(st.sampled_from(["random", "verse", "linear", "slerp", "vamen", "s", "z0", "cps",
                                   "preset", "walk", "", "..", "a" * 300, "/etc/passwd"]),
                  st.text(max_size=40))
values = st.one_of(numbers, texts, st.booleans(), st.none(), st.binary(max_size=16),
                   st.floats(width=64), st.integers(-2**63, 2**63 - 1))
addresses = st.one_of(st.sampled_from(ADDRESSES), st.sampled_from(ADDRESSES).map(lambda a: a + "/3"),
                      st.integers(-3, 40).map(lambda i: f"/vamen/latent/{i}"),
                      st.text(min_size=1, max_size=30).map(lambda t: "/" + t))


def build(address: str, args: list) -> bytes:
    """A well-formed message, whatever its content (as python-osc would send it)."""
    builder = OscMessageBuilder(address)
    for arg in args:
        if isinstance(arg, int) and not isinstance(arg, bool) and not -2**31 <= arg < 2**31:
            builder.add_arg(arg, OscMessageBuilder.ARG_TYPE_INT64)
        elif isinstance(arg, float) and abs(arg) > 3.4e38:
            builder.add_arg(arg, OscMessageBuilder.ARG_TYPE_DOUBLE)
        else:
            builder.add_arg(arg)
    return builder.build().dgram


@st.composite
def messages(draw) -> bytes:
    address = draw(addresses)
    if address == "/dirt/play":  # key, value pairs
        pairs = draw(st.lists(st.tuples(texts, values), max_size=8))
        args = [x for pair in pairs for x in pair]
    else:
        args = draw(st.lists(values, max_size=12))
        if draw(st.booleans()):
            args.append(draw(st.lists(values, max_size=3)))  # an OSC array
    try:
        return build(address, args)
    except Exception:  # an address or string python-osc will not build (not UTF-8 safe, NUL)
        return build("/vamen/ping", [])


@st.composite
def damaged(draw, inner) -> bytes:
    data = bytearray(draw(inner))
    for _ in range(draw(st.integers(0, 4))):
        how = draw(st.sampled_from(["flip", "cut", "splice", "tag", "size"]))
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        if how == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif how == "cut":
            del data[at:]
        elif how == "splice":
            data[at:at] = draw(st.binary(min_size=1, max_size=12))
        elif how == "tag":  # a type tag nobody knows, or an unbalanced array
            comma = data.find(b",")
            if comma >= 0 and comma + 1 < len(data):
                data[comma + 1] = draw(st.sampled_from(b"xyzcSI[]\x00\xff"))
        else:  # an absurd count where a size or an integer sits
            data[at:at + 4] = struct.pack(">i", draw(st.sampled_from([-1, 0, 2**31 - 1, 4096, 3])))
    return bytes(data)


@st.composite
def bundles(draw, inner, depth: int = 0) -> bytes:
    tag = draw(st.sampled_from([b"\x00" * 7 + b"\x01", struct.pack(">Q", draw(st.integers(0, 2**64 - 1)))]))
    out = BUNDLE + tag
    for _ in range(draw(st.integers(0, 4))):
        element = draw(bundles(inner, depth + 1)) if depth < 10 and draw(st.booleans()) else draw(inner)
        size = len(element) if draw(st.integers(0, 9)) else draw(st.integers(-2**31, 2**31 - 1))
        out += struct.pack(">i", size) + element
    return out


datagrams = st.one_of(
    messages(),
    damaged(messages()),
    bundles(messages()),
    damaged(bundles(messages())),
    st.binary(max_size=200),
    st.binary(max_size=64).map(lambda b: BUNDLE + b),
    st.binary(max_size=64).map(lambda b: b"/vamen/latent\x00\x00\x00," + b),
)


def receive(dgram: bytes) -> list:
    """What the receive thread makes of one datagram: commands, or refusals (one line each)."""
    try:
        timed = decode_packet(dgram)
    except BadMessage as exc:
        one_line(exc)
        return []
    commands = []
    for at, msg in timed:
        try:
            commands += parse(msg.address, msg.params, SOURCE, at, LATENT_DIM)
        except BadMessage as exc:
            one_line(exc)
    return commands


@examples(1500)
@given(datagrams)
def test_any_datagram_gives_commands_or_one_line_refusals(dgram):
    for command in receive(dgram):
        assert_finite(command, type(command).__name__)


def decodes(dgram: bytes) -> bool:
    try:
        decode_packet(dgram)
    except BadMessage:
        return False
    return True


@examples(300)
@given(st.lists(st.one_of(messages(), damaged(messages())), min_size=1, max_size=6))
def test_a_bundle_gives_what_its_messages_give_in_order_or_nothing(contents):
    """Wrapped in a bundle, messages mean what they meant; one malformed refuses the whole bundle.

    Alone, a message whose size is not a multiple of 4 is read as python-osc
    reads it (leniently); as a bundle element it is malformed (OSC 1.0).
    """
    bundled = receive(BUNDLE + b"\x00" * 7 + b"\x01" + b"".join(struct.pack(">i", len(m)) + m for m in contents))
    if all(decodes(m) and len(m) % 4 == 0 for m in contents):
        assert [type(c) for c in bundled] == [type(c) for m in contents for c in receive(m)]
    else:
        assert bundled == []  # nothing of a bundle acts unless all of it is OSC


def test_an_unknown_type_tag_is_refused_not_skipped():
    """python-osc skips such a tag with a root-logger warning and reads the rest misaligned."""
    dgram = b"/vamen/gain\x00,xf\x00" + struct.pack(">f", 0.5)
    try:
        decode_packet(dgram)
    except BadMessage as exc:
        assert exc.address == "/vamen/gain" and "unknown OSC type tag 'x'" in one_line(exc)
    else:
        raise AssertionError("a message with an unknown type tag was decoded")


def test_a_newline_in_an_address_cannot_split_a_refusal_or_forge_a_log_line():
    dgram = b"/vamen/x\n2026-01-01 WARNING forged\x00\x00\x00\x00,f\x00\x00" + struct.pack(">f", 1.0)
    dgram = dgram[:len(dgram) - len(dgram) % 4]
    try:
        decode_packet(dgram)
    except BadMessage as exc:
        assert exc.address.startswith("/vamen/x\\n2026-01-01") and "\n" not in one_line(exc)
    else:
        raise AssertionError("an address with a newline was decoded")


def test_packets_larger_than_any_vamen_takes_are_refused_before_they_are_read():
    from vamen.server.sources.oscserver import MAX_ARGUMENTS, MAX_ELEMENTS, MAX_MESSAGE_BYTES

    ping = build("/vamen/ping", [])
    whole = BUNDLE + b"\x00" * 7 + b"\x01"
    assert len(decode_packet(whole + (struct.pack(">i", len(ping)) + ping) * MAX_ELEMENTS)) == MAX_ELEMENTS
    half = whole + (struct.pack(">i", len(ping)) + ping) * (MAX_ELEMENTS // 2 + 1)
    refusals = {
        "more than 128 messages": whole + (struct.pack(">i", len(half)) + half) * 2,  # in two bundles
        "more than 128 elements": whole + (struct.pack(">i", 16) + whole) * (MAX_ELEMENTS + 1),
        "more than 256 arguments": build("/dirt/play", [1] * (MAX_ARGUMENTS + 1)),
        "vamen reads at most 8192": build("/vamen/encode", ["x" * MAX_MESSAGE_BYTES]),
    }
    for words, dgram in refusals.items():
        try:
            decode_packet(dgram)
        except BadMessage as exc:
            assert words in one_line(exc), (words, exc)
        else:
            raise AssertionError(f"not refused: {words}")
