{
 "patcher": {
  "fileversion": 1,
  "appversion": {
   "major": 8,
   "minor": 5,
   "revision": 0,
   "architecture": "x64",
   "modernui": 1
  },
  "classnamespace": "box",
  "rect": [
   80.0,
   80.0,
   1000.0,
   420.0
  ],
  "openinpresentation": 0,
  "default_fontsize": 12.0,
  "gridsize": [
   15.0,
   15.0
  ],
  "description": "vamen notify-sink client: udpreceive -> buffer~ replace -> groove~ on the bar; dials -> udpsend",
  "boxes": [
   {
    "box": {
     "id": "obj-title",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      20,
      10,
      600,
      22
     ],
     "text": "vamen: plays the loops of `vamen serve --sink notify` on the bar, and steers vamen (UDP 57140)"
    }
   },
   {
    "box": {
     "id": "obj-recv",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 1,
     "patching_rect": [
      20,
      50,
      150,
      22
     ],
     "text": "udpreceive 57150",
     "outlettype": [
      ""
     ]
    }
   },
   {
    "box": {
     "id": "obj-route",
     "maxclass": "newobj",
     "numinlets": 2,
     "numoutlets": 2,
     "patching_rect": [
      20,
      80,
      150,
      22
     ],
     "text": "route /vamen/loop",
     "outlettype": [
      "",
      ""
     ]
    }
   },
   {
    "box": {
     "id": "obj-unpack",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 5,
     "patching_rect": [
      20,
      110,
      200,
      22
     ],
     "text": "unpack s 0. 0. 0. 0",
     "outlettype": [
      "",
      "float",
      "float",
      "float",
      "int"
     ]
    }
   },
   {
    "box": {
     "id": "obj-replace",
     "maxclass": "newobj",
     "numinlets": 2,
     "numoutlets": 1,
     "patching_rect": [
      20,
      150,
      150,
      22
     ],
     "text": "prepend replace",
     "outlettype": [
      ""
     ]
    }
   },
   {
    "box": {
     "id": "obj-buffer",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 2,
     "patching_rect": [
      20,
      180,
      150,
      22
     ],
     "text": "buffer~ vamen-loop",
     "outlettype": [
      "float",
      "bang"
     ]
    }
   },
   {
    "box": {
     "id": "obj-print",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      200,
      210,
      150,
      22
     ],
     "text": "print vamen-loaded"
    }
   },
   {
    "box": {
     "id": "obj-tempo",
     "maxclass": "newobj",
     "numinlets": 2,
     "numoutlets": 1,
     "patching_rect": [
      250,
      150,
      150,
      22
     ],
     "text": "prepend tempo",
     "outlettype": [
      ""
     ]
    }
   },
   {
    "box": {
     "id": "obj-transport",
     "maxclass": "newobj",
     "numinlets": 2,
     "numoutlets": 9,
     "patching_rect": [
      250,
      180,
      150,
      22
     ],
     "text": "transport",
     "outlettype": [
      "",
      "",
      "",
      "",
      "",
      "",
      "",
      "",
      ""
     ]
    }
   },
   {
    "box": {
     "id": "obj-bar",
     "maxclass": "newobj",
     "numinlets": 2,
     "numoutlets": 1,
     "patching_rect": [
      420,
      150,
      200,
      22
     ],
     "text": "metro 1n @quantize 1n @active 1",
     "outlettype": [
      "bang"
     ]
    }
   },
   {
    "box": {
     "id": "obj-start",
     "maxclass": "message",
     "numinlets": 2,
     "numoutlets": 1,
     "patching_rect": [
      420,
      180,
      40,
      22
     ],
     "text": "0"
    }
   },
   {
    "box": {
     "id": "obj-groove",
     "maxclass": "newobj",
     "numinlets": 3,
     "numoutlets": 2,
     "patching_rect": [
      20,
      250,
      200,
      22
     ],
     "text": "groove~ vamen-loop 1 @loop 1",
     "outlettype": [
      "signal",
      "signal"
     ]
    }
   },
   {
    "box": {
     "id": "obj-rate",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 1,
     "patching_rect": [
      20,
      220,
      60,
      22
     ],
     "text": "sig~ 1",
     "outlettype": [
      "signal"
     ]
    }
   },
   {
    "box": {
     "id": "obj-gain",
     "maxclass": "newobj",
     "numinlets": 2,
     "numoutlets": 1,
     "patching_rect": [
      20,
      290,
      60,
      22
     ],
     "text": "*~ 0.8",
     "outlettype": [
      "signal"
     ]
    }
   },
   {
    "box": {
     "id": "obj-dac",
     "maxclass": "ezdac~",
     "numinlets": 2,
     "numoutlets": 0,
     "patching_rect": [
      20,
      330,
      45,
      22
     ],
     "text": "ezdac~"
    }
   },
   {
    "box": {
     "id": "obj-loadbang",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 1,
     "patching_rect": [
      420,
      100,
      70,
      22
     ],
     "text": "loadbang",
     "outlettype": [
      "bang"
     ]
    }
   },
   {
    "box": {
     "id": "obj-run",
     "maxclass": "message",
     "numinlets": 2,
     "numoutlets": 1,
     "patching_rect": [
      330,
      130,
      30,
      22
     ],
     "text": "1"
    }
   },
   {
    "box": {
     "id": "obj-ctl-comment",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      520,
      50,
      420,
      22
     ],
     "text": "controls: dials for latent 0-3 (-3..3), random, walk depth, tempo"
    }
   },
   {
    "box": {
     "id": "obj-dial0",
     "maxclass": "dial",
     "numinlets": 1,
     "numoutlets": 1,
     "patching_rect": [
      520,
      80,
      40,
      22
     ],
     "outlettype": [
      "float"
     ],
     "size": 600.0,
     "floatoutput": 1
    }
   },
   {
    "box": {
     "id": "obj-scale0",
     "maxclass": "newobj",
     "numinlets": 6,
     "numoutlets": 1,
     "patching_rect": [
      520,
      125,
      85,
      22
     ],
     "text": "scale 0. 599. -3. 3.",
     "outlettype": [
      ""
     ]
    }
   },
   {
    "box": {
     "id": "obj-msg0",
     "maxclass": "newobj",
     "numinlets": 2,
     "numoutlets": 1,
     "patching_rect": [
      520,
      150,
      85,
      22
     ],
     "text": "prepend /vamen/latent/0",
     "outlettype": [
      ""
     ]
    }
   },
   {
    "box": {
     "id": "obj-dial1",
     "maxclass": "dial",
     "numinlets": 1,
     "numoutlets": 1,
     "patching_rect": [
      610,
      80,
      40,
      22
     ],
     "outlettype": [
      "float"
     ],
     "size": 600.0,
     "floatoutput": 1
    }
   },
   {
    "box": {
     "id": "obj-scale1",
     "maxclass": "newobj",
     "numinlets": 6,
     "numoutlets": 1,
     "patching_rect": [
      610,
      125,
      85,
      22
     ],
     "text": "scale 0. 599. -3. 3.",
     "outlettype": [
      ""
     ]
    }
   },
   {
    "box": {
     "id": "obj-msg1",
     "maxclass": "newobj",
     "numinlets": 2,
     "numoutlets": 1,
     "patching_rect": [
      610,
      150,
      85,
      22
     ],
     "text": "prepend /vamen/latent/1",
     "outlettype": [
      ""
     ]
    }
   },
   {
    "box": {
     "id": "obj-dial2",
     "maxclass": "dial",
     "numinlets": 1,
     "numoutlets": 1,
     "patching_rect": [
      700,
      80,
      40,
      22
     ],
     "outlettype": [
      "float"
     ],
     "size": 600.0,
     "floatoutput": 1
    }
   },
   {
    "box": {
     "id": "obj-scale2",
     "maxclass": "newobj",
     "numinlets": 6,
     "numoutlets": 1,
     "patching_rect": [
      700,
      125,
      85,
      22
     ],
     "text": "scale 0. 599. -3. 3.",
     "outlettype": [
      ""
     ]
    }
   },
   {
    "box": {
     "id": "obj-msg2",
     "maxclass": "newobj",
     "numinlets": 2,
     "numoutlets": 1,
     "patching_rect": [
      700,
      150,
      85,
      22
     ],
     "text": "prepend /vamen/latent/2",
     "outlettype": [
      ""
     ]
    }
   },
   {
    "box": {
     "id": "obj-dial3",
     "maxclass": "dial",
     "numinlets": 1,
     "numoutlets": 1,
     "patching_rect": [
      790,
      80,
      40,
      22
     ],
     "outlettype": [
      "float"
     ],
     "size": 600.0,
     "floatoutput": 1
    }
   },
   {
    "box": {
     "id": "obj-scale3",
     "maxclass": "newobj",
     "numinlets": 6,
     "numoutlets": 1,
     "patching_rect": [
      790,
      125,
      85,
      22
     ],
     "text": "scale 0. 599. -3. 3.",
     "outlettype": [
      ""
     ]
    }
   },
   {
    "box": {
     "id": "obj-msg3",
     "maxclass": "newobj",
     "numinlets": 2,
     "numoutlets": 1,
     "patching_rect": [
      790,
      150,
      85,
      22
     ],
     "text": "prepend /vamen/latent/3",
     "outlettype": [
      ""
     ]
    }
   },
   {
    "box": {
     "id": "obj-random",
     "maxclass": "button",
     "numinlets": 1,
     "numoutlets": 1,
     "patching_rect": [
      520,
      200,
      24,
      22
     ],
     "outlettype": [
      "bang"
     ]
    }
   },
   {
    "box": {
     "id": "obj-random-msg",
     "maxclass": "message",
     "numinlets": 2,
     "numoutlets": 1,
     "patching_rect": [
      520,
      230,
      100,
      22
     ],
     "text": "/vamen/random"
    }
   },
   {
    "box": {
     "id": "obj-walk",
     "maxclass": "flonum",
     "numinlets": 1,
     "numoutlets": 2,
     "patching_rect": [
      640,
      200,
      50,
      22
     ],
     "outlettype": [
      "",
      "bang"
     ]
    }
   },
   {
    "box": {
     "id": "obj-walk-msg",
     "maxclass": "newobj",
     "numinlets": 2,
     "numoutlets": 1,
     "patching_rect": [
      640,
      230,
      120,
      22
     ],
     "text": "prepend /vamen/walk",
     "outlettype": [
      ""
     ]
    }
   },
   {
    "box": {
     "id": "obj-bpm",
     "maxclass": "flonum",
     "numinlets": 1,
     "numoutlets": 2,
     "patching_rect": [
      780,
      200,
      50,
      22
     ],
     "outlettype": [
      "",
      "bang"
     ]
    }
   },
   {
    "box": {
     "id": "obj-bpm-msg",
     "maxclass": "newobj",
     "numinlets": 2,
     "numoutlets": 1,
     "patching_rect": [
      780,
      230,
      120,
      22
     ],
     "text": "prepend /vamen/tempo",
     "outlettype": [
      ""
     ]
    }
   },
   {
    "box": {
     "id": "obj-send",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      520,
      280,
      160,
      22
     ],
     "text": "udpsend 127.0.0.1 57140"
    }
   },
   {
    "box": {
     "id": "obj-chop-msg",
     "maxclass": "message",
     "numinlets": 2,
     "numoutlets": 1,
     "outlettype": [
      ""
     ],
     "patching_rect": [
      820,
      230,
      300,
      22
     ],
     "text": "/vamen/chop 0 0 0 0 4 4 4 4 8 8 8 8 12 12 -1 15"
    }
   },
   {
    "box": {
     "id": "obj-chop-roll-msg",
     "maxclass": "message",
     "numinlets": 2,
     "numoutlets": 1,
     "outlettype": [
      ""
     ],
     "patching_rect": [
      820,
      200,
      140,
      22
     ],
     "text": "/vamen/chop/roll 15 4"
    }
   },
   {
    "box": {
     "id": "obj-chop-off-msg",
     "maxclass": "message",
     "numinlets": 2,
     "numoutlets": 1,
     "outlettype": [
      ""
     ],
     "patching_rect": [
      970,
      200,
      80,
      22
     ],
     "text": "/vamen/chop"
    }
   },
   {
    "box": {
     "id": "obj-chop-comment",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      820,
      170,
      300,
      20
     ],
     "text": "live chops: slice per 16th (-1 rests), a roll, the plain loop, one hit (the 5th 16th)"
    }
   },
   {
    "box": {
     "id": "obj-chop-slice-msg",
     "maxclass": "message",
     "numinlets": 2,
     "numoutlets": 1,
     "outlettype": [
      ""
     ],
     "patching_rect": [
      1060,
      200,
      130,
      22
     ],
     "text": "/vamen/chop/slice 4"
    }
   }
  ],
  "lines": [
   {
    "patchline": {
     "source": [
      "obj-recv",
      0
     ],
     "destination": [
      "obj-route",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-route",
      0
     ],
     "destination": [
      "obj-unpack",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-unpack",
      0
     ],
     "destination": [
      "obj-replace",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-replace",
      0
     ],
     "destination": [
      "obj-buffer",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-buffer",
      1
     ],
     "destination": [
      "obj-print",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-unpack",
      3
     ],
     "destination": [
      "obj-tempo",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-tempo",
      0
     ],
     "destination": [
      "obj-transport",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-loadbang",
      0
     ],
     "destination": [
      "obj-run",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-run",
      0
     ],
     "destination": [
      "obj-transport",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-bar",
      0
     ],
     "destination": [
      "obj-start",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-start",
      0
     ],
     "destination": [
      "obj-groove",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-rate",
      0
     ],
     "destination": [
      "obj-groove",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-groove",
      0
     ],
     "destination": [
      "obj-gain",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-gain",
      0
     ],
     "destination": [
      "obj-dac",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-gain",
      0
     ],
     "destination": [
      "obj-dac",
      1
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-dial0",
      0
     ],
     "destination": [
      "obj-scale0",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-scale0",
      0
     ],
     "destination": [
      "obj-msg0",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-msg0",
      0
     ],
     "destination": [
      "obj-send",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-dial1",
      0
     ],
     "destination": [
      "obj-scale1",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-scale1",
      0
     ],
     "destination": [
      "obj-msg1",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-msg1",
      0
     ],
     "destination": [
      "obj-send",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-dial2",
      0
     ],
     "destination": [
      "obj-scale2",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-scale2",
      0
     ],
     "destination": [
      "obj-msg2",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-msg2",
      0
     ],
     "destination": [
      "obj-send",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-dial3",
      0
     ],
     "destination": [
      "obj-scale3",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-scale3",
      0
     ],
     "destination": [
      "obj-msg3",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-msg3",
      0
     ],
     "destination": [
      "obj-send",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-random",
      0
     ],
     "destination": [
      "obj-random-msg",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-random-msg",
      0
     ],
     "destination": [
      "obj-send",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-walk",
      0
     ],
     "destination": [
      "obj-walk-msg",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-walk-msg",
      0
     ],
     "destination": [
      "obj-send",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-bpm",
      0
     ],
     "destination": [
      "obj-bpm-msg",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-bpm-msg",
      0
     ],
     "destination": [
      "obj-send",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-chop-msg",
      0
     ],
     "destination": [
      "obj-send",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-chop-roll-msg",
      0
     ],
     "destination": [
      "obj-send",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-chop-off-msg",
      0
     ],
     "destination": [
      "obj-send",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-chop-slice-msg",
      0
     ],
     "destination": [
      "obj-send",
      0
     ]
    }
   }
  ]
 }
}