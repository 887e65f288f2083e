"""--keep-cpu-awake: a PM QoS request held while vamen plays, or one line saying why not."""
import os
import struct

from vamen.server.audio.cpuwake import DEVICE, CpuAwake


def test_the_request_is_written_and_held_until_closed(tmp_path):
    fifo = tmp_path / "qos"
    os.mkfifo(fifo)  # stands in for the device, so the test sees what is written
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    awake = CpuAwake(0, str(fifo))
    try:
        assert awake.start() is None and awake.holding
        assert struct.unpack("i", os.read(reader, 4)) == (0,)
    finally:
        awake.close()
        os.close(reader)
    assert not awake.holding


def test_no_access_is_one_line_and_nothing_held(tmp_path):
    awake = CpuAwake(0, str(tmp_path / "missing"))
    why = awake.start()
    assert why is not None and "\n" not in why and "cannot keep the CPUs awake" in why
    assert not awake.holding


def test_the_real_device_when_this_machine_allows_it():
    awake = CpuAwake()
    why = awake.start()
    try:
        if os.access(DEVICE, os.W_OK):
            assert why is None and awake.holding
        else:
            assert why is not None and not awake.holding
    finally:
        awake.close()
