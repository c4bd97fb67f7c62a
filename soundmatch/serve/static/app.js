// The page of `soundmatch serve`: upload or record a sound, follow its match live (server-sent
// events), hear and download the answers. Everything goes through the JSON API (docs/serve.md).
"use strict";

const $ = (selector, root = document) => root.querySelector(selector);
const state = { file: null, synths: {}, streams: {} };

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

async function api(path, options = {}) {
  const response = await fetch(path, options);
  const body = await response.json().catch(() => ({ error: `${response.status} ${response.statusText}` }));
  if (!response.ok) throw new Error(body.error || `${response.status} ${response.statusText}`);
  return body;
}

function say(text) { $("#message").textContent = text || ""; }

// ------------------------------------------------------------------ choosing a sound

function choose(file) {
  state.file = file;
  $("#chosen").textContent = file ? `${file.name} (${(file.size / 1e6).toFixed(2)} MB)` : "";
  const preview = $("#preview");
  if (file) { preview.src = URL.createObjectURL(file); preview.hidden = false; }
  $("#start").disabled = !file;
  say("");
}

function setUpDrop() {
  const drop = $("#drop");
  $("#file").addEventListener("change", (e) => choose(e.target.files[0] || null));
  for (const kind of ["dragenter", "dragover"]) {
    drop.addEventListener(kind, (e) => { e.preventDefault(); drop.classList.add("over"); });
  }
  for (const kind of ["dragleave", "drop"]) {
    drop.addEventListener(kind, () => drop.classList.remove("over"));
  }
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    if (e.dataTransfer.files.length) choose(e.dataTransfer.files[0]);
  });
  drop.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") $("#file").click(); });
}

// Recording: the microphone's samples, written as a 16-bit WAV here (what every reader takes;
// a browser's own recorder writes WebM/Opus).
function setUpRecording() {
  const button = $("#record");
  let recorder = null;
  button.addEventListener("click", async () => {
    if (recorder) { choose(recorder.stop()); recorder = null; button.classList.remove("on"); button.textContent = "● Record"; return; }
    try {
      recorder = await startRecording();
      button.classList.add("on"); button.textContent = "■ Stop";
      say("");
    } catch (err) { say(`cannot record: ${err.message}`); }
  });
}

async function startRecording() {
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  const context = new AudioContext();
  const source = context.createMediaStreamSource(stream);
  const tap = context.createScriptProcessor(4096, 1, 1);
  const chunks = [];
  tap.onaudioprocess = (e) => chunks.push(new Float32Array(e.inputBuffer.getChannelData(0)));
  source.connect(tap); tap.connect(context.destination);
  return {
    stop() {
      tap.disconnect(); source.disconnect(); stream.getTracks().forEach((t) => t.stop());
      context.close();
      return new File([wav(chunks, context.sampleRate)], "recording.wav", { type: "audio/wav" });
    },
  };
}

function wav(chunks, rate) {
  const n = chunks.reduce((sum, c) => sum + c.length, 0);
  const view = new DataView(new ArrayBuffer(44 + 2 * n));
  const text = (offset, s) => [...s].forEach((ch, i) => view.setUint8(offset + i, ch.charCodeAt(0)));
  text(0, "RIFF"); view.setUint32(4, 36 + 2 * n, true); text(8, "WAVEfmt ");
  view.setUint32(16, 16, true); view.setUint16(20, 1, true); view.setUint16(22, 1, true);
  view.setUint32(24, rate, true); view.setUint32(28, 2 * rate, true);
  view.setUint16(32, 2, true); view.setUint16(34, 16, true); text(36, "data");
  view.setUint32(40, 2 * n, true);
  let offset = 44;
  for (const chunk of chunks) for (const x of chunk) {
    view.setInt16(offset, Math.max(-1, Math.min(1, x)) * 32767, true); offset += 2;
  }
  return view.buffer;
}

// ------------------------------------------------------------------ starting a match

// The user's own preset files go up first; the match names them by the ids they get.
async function uploadPresets() {
  const ids = [];
  for (const file of $("#preset-files").files) {
    const preset = await api(`/api/presets?${new URLSearchParams({ name: file.name })}`, { method: "POST", body: file });
    ids.push(preset.id);
  }
  return ids;
}

async function start() {
  if (!state.file) return;
  $("#start").disabled = true;
  say("");
  try {
    const params = new URLSearchParams({
      name: state.file.name, synth: $("#synth").value, budget: $("#budget").value.trim(),
      candidates: $("#candidates").value, presets: $("#presets").checked ? "1" : "0",
      preset_files: (await uploadPresets()).join(","),
    });
    const job = await api(`/api/matches?${params}`, { method: "POST", body: state.file });
    show(job);
    follow(job.id);
  } catch (err) {
    say(err.message);
  } finally {
    $("#start").disabled = !state.file;
  }
}

// ------------------------------------------------------------------ the list of matches

function card(job) {
  let node = $(`.job[data-id="${job.id}"]`);
  if (!node) {
    node = $("#job-template").content.firstElementChild.cloneNode(true);
    node.dataset.id = job.id;
    $(".cancel", node).addEventListener("click", () => api(`/api/matches/${job.id}/cancel`, { method: "POST" }).catch((e) => say(e.message)));
    $(".remove", node).addEventListener("click", async () => {
      try { await api(`/api/matches/${job.id}`, { method: "DELETE" }); node.remove(); updateEmpty(); }
      catch (e) { say(e.message); }
    });
    $("#matches").prepend(node);
  }
  return node;
}

function updateEmpty() { $("#empty").hidden = $("#matches").children.length > 0; }

function progressText(job) {
  if (job.state === "queued") return job.position ? `waiting: ${job.position === 1 ? "next" : `number ${job.position} in the queue`}` : "waiting";
  if (job.state === "running") return job.renders ? `searching: ${job.renders} renders, best distance ${job.best.toFixed(4)}` : "starting…";
  if (job.state === "done") return job.results.length ? `${job.results[0].renders} renders` : "";
  return "";
}

function show(job) {
  const node = card(job);
  $(".name", node).textContent = job.name;
  $(".synth", node).textContent = (state.synths[job.settings.synth] || {}).label || job.settings.synth;
  const stateNode = $(".state", node);
  stateNode.textContent = job.state;
  stateNode.className = `state ${job.state}`;
  const finished = ["done", "failed", "cancelled"].includes(job.state);
  $(".cancel", node).hidden = finished;
  $(".remove", node).hidden = !finished;
  const progress = $(".progress", node);
  progress.replaceChildren(job.error ? el("span", { class: "error", text: job.error }) : progressText(job));
  if (job.state === "done" && !node.dataset.shown) {
    node.dataset.shown = "1";
    showResults(node, job);
  }
  updateEmpty();
}

function fileUrl(job, name, download = false) {
  return `/api/matches/${job.id}/files/${encodeURIComponent(name)}${download ? "?download=1" : ""}`;
}

function showResults(node, job) {
  const input = el("audio", { controls: "", preload: "none", src: fileUrl(job, job.input), class: "input-audio" });
  $(".input", node).replaceChildren(el("h4", { text: "Input" }), input,
    el("p", { class: "downloads" }, el("a", { href: `/api/matches/${job.id}/all.zip`, class: "download-all", text: "Download everything (zip)" })));
  const list = $(".candidates", node);
  list.replaceChildren();
  for (const c of job.results) list.append(candidate(job, c, input));
}

function candidate(job, c, input) {
  const audio = el("audio", { controls: "", preload: "none", src: fileUrl(job, c.files.audio), class: "match-audio" });
  const ab = el("button", { type: "button", class: "ab", title: "Switch between the input and this match at the same moment", text: "A/B" });
  ab.addEventListener("click", () => abToggle(input, audio, ab));
  const pitch = c.detected_note === null ? `no pitch detected, played at ${c.note}` : `detected ${c.detected_note}, played ${c.note}`;
  const key = ` (the preset plays it from key ${c.preset_key})`;
  const table = el("table", { class: "params" });
  for (const p of c.parameters) table.append(el("tr", {}, el("td", { text: p.name }), el("td", { class: "value", text: p.value }), el("td", { text: p.unit || "" })));
  const links = el("p", { class: "downloads" });
  const kinds = { preset: "Preset", audio: "Audio", parameters: "Parameters" };
  for (const [kind, label] of Object.entries(kinds)) {
    if (c.files[kind]) links.append(el("a", { href: fileUrl(job, c.files[kind], true), class: `download-${kind}`, download: c.files[kind], text: `${label} (.${c.files[kind].split(".").pop()})` }));
  }
  return el("div", { class: "candidate", "data-rank": c.rank },
    el("h4", { text: `${c.rank === 1 ? "Best match" : `Answer ${c.rank}`}: SC ${c.spectral_convergence.toFixed(3)}, distance ${c.distance.toFixed(3)}` }),
    el("p", { class: "scores", text: `${pitch}${key}; gain ${c.gain_db} dB; grew from ${c.start}` }),
    el("div", { class: "players" }, audio, ab),
    c.files.plot ? el("img", { src: fileUrl(job, c.files.plot), alt: "The input's and the match's spectrograms", loading: "lazy" }) : "",
    el("details", {}, el("summary", { text: `Parameters (${c.parameters.length})` }), table),
    links);
}

// A/B: whichever of the two is playing hands over to the other at the same moment.
function abToggle(a, b, button) {
  const [from, to] = b.paused ? [a, b] : [b, a];
  to.currentTime = Math.min(from.currentTime || 0, to.duration || Infinity);
  from.pause();
  to.play();
  button.textContent = to === b ? "A/B: match" : "A/B: input";
}

function follow(id) {
  if (state.streams[id]) return;
  const events = new EventSource(`/api/matches/${id}/events`);
  state.streams[id] = events;
  events.onmessage = async (e) => {
    const data = JSON.parse(e.data);
    const node = card({ id });
    if (["done", "failed", "cancelled"].includes(data.state)) {
      events.close();
      delete state.streams[id];
      show(await api(`/api/matches/${id}`));
    } else {
      $(".state", node).textContent = data.state;
      $(".state", node).className = `state ${data.state}`;
      $(".progress", node).textContent = progressText({ ...data, results: [] });
    }
  };
  events.onerror = () => { events.close(); delete state.streams[id]; setTimeout(() => refresh(id), 1000); };
}

async function refresh(id) {
  try {
    const job = await api(`/api/matches/${id}`);
    show(job);
    if (!["done", "failed", "cancelled"].includes(job.state)) follow(id);
  } catch (err) { say(err.message); }
}

async function load() {
  setUpDrop();
  setUpRecording();
  $("#start").addEventListener("click", start);
  try {
    const { synths } = await api("/api/synths");
    for (const s of synths) {
      state.synths[s.key] = s;
      const option = el("option", { value: s.key, text: s.available ? s.label : `${s.label} (unavailable)` });
      if (!s.available) { option.disabled = true; option.title = s.reason; }
      $("#synth").append(option);
    }
    const { matches } = await api("/api/matches");
    for (const job of matches.reverse()) {
      show(job);
      if (!["done", "failed", "cancelled"].includes(job.state)) follow(job.id);
    }
  } catch (err) { say(err.message); }
  updateEmpty();
  document.body.dataset.ready = "1";
}

document.addEventListener("DOMContentLoaded", load);
