// The page of a voice conversation. The Python client holds the Realtime session and the MCP connection; this
// page is the user's microphone, speaker and screen, over one WebSocket to the page's own server.
//
// From the server (JSON): connection{state} activity{text} latency{seconds} note{text} error{message}
//   transcript.user{text} transcript.assistant.delta{text} transcript.assistant.done{text}
//   tool.started{id,name,arguments} tool.finished{id,name,ok,duration_ms,summary,result}
//   script{name,title,stage,number,stages} evidence{query,items:[{title,section,text,source}]}
//   document.updated{path,html} document.removed{path} audio.clear; binary frames: PCM16 mono 24 kHz to play.
// To the server (JSON): hello{sample_rate} text{text} interrupt playback.position{played_samples}
//   playback.cleared{played_samples}; binary frames: the microphone, PCM16 mono at hello's sample_rate.

const $ = (id) => document.getElementById(id);

// What tests (and the curious) can read: window.assistantPage.
const state = { open: false, connection: "connecting", playedSamples: 0, cleared: [], microphoneSamples: 0, errors: [] };
window.assistantPage = state;

const socket = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);
socket.binaryType = "arraybuffer";
let player = null;
let stopping = false; // the Stop button cleared the player: tell the server to interrupt once it reports
let streaming = null; // the assistant's reply being written

function send(message) {
  if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
}

function item(className, text) {
  const li = document.createElement("li");
  li.className = className;
  li.textContent = text;
  $("transcript").append(li);
  li.scrollIntoView({ block: "nearest" });
  return li;
}

function showError(message) {
  state.errors.push(message);
  $("error").textContent = message;
  $("error").hidden = false;
}

// ---------------------------------------------------------------- audio out

async function ensurePlayer() {
  if (player) return player;
  const context = new AudioContext({ sampleRate: 24000 });
  const ready = context.audioWorklet.addModule("/static/player-worklet.js").then(() => {
    const node = new AudioWorkletNode(context, "player", { outputChannelCount: [1] });
    node.connect(context.destination);
    node.port.onmessage = (event) => onPlayer(event.data);
    return node;
  });
  player = { context, ready };
  return player;
}

function onPlayer(report) {
  state.playedSamples = report.played;
  if (report.type === "position") {
    send({ type: "playback.position", played_samples: report.played });
    return;
  }
  state.cleared.push(Math.round(report.played / 24));
  send({ type: "playback.cleared", played_samples: report.played });
  if (stopping) {
    stopping = false;
    send({ type: "interrupt" });
  }
}

async function play(buffer) {
  const { context, ready } = await ensurePlayer();
  const node = await ready;
  if (context.state === "suspended") context.resume();
  node.port.postMessage(buffer, [buffer]);
}

async function clearPlayer(byUser) {
  if (!player) {
    if (byUser) send({ type: "interrupt" });
    return;
  }
  stopping = stopping || byUser;
  (await player.ready).port.postMessage("clear");
}

// ---------------------------------------------------------------- audio in

async function start() {
  $("start").disabled = true;
  try {
    await ensurePlayer();
    if (player.context.state === "suspended") await player.context.resume();
    const processing = new URLSearchParams(location.search).get("processing") !== "off";
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: processing, noiseSuppression: processing, autoGainControl: processing, channelCount: 1 },
    });
    const context = new AudioContext(); // the device's own rate; the server resamples
    await context.audioWorklet.addModule("/static/capture-worklet.js");
    const capture = new AudioWorkletNode(context, "capture");
    context.createMediaStreamSource(stream).connect(capture);
    capture.connect(context.destination); // outputs silence; keeps the node pulled
    send({ type: "hello", sample_rate: context.sampleRate });
    capture.port.onmessage = (event) => {
      if (socket.readyState !== WebSocket.OPEN) return;
      state.microphoneSamples += event.data.byteLength / 2;
      socket.send(event.data);
    };
    $("start").textContent = "Listening";
  } catch (error) {
    $("start").disabled = false;
    showError(`The microphone could not be opened: ${error.message}`);
  }
}

// ---------------------------------------------------------------- what the server says

const handlers = {
  connection(m) {
    state.connection = m.state;
    $("connection").textContent = m.state;
    $("connection").className = m.state;
    if (m.state === "connected") $("error").hidden = true; // whatever went wrong before is over
  },
  activity(m) { $("activity").textContent = m.text ? `${m.text}…` : ""; },
  latency(m) { if (m.seconds != null) $("latency").textContent = `last reply after ${m.seconds.toFixed(1)} s`; },
  note(m) { item("note", m.text); },
  error(m) { showError(m.message); },
  "transcript.user"(m) { item("user", m.text); },
  "transcript.assistant.delta"(m) {
    if (!streaming) streaming = item("assistant streaming", "");
    streaming.textContent += m.text;
  },
  "transcript.assistant.done"(m) {
    const li = streaming || item("assistant", "");
    streaming = null;
    li.className = "assistant";
    li.textContent = m.text;
  },
  "tool.started"(m) {
    const li = document.createElement("li");
    li.className = "tool running";
    li.id = `tool-${m.id}`;
    const details = document.createElement("details");
    const summary = document.createElement("summary");
    summary.textContent = `⚙ ${m.name} … running`;
    const args = document.createElement("pre");
    args.className = "arguments";
    args.textContent = m.arguments;
    details.append(summary, args);
    li.append(details);
    $("transcript").append(li);
  },
  "tool.finished"(m) {
    const li = $(`tool-${m.id}`) || (handlers["tool.started"]({ id: m.id, name: m.name, arguments: "" }), $(`tool-${m.id}`));
    li.className = `tool ${m.ok ? "ok" : "failed"}`;
    li.querySelector("summary").textContent =
      `${m.ok ? "✓" : "✗"} ${m.name} (${m.duration_ms} ms)${m.summary ? ": " + m.summary : ""}`;
    const result = document.createElement("pre");
    result.className = "result";
    result.textContent = m.result;
    li.querySelector("details").append(result);
  },
  script(m) {
    $("script-name").textContent = m.name ? `${m.title} (stage ${m.number} of ${m.stages.length})` : "No script is running.";
    $("stages").replaceChildren(...m.stages.map((name, index) => {
      const li = document.createElement("li");
      li.textContent = name;
      if (index + 1 === m.number) { li.className = "current"; li.setAttribute("aria-current", "step"); }
      return li;
    }));
  },
  evidence(m) {
    $("evidence").replaceChildren(...m.items.map((e) => {
      const li = document.createElement("li");
      const where = document.createElement("strong");
      where.textContent = e.section ? `${e.title} › ${e.section}` : e.title;
      const quote = document.createElement("blockquote");
      quote.textContent = e.text;
      li.append(where, quote);
      return li;
    }));
  },
  "document.updated"(m) {
    $("document-path").textContent = m.path;
    $("document").innerHTML = m.html; // rendered by markdown-it-py "js-default" on the server: no raw HTML
  },
  "document.removed"(m) {
    if ($("document-path").textContent === m.path) $("document").textContent = `${m.path} was deleted.`;
  },
  "audio.clear"() { clearPlayer(false); },
};

socket.onmessage = (event) => {
  if (typeof event.data !== "string") {
    play(event.data);
    return;
  }
  const message = JSON.parse(event.data);
  const handler = handlers[message.type];
  if (handler) handler(message);
};
socket.onopen = () => { state.open = true; };
socket.onclose = () => {
  handlers.connection({ state: "closed" });
  if (!state.errors.length) showError("The assistant stopped. Start it again, then reload this page.");
};

$("start").addEventListener("click", start);
$("stop").addEventListener("click", () => clearPlayer(true));
$("typed").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = $("message").value.trim();
  if (!text) return;
  ensurePlayer();
  send({ type: "text", text });
  $("message").value = "";
});
