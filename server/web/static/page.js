// vamen's page: every control sends an OSC-shaped message {address, args} over the
// WebSocket; the server parses it as OSC and answers errors the same way.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const SEND_EVERY_MS = 50;   // a drag or a slider sends at most 20 messages a second
  const CHOPS = {             // one slice per sixteenth, -1 a rest
    plain: [],
    stutter: [0, 0, 2, 3, 4, 4, 6, 7, 8, 8, 10, 11, 12, 12, 12, 12],
    halftime: [0, 1, 2, 3, 0, 1, 2, 3, 8, 9, 10, 11, 8, 9, 10, 11],
    backbeat: [0, 1, 4, 3, 4, 5, 12, 7, 8, 9, 4, 11, 12, 13, 12, 15],
    gaps: [0, -1, 2, -1, 4, 5, -1, 7, 8, -1, 10, -1, 12, 13, -1, 15],
    reverse: [15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
  };
  const vamen = window.vamen = {
    socket: null, state: null, hello: null, errors: [], view: null, axes: null,
    send: send,
  };
  let errorTimer = 0;

  // -- the connection ------------------------------------------------------------
  let retry = 500;
  function connect() {
    const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws");
    vamen.socket = ws;
    ws.onopen = () => { retry = 500; $("link").classList.add("on"); };
    ws.onclose = () => {
      $("link").classList.remove("on");
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 5000);
    };
    ws.onmessage = (event) => {
      let msg;
      try { msg = JSON.parse(event.data); } catch (e) { return; }
      const on = handlers[msg.type];
      if (on) on(msg);
    };
  }
  function send(address, args) {
    const ws = vamen.socket;
    if (!ws || ws.readyState !== WebSocket.OPEN) { showError(address, "not connected to vamen"); return false; }
    ws.send(JSON.stringify({ address: address, args: args || [] }));
    return true;
  }
  function throttled(fn) {  // the latest call goes out, at most once every SEND_EVERY_MS
    let last = 0, timer = 0, pending = null;
    return function (...args) {
      pending = args;
      const wait = last + SEND_EVERY_MS - performance.now();
      if (wait <= 0) { last = performance.now(); fn(...pending); pending = null; return; }
      if (!timer) timer = setTimeout(() => { timer = 0; last = performance.now(); if (pending) fn(...pending); pending = null; }, wait);
    };
  }
  function showError(address, message) {
    vamen.errors.push({ address: address, message: message, time: Date.now() });
    const box = $("error");
    box.textContent = (address ? address + ": " : "") + message;
    box.hidden = false;
    clearTimeout(errorTimer);
    errorTimer = setTimeout(() => { box.hidden = true; }, 8000);
  }

  // -- messages from the server -------------------------------------------------------
  const handlers = {
    hello(msg) {
      vamen.hello = msg;
      buildAxes(msg);
      buildDims(msg.latent_dim);
      buildMorphTargets();
      vamen.view = null;
    },
    state(msg) {
      const last = vamen.state;
      const moved = !last || msg.latent.some((v, i) => v !== last.latent[i])
        || JSON.stringify(msg.presets) !== JSON.stringify(last.presets);
      vamen.state = msg;
      vamen.stateAt = performance.now();
      showState(msg);
      if (!moved) return;  // the map is redrawn when the point or a preset moves, not ten times a second
      trail.push(project(msg.latent));
      if (trail.length > 120) trail.shift();
      drawMap();
    },
    spectra(msg) {
      for (const [key, shown] of [["now", msg.now], ["next", msg.next]]) {
        const img = $("spec-" + key);
        if (shown) { img.src = "data:image/png;base64," + shown.png; img.dataset.serial = shown.serial; }
        else { img.removeAttribute("src"); img.dataset.serial = ""; }
        $(key + "-beat").textContent = shown ? "from beat " + shown.beat.toFixed(2) : "";
      }
    },
    error(msg) { showError(msg.address, msg.message); },
    reply(msg) { vamen.lastReply = msg; },
  };

  // -- the map ---------------------------------------------------------------------------
  const canvas = $("map");
  const trail = [];
  let dragging = null;  // {base: latent the drag started from, target: [x, y]}

  function axisVector(name, msg) {
    const dim = msg.latent_dim;
    if (name === "pc1" || name === "pc2") return msg.plane.axes[name === "pc1" ? 0 : 1].slice();
    const v = new Array(dim).fill(0);
    v[Number(name.slice(1))] = 1;
    return v;
  }
  function buildAxes(msg) {
    const select = $("axes");
    select.innerHTML = "";
    const add = (value, text) => { const o = document.createElement("option"); o.value = value; o.textContent = text; select.appendChild(o); };
    add("pc1,pc2", "main axes");
    for (let i = 0; i + 1 < msg.latent_dim; i++)
      for (let j = i + 1; j < msg.latent_dim; j++) add("z" + i + ",z" + j, "z" + i + " × z" + j);
    select.onchange = () => setAxes(select.value);
    setAxes("pc1,pc2");
  }
  function setAxes(value) {
    const msg = vamen.hello;
    const names = value.split(",");
    const rows = names.map((n) => axisVector(n, msg));
    const origin = value === "pc1,pc2" ? msg.plane.origin.slice() : new Array(msg.latent_dim).fill(0);
    // (A A^T)^-1 for moving a point to a place on the map by the least change
    const g = [[dot(rows[0], rows[0]), dot(rows[0], rows[1])], [dot(rows[1], rows[0]), dot(rows[1], rows[1])]];
    const det = g[0][0] * g[1][1] - g[0][1] * g[1][0];
    vamen.axes = { value: value, rows: rows, origin: origin,
      inverse: [[g[1][1] / det, -g[0][1] / det], [-g[1][0] / det, g[0][0] / det]] };
    vamen.view = null;
    trail.length = 0;
    drawMap();
  }
  function dot(a, b) { let s = 0; for (let i = 0; i < a.length; i++) s += a[i] * b[i]; return s; }
  function project(z) {
    const a = vamen.axes;
    if (!a || !z) return null;
    const d = z.map((v, i) => v - a.origin[i]);
    return [dot(a.rows[0], d), dot(a.rows[1], d)];
  }
  function moveTo(z, p) {  // z plus the least change that puts it at p on the map
    const a = vamen.axes, now = project(z);
    const e = [p[0] - now[0], p[1] - now[1]];
    const c = [a.inverse[0][0] * e[0] + a.inverse[0][1] * e[1], a.inverse[1][0] * e[0] + a.inverse[1][1] * e[1]];
    return z.map((v, i) => v + a.rows[0][i] * c[0] + a.rows[1][i] * c[1]);
  }
  function points() {
    const out = [];
    if (vamen.hello) for (const a of vamen.hello.anchors) out.push({ name: a.name, z: a.z, kind: "anchor" });
    if (vamen.state) for (const p of vamen.state.presets) out.push({ name: p.name, z: p.z, kind: "preset" });
    return out;
  }
  function fitView() {
    let r = 3;
    for (const p of points()) { const q = project(p.z); if (q) r = Math.max(r, Math.abs(q[0]), Math.abs(q[1])); }
    if (vamen.state) { const q = project(vamen.state.latent); if (q) r = Math.max(r, Math.abs(q[0]), Math.abs(q[1])); }
    r *= 1.1;
    vamen.view = { xmin: -r, xmax: r, ymin: -r, ymax: r };
  }
  function toPixel(q, w, h) {
    const v = vamen.view;
    return [(q[0] - v.xmin) / (v.xmax - v.xmin) * w, (1 - (q[1] - v.ymin) / (v.ymax - v.ymin)) * h];
  }
  function fromPixel(x, y, w, h) {
    const v = vamen.view;
    return [v.xmin + x / w * (v.xmax - v.xmin), v.ymin + (1 - y / h) * (v.ymax - v.ymin)];
  }
  function drawMap() {
    if (!vamen.axes || !vamen.hello) return;
    const ratio = window.devicePixelRatio || 1;
    const w = canvas.clientWidth, h = canvas.clientHeight;
    if (!w || !h) return;
    if (canvas.width !== Math.round(w * ratio)) { canvas.width = Math.round(w * ratio); canvas.height = Math.round(h * ratio); }
    if (!vamen.view && !dragging) fitView();
    const g = canvas.getContext("2d");
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, w, h);
    g.strokeStyle = "#23233a"; g.lineWidth = 1;
    for (let k = Math.ceil(vamen.view.xmin); k <= vamen.view.xmax; k++) {
      const [x] = toPixel([k, 0], w, h), [, y] = toPixel([0, k], w, h);
      g.beginPath(); g.moveTo(x, 0); g.lineTo(x, h); g.stroke();
      g.beginPath(); g.moveTo(0, y); g.lineTo(w, y); g.stroke();
    }
    g.font = "12px system-ui, sans-serif";
    const labelled = [];  // label boxes drawn: a label that would overlap one is left off (its dot stays)
    for (const p of points()) {
      const [x, y] = toPixel(project(p.z), w, h);
      g.fillStyle = p.kind === "preset" ? "#f5a030" : "#8a88a0";
      g.beginPath();
      if (p.kind === "preset") { g.moveTo(x, y - 7); g.lineTo(x + 7, y); g.lineTo(x, y + 7); g.lineTo(x - 7, y); }
      else g.arc(x, y, 4, 0, 2 * Math.PI);
      g.fill();
      const box = [x + 8, y - 18, x + 8 + g.measureText(p.name).width, y - 4];
      if (!labelled.some((b) => box[0] < b[2] && b[0] < box[2] && box[1] < b[3] && b[1] < box[3])) {
        labelled.push(box);
        g.fillText(p.name, x + 8, y - 6);
      }
    }
    g.strokeStyle = "#5ad07a88"; g.lineWidth = 2; g.beginPath();
    trail.forEach((q, i) => { if (!q) return; const [x, y] = toPixel(q, w, h); if (i) g.lineTo(x, y); else g.moveTo(x, y); });
    g.stroke();
    if (vamen.state) {
      const [x, y] = toPixel(project(vamen.state.latent), w, h);
      g.fillStyle = "#5ad07a"; g.beginPath(); g.arc(x, y, 11, 0, 2 * Math.PI); g.fill();
    }
    if (dragging) {
      const [x, y] = toPixel(dragging.target, w, h);
      g.strokeStyle = "#ffffff"; g.lineWidth = 2; g.beginPath(); g.arc(x, y, 16, 0, 2 * Math.PI); g.stroke();
    }
  }
  const sendLatent = throttled((z) => send("/vamen/latent", z.map((v) => Math.round(v * 1e4) / 1e4)));
  function dragTo(event) {
    const box = canvas.getBoundingClientRect();
    dragging.target = fromPixel(event.clientX - box.left, event.clientY - box.top, box.width, box.height);
    dragging.z = moveTo(dragging.base, dragging.target);
    sendLatent(dragging.z);
    drawMap();
  }
  canvas.addEventListener("pointerdown", (event) => {
    if (!vamen.state) return;
    canvas.setPointerCapture(event.pointerId);
    dragging = { base: vamen.state.latent.slice(), target: null };
    dragTo(event);
  });
  canvas.addEventListener("pointermove", (event) => { if (dragging) dragTo(event); });
  const endDrag = () => { if (dragging) { vamen.lastDrag = { target: dragging.target, z: dragging.z }; dragging = null; drawMap(); } };
  canvas.addEventListener("pointerup", endDrag);
  canvas.addEventListener("pointercancel", endDrag);
  window.addEventListener("resize", () => { vamen.view = null; drawMap(); });

  // -- sliders for every dimension ------------------------------------------------------------
  const touched = {};  // slider -> when it was last moved by hand: the state does not move it back meanwhile
  function buildDims(dim) {
    const box = $("dims");
    box.innerHTML = "";
    for (let i = 0; i < dim; i++) {
      const label = document.createElement("label");
      label.innerHTML = `<span>z${i}</span><input type="range" min="-3" max="3" step="0.01" value="0" id="z${i}"><output id="z${i}-v">0.00</output>`;
      box.appendChild(label);
      const input = label.querySelector("input");
      const sendCoord = throttled((v) => send("/vamen/latent/" + i, [v]));
      input.addEventListener("input", () => {
        touched[input.id] = performance.now();
        $("z" + i + "-v").textContent = Number(input.value).toFixed(2);
        sendCoord(Number(input.value));
      });
    }
  }
  function held(id) { return performance.now() - (touched[id] || -1e9) < 1000; }

  // -- controls ---------------------------------------------------------------------------------------
  function wireRange(id, fmt, onChange) {
    const input = $(id), out = $(id + "-v");
    const go = throttled(onChange);
    input.addEventListener("input", () => { touched[id] = performance.now(); out.textContent = fmt(input.value); go(Number(input.value)); });
  }
  const num = (v) => String(Number(v));
  wireRange("glide", num, (v) => send("/vamen/glide", [v]));
  wireRange("gain", (v) => Number(v).toFixed(2), (v) => send("/vamen/gain", [v]));
  wireRange("spread", num, () => {});
  wireRange("depth", num, () => { if (vamen.state && vamen.state.walk_depth > 0) walk(); });
  wireRange("rate", num, () => { if (vamen.state && vamen.state.walk_depth > 0) walk(); });
  function walk() { send("/vamen/walk", [Number($("depth").value), Number($("rate").value)]); }
  $("walk").onclick = walk;
  $("walk-stop").onclick = () => send("/vamen/walk", [0]);
  $("random").onclick = () => send("/vamen/random", [Number($("spread").value)]);
  $("play").onclick = () => send("/vamen/play");
  $("stop").onclick = () => send("/vamen/stop");
  $("quantize").onchange = () => send("/vamen/quantize", [Number($("quantize").value)]);
  $("tempo-set").onclick = () => send("/vamen/tempo", [Number($("tempo").value)]);
  $("tempo").addEventListener("keydown", (e) => { touched.tempo = performance.now(); if (e.key === "Enter") $("tempo-set").onclick(); });
  $("tempo").addEventListener("input", () => { touched.tempo = performance.now() + 4000; });
  const taps = [];
  $("tap").onclick = () => {
    const now = performance.now();
    if (taps.length && now - taps[taps.length - 1] > 2000) taps.length = 0;
    taps.push(now);
    if (taps.length > 8) taps.shift();
    if (taps.length >= 3) {
      const bpm = 60000 * (taps.length - 1) / (taps[taps.length - 1] - taps[0]);
      send("/vamen/tempo", [Math.round(bpm * 10) / 10]);
    }
  };
  function buildMorphTargets() {
    const select = $("morph-to"), was = select.value;
    select.innerHTML = "";
    for (const p of points()) {
      const o = document.createElement("option");
      o.value = p.name; o.textContent = (p.kind === "preset" ? "◆ " : "") + p.name;
      select.appendChild(o);
    }
    const o = document.createElement("option"); o.value = "random"; o.textContent = "random"; select.appendChild(o);
    if (was) select.value = was;
  }
  $("morph").onclick = () => send("/vamen/morph", [$("morph-to").value, Number($("morph-beats").value)]);
  $("preset-save").onclick = () => {
    const name = $("preset-name").value.trim();
    if (!name) { showError("/vamen/preset/save", "give the preset a name first"); return; }
    send("/vamen/preset/save", [name]);
  };
  let presetNames = "";
  function showPresets(list) {
    const names = list.map((p) => p.name).join("\n");
    if (names === presetNames) return;
    presetNames = names;
    const box = $("presets");
    box.innerHTML = "";
    for (const p of list) {
      const b = document.createElement("button");
      b.textContent = p.name; b.dataset.preset = p.name;
      b.onclick = () => send("/vamen/preset/load", [p.name, Number($("glide").value)]);
      box.appendChild(b);
    }
    buildMorphTargets();
  }
  for (const [name, steps] of Object.entries(CHOPS)) {
    const b = document.createElement("button");
    b.textContent = name; b.dataset.chop = name;
    b.onclick = () => send("/vamen/chop", steps);
    $("chops").appendChild(b);
  }
  $("chop").onclick = () => {
    const text = $("chop-steps").value.trim();
    const steps = text ? text.split(/[\s,]+/).map(Number) : [];
    send("/vamen/chop", steps);
  };
  for (let i = 0; i < 16; i++) {
    const b = document.createElement("button");
    b.textContent = String(i + 1); b.title = "strike slice " + (i + 1) + " of 16";
    b.onclick = () => send("/vamen/chop/slice", [i]);
    $("slices").appendChild(b);
  }

  // -- showing the state -------------------------------------------------------------------------------
  function setIfIdle(id, value) {
    const input = $(id);
    if (input && !held(id) && document.activeElement !== input) input.value = value;
  }
  function showState(s) {
    $("tempo-shown").textContent = s.tempo.toFixed(1) + " BPM";
    setIfIdle("tempo", s.tempo.toFixed(1));
    if (!held("quantize") && document.activeElement !== $("quantize")) $("quantize").value = String(s.quantize);
    for (const [id, value] of [["gain", s.gain], ["glide", s.glide]]) {
      if (!held(id)) { $(id).value = value; $(id + "-v").textContent = id === "gain" ? Number(value).toFixed(2) : num(value); }
    }
    $("play").classList.toggle("on", !!s.playing);
    $("stop").classList.toggle("on", !s.playing);
    $("walk").classList.toggle("on", s.walk_depth > 0);
    s.latent.forEach((v, i) => {
      if (held("z" + i) || dragging) return;
      const input = $("z" + i), shown = v.toFixed(2), label = $("z" + i + "-v");
      // only what changed is touched: every write costs the phone a layout, ten times a second
      if (input && label.textContent !== shown) { input.value = v; label.textContent = shown; }
    });
    showPresets(s.presets);
    showHealth(s);
    showPlayhead();
  }
  // The playhead (bar.beat), stepped by a timer set for the next beat: no animation frame
  // loop, so a page left open draws nothing between states (a browser asked for a frame 60
  // times a second composites 60 times a second, on a phone or beside the server alike).
  // A state a few milliseconds old may put the beat just before the one already shown: the
  // playhead never steps back for that (it would flicker 12.3, 12.2, 12.3), only for a real jump.
  let shownBeat = null, playheadTimer = 0;
  function showPlayhead() {
    clearTimeout(playheadTimer);
    const s = vamen.state;
    if (!s) return;
    const beatMs = 60000 / s.tempo;
    let beat = s.bar * 4 + s.beat;
    if (s.playing) beat += (performance.now() - vamen.stateAt) / beatMs;
    const whole = Math.floor(beat);
    if (shownBeat === null || whole > shownBeat || whole < shownBeat - 1) {
      shownBeat = whole;
      $("playhead").textContent = (Math.floor(whole / 4) + 1) + "." + (whole % 4 + 1);
    }
    // just after the next beat, or at the next state if that comes first (it resets the timer)
    if (s.playing) playheadTimer = setTimeout(showPlayhead, (Math.floor(beat) + 1 - beat) * beatMs + 2);
  }
  let shownHealth = "";
  function showHealth(s) {
    const rows = [
      ["underruns", `${s.underruns} by the sound card · ${s.starved} starved (render) · ${s.late_loops} late loops`, s.underruns + s.starved + s.late_loops > 0],
      ["render", `${s.render_ms_p50} ms median · ${s.render_ms_p99} ms p99 · ${s.queued_loops} queued`],
      ["clock", s.clock + (s.link_peers !== undefined ? ` · ${s.link_peers} Link peers` : "")],
      ["output", `${s.output} at ${s.sample_rate} Hz` + (s.audio_restarts ? ` · ${s.audio_restarts} restarts, ${s.audio_down_seconds} s down` : "")
        + (s.callback_max_ms !== undefined ? ` · callback max ${s.callback_max_ms} ms` : "")],
      ["OSC senders", (s.senders.length ? s.senders.join(", ") : "none yet") + ` · ${s.osc_dropped} dropped` + (s.osc_dropped_by ? ` (${s.osc_dropped_by})` : ""), s.osc_dropped > 0],
      ["pages", `${s.web_pages} open · ${s.web_dropped} messages dropped`],
      ["autopilot", s.autopilot ? `${s.autopilot_scene} bar ${s.autopilot_scene_bar + 1}/${s.autopilot_scene_bars}` + (s.autopilot_paused ? " (paused)" : "") : "off"],
      ["chop", s.chop || "plain loop"],
      ["queue", `${s.queue_depth} commands waiting`],
      ["last error", s.last_error || "none", !!s.last_error],
    ];
    const shown = JSON.stringify(rows);
    if (shown === shownHealth) return;  // rebuilt only when a figure changed
    shownHealth = shown;
    const dl = $("health");
    dl.innerHTML = "";
    for (const [name, text, bad] of rows) {
      const dt = document.createElement("dt"), dd = document.createElement("dd");
      dt.textContent = name; dd.textContent = text;
      if (bad) dd.classList.add("bad");
      dl.appendChild(dt); dl.appendChild(dd);
    }
  }

  connect();
})();
