"""A UDP OSC client for tests: sends datagrams, reads replies with a timeout."""
import socket

from pythonosc.osc_bundle_builder import OscBundleBuilder
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

TIMEOUT = 2.0


def message(address, *args):
    builder = OscMessageBuilder(address)
    for arg in args:
        builder.add_arg(arg)
    return builder.build()


def bundle(when, *messages):
    builder = OscBundleBuilder(when)
    for msg in messages:
        builder.add_content(msg)
    return builder.build().dgram


class Client:
    """A UDP socket that sends datagrams and reads OSC replies, never waiting more than 2 s."""

    def __init__(self, server):
        self.server = ("127.0.0.1", server.port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(TIMEOUT)
        self.address = self.sock.getsockname()

    def send(self, dgram):
        if isinstance(dgram, OscMessage):
            dgram = dgram.dgram
        self.sock.sendto(dgram, self.server)

    def reply(self):
        dgram, sender = self.sock.recvfrom(65535)
        assert sender == self.server  # replies leave from the server's own port
        msg = OscMessage(dgram)
        return msg.address, msg.params

    def ask(self, dgram):
        self.send(dgram)
        return self.reply()

    def close(self):
        self.sock.close()
