// voicetrace console: the little interaction the server-rendered pages need. No framework,
// no build step, no request to anything but this receiver.
"use strict";

// The calls list: calls that finish while the page is open appear without a reload. The
// server says when a call log is stored (server-sent events); the first page is fetched again
// with the page's own filters, so filtering stays the store's.
function liveList() {
  const body = document.querySelector("tbody[data-live-rows]");
  if (!body || typeof EventSource === "undefined") return;
  const params = new URLSearchParams(location.search);
  if (params.get("cursor")) return; // only the first page moves
  const status = document.querySelector("[data-live-status]");
  let pending = false;
  const refresh = async () => {
    if (pending) return;
    pending = true;
    try {
      const seen = new Set([...body.querySelectorAll("tr[data-call-key]")].map(r => r.dataset.callKey));
      const answer = await fetch("/console/rows" + location.search, { credentials: "same-origin" });
      if (!answer.ok) return;
      body.innerHTML = await answer.text();
      for (const row of body.querySelectorAll("tr[data-call-key]")) {
        if (!seen.has(row.dataset.callKey)) row.classList.add("new");
      }
    } finally {
      pending = false;
    }
  };
  const events = new EventSource("/console/live");
  events.addEventListener("call", refresh);
  events.addEventListener("open", () => { if (status) status.hidden = false; });
  events.addEventListener("error", () => { if (status) status.hidden = true; });
}

// The call page: clicking a turn (its transcript section, its timeline band, its marker on the
// audio bar) selects it everywhere and seeks the recording to it.
function callPage() {
  const audio = document.querySelector("audio[data-recording]");
  const offset = audio ? Number(audio.dataset.startOffsetMs || 0) : 0;
  const select = (index) => {
    for (const el of document.querySelectorAll(".selected")) el.classList.remove("selected");
    for (const el of document.querySelectorAll(`[data-turn-index="${index}"], [data-turn="${index}"].band`)) {
      el.classList.add("selected");
    }
    const turn = document.querySelector(`section.turn[data-turn-index="${index}"]`);
    if (turn && audio) {
      audio.currentTime = Math.max(0, (Number(turn.dataset.startMs) + offset) / 1000);
    }
    return turn;
  };
  for (const turn of document.querySelectorAll("section.turn[data-turn-index]")) {
    turn.addEventListener("click", () => select(turn.dataset.turnIndex));
  }
  for (const el of document.querySelectorAll("svg [data-turn]")) {
    el.addEventListener("click", () => {
      const turn = select(el.dataset.turn);
      if (turn) turn.scrollIntoView({ block: "nearest" });
    });
  }
  if (!audio) return;
  const button = document.querySelector("[data-play]");
  if (button) {
    button.addEventListener("click", () => (audio.paused ? audio.play() : audio.pause()));
    audio.addEventListener("play", () => (button.textContent = "Pause"));
    audio.addEventListener("pause", () => (button.textContent = "Play"));
  }
  const bar = document.querySelector("svg.timebar");
  const head = bar && bar.querySelector(".playhead");
  if (bar && head) {
    const span = Number(bar.dataset.durationMs || 0);
    const width = Number(bar.dataset.width || 1000);
    audio.addEventListener("timeupdate", () => {
      if (!span) return;
      const x = Math.min(width, (audio.currentTime * 1000 / span) * width);
      head.setAttribute("x1", x);
      head.setAttribute("x2", x);
    });
  }
}

document.addEventListener("DOMContentLoaded", callPage);
// The live stream opens once the page has loaded: a connection opened before would hold the
// page "loading" for as long as it stays open.
window.addEventListener("load", () => setTimeout(liveList, 0));
