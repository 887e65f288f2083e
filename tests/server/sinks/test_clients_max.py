"""The Max client: patches/max/vamen.maxpat is a patcher Max would open.

No Max here (it runs on macOS and Windows only), so the test checks what
would make Max refuse or mis-wire the file: valid JSON of the shape
``{"patcher": {"boxes": [...], "lines": [...]}}``, every box with its
fields, unique ids, every patch cord between boxes that exist and within
their outlets and inlets, and the objects the README's walkthrough names.
"""
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PATCH = ROOT / "patches" / "max" / "vamen.maxpat"
WALKTHROUGH = ("udpreceive", "route /vamen/loop", "buffer~", "groove~", "transport", "metro",
               "udpsend", "dial", "ezdac~")


def load():
    return json.loads(PATCH.read_text())["patcher"]


def test_every_box_has_what_max_needs_and_a_unique_id():
    boxes = [b["box"] for b in load()["boxes"]]
    ids = [b["id"] for b in boxes]
    assert len(ids) == len(set(ids))
    for b in boxes:
        assert {"id", "maxclass", "numinlets", "numoutlets", "patching_rect"} <= set(b), b
        assert len(b["patching_rect"]) == 4
        if b["maxclass"] in ("newobj", "message", "comment"):
            assert b.get("text"), b
        if b["maxclass"] == "newobj" and b["numoutlets"]:
            assert len(b["outlettype"]) == b["numoutlets"], b


def test_every_cord_joins_existing_boxes_within_their_inlets_and_outlets():
    patcher = load()
    boxes = {b["box"]["id"]: b["box"] for b in patcher["boxes"]}
    assert patcher["lines"]
    for cord in patcher["lines"]:
        (src, outlet), (dst, inlet) = cord["patchline"]["source"], cord["patchline"]["destination"]
        assert src in boxes and dst in boxes, cord
        assert 0 <= outlet < boxes[src]["numoutlets"], cord
        assert 0 <= inlet < boxes[dst]["numinlets"], cord


def test_the_objects_the_walkthrough_names_are_there_and_wired():
    boxes = [b["box"] for b in load()["boxes"]]
    texts = [b.get("text", "") + " " + b["maxclass"] for b in boxes]
    for name in WALKTHROUGH:
        assert any(name in t for t in texts), name
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Max")[1].split("###")[0]
    for name in ("udpreceive", "buffer~", "groove~", "udpsend"):
        assert name in section, name
    ports = {int(p) for t in texts for p in re.findall(r"udp(?:receive|send)(?: [0-9.]+)? (\d+)", t)}
    assert ports == {57150, 57140}, ports  # the notify sink's default, vamen's OSC port
