// The studio's pages: a little JavaScript over the server-rendered HTML (no build step, no framework).
"use strict";

const csrf = document.querySelector('meta[name="csrf-token"]').content;
const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

function say(text, good = false) {
  const box = $("#message");
  box.textContent = text;
  box.className = good ? "good" : "bad";
}

// Every state-changing request: same origin, the CSRF token, JSON in and out. Resolves to the answer or null.
async function send(url, body, form = null) {
  const headers = { "X-CSRF-Token": csrf };
  if (!form) headers["Content-Type"] = "application/json";
  const answer = await fetch(url, { method: "POST", headers, body: form || JSON.stringify(body || {}) });
  const data = await answer.json().catch(() => ({ error: `${answer.status} ${answer.statusText}` }));
  if (!answer.ok) {
    say(data.error || `${answer.status}`);
    return null;
  }
  return data;
}

// Undo and Redo (Story and Cast): the story and the cast back one version, then the page shows it.
function undoButtons() {
  for (const what of ["undo", "redo"]) {
    const button = $(`#${what}`);
    if (button) button.onclick = async () => {
      if (await send(`/api/${what}`, {})) location.reload();
    };
  }
}

// -- Story ----------------------------------------------------------------------------------------------
function storyPage() {
  $("#save-text").onclick = async () => {
    if (await send("/api/story/text", { text: $("#story-text").value })) location.reload();
  };
  $("#upload-story").onclick = async () => {
    const file = $("#story-file").files[0];
    if (!file) return say("choose a file first");
    const form = new FormData();
    form.append("file", file);
    const data = await send("/api/story/upload", null, form);
    if (!data) return;
    if (data.chapters) {
      $("#chapter").replaceChildren(...data.chapters.map((c) => new Option(`${c.number}. ${c.title}`, c.number)));
      $("#chapters").hidden = false;
      say("choose a chapter", true);
    } else location.reload();
  };
  $("#use-chapter").onclick = async () => {
    if (await send("/api/story/chapter", { chapter: Number($("#chapter").value) })) location.reload();
  };
  let chosen = null;
  for (const line of $$(".utt")) {
    line.onclick = () => {
      $$(".utt.selected").forEach((l) => l.classList.remove("selected"));
      line.classList.add("selected");
      chosen = Number(line.dataset.index);
      $("#reassign-what").textContent = `Line ${chosen + 1} (now ${line.dataset.speaker}):`;
      $("#reassign-speaker").value = line.dataset.speaker;
      $("#reassign").hidden = false;
    };
  }
  $("#reassign-close").onclick = () => ($("#reassign").hidden = true);
  $("#reassign-save").onclick = async () => {
    const speaker = $("#reassign-new").value.trim() || $("#reassign-speaker").value;
    if (await send("/api/story/line", { index: chosen, speaker })) location.reload();
  };
}

// -- Cast -----------------------------------------------------------------------------------------------
function showFace(card, data) {
  const preview = $(".preview", card);
  preview.src = data.preview;
  preview.hidden = false;
  $(".original", card).src = data.image;
  $(".original", card).hidden = true;
  $(".face-note", card).textContent = data.found
    ? "Face found (box, eyes and lip line drawn)."
    : "No face found: the drawn values are guesses. Place the face by clicking.";
}

function castPage() {
  $("#upload-voice").onclick = async () => {
    const form = new FormData($("#voice-upload"));
    if (!form.get("model")?.size || !form.get("config")?.size) return say("choose the .onnx and its .onnx.json");
    const voice = await send("/api/cast/voicefile", null, form);
    if (voice) location.reload();
  };
  for (const card of $$(".card")) {
    const name = card.dataset.name;
    fetch(`/api/cast/face?name=${encodeURIComponent(name)}`)
      .then((r) => r.json())
      .then((data) => (data.error ? say(data.error) : showFace(card, data)));
    $(".upload-portrait", card).onclick = async () => {
      const file = $(".portrait-file", card).files[0];
      if (!file) return say("choose an image first");
      const form = new FormData();
      form.append("name", name);
      form.append("file", file);
      const data = await send("/api/cast/portrait", null, form);
      if (data) {
        showFace(card, data);
        say(`${name}: portrait saved`, true);
      }
    };
    const clicks = [];
    $(".place-face", card).onclick = () => {
      clicks.length = 0;
      $(".preview", card).hidden = true;
      $(".original", card).hidden = false;
      $(".face-note", card).textContent = "Click the left eye, then the right eye, then the middle of the mouth.";
    };
    $(".original", card).onclick = async (event) => {
      const img = event.currentTarget;
      const scale = img.naturalWidth / img.clientWidth;
      clicks.push([event.offsetX * scale, event.offsetY * scale]);
      const next = ["the right eye", "the middle of the mouth"][clicks.length - 1];
      if (next) return ($(".face-note", card).textContent = `Now click ${next}.`);
      const data = await send("/api/cast/face", { name, eyes: clicks.slice(0, 2), mouth: clicks[2] });
      if (data) showFace(card, data);
    };
    const voice = () => Object.fromEntries($$("fieldset.voice [name]", card).map((f) => [f.name, f.value]));
    const model = $("fieldset.voice [name=model]", card);
    const offerSpeakers = () => {
      const names = JSON.parse(model.selectedOptions[0]?.dataset.speakers || "[]");
      $(".speaker-list", card).replaceChildren(...names.map((n) => new Option(n, n)));
    };
    model.onchange = offerSpeakers;
    offerSpeakers();
    $(".save-voice", card).onclick = async () => {
      if (await send("/api/cast/voice", { name, voice: voice() })) say(`${name}: voice saved`, true);
    };
    $(".show-contact", card).onclick = async () => {
      say(`${name}: drawing the mouth shapes...`, true);
      const data = await send("/api/cast/contact", { name });
      if (!data) return;
      const sheet = $(".contact", card);
      sheet.src = `${data.sheet}?t=${Date.now()}`;
      sheet.hidden = false;
      say(`${name}: the mouth shapes as the animator draws them`, true);
    };
    $(".audition", card).onclick = async () => {
      say(`${name}: speaking a line...`, true);
      if (!(await send("/api/cast/voice", { name, voice: voice() }))) return;
      const data = await send("/api/cast/audition", { name });
      if (!data) return;
      const audio = $(".audition-audio", card);
      audio.hidden = false;
      audio.src = data.audio;
      audio.onended = () => (audio.dataset.played = "yes");
      await audio.play().catch((err) => say(`cannot play: ${err}`));
      say(`${name}: playing the audition`, true);
    };
  }
}

// -- Render ---------------------------------------------------------------------------------------------
window.__lags = [];
const seen = {};

function fmt(seconds) {
  if (seconds == null) return "";
  const s = Math.round(seconds);
  return s >= 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s} s`;
}

function drawJob(box, job) {
  box.dataset.job = job.id;
  box.dataset.state = job.state;
  $(".job-id", box).textContent = job.id;
  $(".state", box).textContent = job.state;
  $(".command", box).textContent = job.command;
  $(".log", box).textContent = job.log_tail;
  const all = job.overall;
  const bar = $(".overall progress", box);
  if (all && all.total) {
    bar.max = all.total;
    bar.value = all.done;
    box.dataset.done = all.done;
    $(".overall .figures", box).textContent =
      `${all.done} / ${all.total} frames` + (all.rate ? `, ${all.rate.toFixed(1)}/s` : "") + (all.eta != null && job.state === "running" ? `, ${fmt(all.eta)} left` : "");
  }
  $(".stages tbody", box).replaceChildren(
    ...job.stages.map((s) => {
      const row = document.createElement("tr");
      const cells = [s.stage, `${s.done}${s.total != null ? " / " + s.total : ""}`, s.rate ? `${s.rate.toFixed(1)}/s` : "", s.eta != null ? `${fmt(s.eta)} left` : ""];
      row.replaceChildren(...cells.map((text) => Object.assign(document.createElement("td"), { textContent: text })));
      return row;
    }),
  );
  $(".cancel", box).hidden = job.state !== "running";
  $(".resume", box).hidden = !["interrupted", "failed", "stopped"].includes(job.state);
  const report = $(".report", box);
  report.hidden = !job.report;
  if (job.report) report.href = job.report;
  const video = $(".video", box);
  if (job.video && video.dataset.src !== job.video) {
    video.dataset.src = job.video;
    video.src = job.video;
    video.hidden = false;
  }
  // Lag: how old the newest progress event is when the page first sees it.
  if (job.state === "running" && job.last_event && seen[job.id] !== job.last_event) {
    seen[job.id] = job.last_event;
    const lag = Date.now() / 1000 - job.last_event;
    window.__lags.push(lag);
    $(".lag", box).textContent = `progress lag ${lag.toFixed(2)} s`;
  }
}

function jobBox(job) {
  let box = $(`.job[data-job="${CSS.escape(job.id)}"]`);
  if (!box) {
    box = $("#job-template").content.firstElementChild.cloneNode(true);
    $("#jobs").prepend(box);
    wireJob(box);
  }
  return box;
}

function wireJob(box) {
  $(".cancel", box).onclick = () => send(`/api/jobs/${box.dataset.job}/cancel`, {});
  $(".resume", box).onclick = () => send(`/api/jobs/${box.dataset.job}/resume`, {});
}

async function poll() {
  try {
    const answer = await fetch("/api/jobs");
    if (answer.ok) for (const job of (await answer.json()).jobs.slice(0, 10)) drawJob(jobBox(job), job);
  } finally {
    setTimeout(poll, 250);
  }
}

function renderPage() {
  $$(".job").forEach((box) => box.dataset.job && wireJob(box));
  $("#start").onclick = async () => {
    const form = Object.fromEntries(new FormData($("#render-form")));
    form.overrides = (form.overrides || "").split(/\s+/).filter(Boolean);
    const job = await send("/api/render", form);
    if (job) {
      drawJob(jobBox(job), job);
      say(`started ${job.id}`, true);
    }
  };
  poll();
}

// -- Renders and Compare --------------------------------------------------------------------------------
function rendersPage() {
  const picks = $$(".pick");
  const ticked = () => picks.filter((p) => p.checked).map((p) => p.value);
  for (const p of picks) p.onchange = () => ($("#compare").disabled = ticked().length !== 2);
  $("#compare").onclick = () => {
    const [a, b] = ticked();
    location.href = `/compare?a=${encodeURIComponent(a)}&b=${encodeURIComponent(b)}`;
  };
  const setting = $("#sweep-form [name=setting]");
  const examples = { cut_size: "30000,60000", pitch: "-2,0,2", formant: "0.9,1,1.1", rate: "0.9,1,1.1" };
  setting.onchange = () => {
    $("#sweep-form [name=values]").value = examples[setting.value];
    $("#sweep-form [name=character]").disabled = setting.value === "cut_size";
  };
  setting.onchange();
  $("#start-sweep").onclick = async () => {
    const job = await send("/api/sweep", Object.fromEntries(new FormData($("#sweep-form"))));
    if (job) setTimeout(() => location.reload(), 1500);
    if (job) say(`sweep ${job.id} started: its report appears here when it ends`, true);
  };
}

function comparePage() {
  for (const form of $$("form.rerender")) {
    $(".rerender-start", form).onclick = async () => {
      const overrides = $("[name=overrides]", form).value.split(/\s+/).filter(Boolean);
      const job = await send("/api/rerender", { run: form.dataset.run, overrides });
      if (job) say(`started ${job.id}: watch it on the Render page`, true);
    };
  }
}

const pages = { story: storyPage, cast: castPage, render: renderPage, renders: rendersPage, compare: comparePage };
undoButtons();
pages[document.body.dataset.page]?.();
