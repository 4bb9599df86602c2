// Talk to an agent in the browser: a session is created with the signed-in key and
// its websocket_url handed to the ParleyVoice SDK (microphone in, agent voice out).

import { api, describeError, errorCode } from "../api.js";
import { errorBox, h, loading, pageHeading, replace } from "../dom.js";
import { listAllAgents } from "../data.js";
import { END_REASONS, STAGES, formatMs } from "../format.js";
import { toast } from "../ui.js";

const PHASES = {
  idle: ["Not connected", "Press Start and allow the microphone."],
  connecting: ["Connecting…", "Opening the session and the microphone."],
  listening: ["Listening", "Speak whenever you like."],
  hearing: ["Listening", "Hearing you…"],
  thinking: ["Thinking", "The agent is preparing its answer."],
  speaking: ["Speaking", "Talk over the agent to interrupt it."],
  disconnected: ["Disconnected", "The conversation is over."],
};
const CHIP_STAGES = [
  ["voice_to_voice", "voice to voice"],
  ["stt", "STT"],
  ["llm_first_token", "LLM"],
  ["tts_first_audio", "TTS"],
];

let sdkPromise = null;
/** The browser SDK, loaded from the server on first use (global ParleyVoice). */
function loadSdk() {
  if (window.ParleyVoice) return Promise.resolve(window.ParleyVoice);
  sdkPromise ??= new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = "/v1/voice/sdk.js";
    script.async = true;
    script.onload = () =>
      window.ParleyVoice ? resolve(window.ParleyVoice) : reject(new Error("The voice SDK did not load."));
    script.onerror = () => {
      sdkPromise = null;
      script.remove();
      reject(new Error("The voice SDK (/v1/voice/sdk.js) could not be loaded."));
    };
    document.head.append(script);
  });
  return sdkPromise;
}

function turnIdOf(value) {
  if (typeof value === "string") return value;
  return value?.turnId ?? value?.turn_id ?? null;
}

function latencyOf(value) {
  return value?.latencyMs ?? value?.latency_ms ?? value?.metrics ?? {};
}

function micMessage(error) {
  const name = error?.name ?? "";
  if (name === "NotAllowedError" || name === "SecurityError" || /denied|permission/i.test(error?.message ?? "")) {
    return "Microphone access was denied. Allow the microphone for this page in your browser's site settings, then press Start again.";
  }
  if (name === "NotFoundError" || name === "OverconstrainedError") {
    return "No microphone was found. Connect one and press Start again.";
  }
  return null;
}

export async function render({ root, params, signal, navigate }) {
  root.append(loading("Loading agents…"));
  const agents = await listAllAgents(signal);
  const active = agents.filter((a) => a.status === "active");
  const agent = agents.find((a) => a.id === params.id) ?? (params.id ? null : active[0] ?? null);

  const heading = pageHeading("Talk");
  if (!agent) {
    replace(
      root,
      h("div", { class: "page-head" }, heading),
      h(
        "div",
        { class: "card empty" },
        h("h2", {}, params.id ? "That agent does not exist" : "No agent to talk to"),
        h("p", { class: "muted" }, params.id ? `No agent with id ${params.id}.` : "Create an agent (or resume a paused one) first."),
        h("a", { class: "btn btn-primary", href: "#/agents" }, "Go to agents"),
      ),
    );
    return;
  }

  const errors = errorBox();
  const picker = h(
    "select",
    { id: "talk-agent", class: "input", onchange: (e) => navigate(`#/talk/${encodeURIComponent(e.target.value)}`, { focus: "talk-agent" }) },
    agents.map((a) =>
      h("option", { value: a.id, selected: a.id === agent.id, disabled: a.status !== "active" && a.id !== agent.id }, a.status === "active" ? a.name : `${a.name} (${a.status})`),
    ),
  );

  const transcript = h("ol", {
    class: "transcript",
    id: "transcript",
    role: "log",
    "aria-live": "polite",
    "aria-relevant": "additions text",
    "aria-label": "Live transcript",
  });
  const emptyTranscript = h(
    "div",
    { class: "transcript-empty" },
    h("p", {}, "The conversation appears here as you talk."),
    h("p", { class: "muted" }, "Partial agent captions update in place; latency shows under each answer."),
  );
  const statusDot = h("span", { class: "status-dot", "aria-hidden": "true" });
  const statusLabel = h("strong", { id: "agent-status" }, PHASES.idle[0]);
  const statusDetail = h("span", { class: "muted" }, PHASES.idle[1]);
  const statusBox = h(
    "div",
    { class: "status-box", dataset: { phase: "idle" }, role: "status", "aria-live": "polite" },
    statusDot,
    h("div", { class: "status-text" }, h("span", { class: "visually-hidden" }, "Agent status: "), statusLabel, statusDetail),
  );
  const startButton = h("button", { type: "button", class: "btn btn-primary btn-large", id: "talk-toggle" }, "Start conversation");
  const muteButton = h("button", { type: "button", class: "btn btn-ghost", "aria-pressed": "false", disabled: true }, "Mute microphone");
  const textInput = h("input", { id: "talk-text", class: "input", type: "text", disabled: true, autocomplete: "off", placeholder: "Type a message…", maxlength: 4000 });
  const textForm = h(
    "form",
    { class: "text-form" },
    h("label", { for: "talk-text", class: "label" }, "Type instead of speaking"),
    h("div", { class: "inline" }, textInput, h("button", { type: "submit", class: "btn btn-soft", disabled: true }, "Send")),
  );
  const sessionInfo = h("p", { class: "session-info muted" });
  const lastLatency = h("div", { class: "latency-big", id: "latency-last" }, "—");
  const latencyRows = h("tbody", {});
  const latencySummary = h("p", { class: "muted small" }, "No turns yet.");

  replace(
    root,
    h(
      "div",
      { class: "page-head" },
      h(
        "div",
        {},
        heading,
        agent.status === "active"
          ? h("p", { class: "muted" }, `Talk to ${agent.name} with your microphone.`)
          : h("p", { class: "notice-inline" }, `${agent.name} is ${agent.status}: resume it on the Agents page to talk to it.`),
      ),
      h("div", { class: "field field-inline" }, h("label", { class: "label", for: "talk-agent" }, "Agent"), picker),
    ),
    errors.el,
    h(
      "div",
      { class: "talk-grid" },
      h(
        "section",
        { class: "card transcript-card", "aria-labelledby": "transcript-title" },
        h("div", { class: "card-head" }, h("h2", { id: "transcript-title" }, "Transcript"), sessionInfo),
        emptyTranscript,
        transcript,
      ),
      h(
        "div",
        { class: "talk-side" },
        h("section", { class: "card", "aria-label": "Conversation controls" }, statusBox, startButton, muteButton, textForm),
        h(
          "section",
          { class: "card", "aria-labelledby": "latency-title" },
          h("h2", { id: "latency-title" }, "Latency"),
          h("p", { class: "muted small" }, "Last turn, end of your speech to the agent's first audio"),
          lastLatency,
          h("table", { class: "table table-compact", "aria-label": "Stages of the last turn" }, latencyRows),
          latencySummary,
        ),
      ),
    ),
  );

  loadSdk().catch(() => {}); // ready before the click, so start() runs in the user gesture
  let voice = null;
  let session = null;
  let phase = "idle";
  let connected = false;
  let endReason = null;
  const turns = new Map();
  const voiceToVoice = [];
  let userCounter = 0;

  function setPhase(next) {
    if (phase === "disconnected" && next !== "connecting") return;
    phase = next;
    statusBox.dataset.phase = next;
    statusLabel.textContent = PHASES[next][0];
    statusDetail.textContent = PHASES[next][1];
  }

  function turnElement(role, turnId, final) {
    const key = `${role}:${turnId}`;
    let li = turns.get(key);
    if (!li) {
      li = h(
        "li",
        { class: `turn turn-${role}`, dataset: { role, turnId } },
        h("span", { class: "turn-who" }, role === "user" ? "You" : agent.name),
        h("p", { class: "turn-text" }),
        h("div", { class: "turn-meta" }),
      );
      turns.set(key, li);
      emptyTranscript.hidden = true;
      transcript.append(li);
    }
    li.classList.toggle("partial", !final);
    li.setAttribute("aria-busy", final ? "false" : "true");
    return li;
  }

  function onTranscript(role, text, info = {}) {
    const final = info.final !== false;
    let turnId = info.turnId ?? info.turn_id;
    if (!turnId) turnId = role === "user" ? `u${(userCounter += final ? 1 : 0)}` : "agent";
    const li = turnElement(role === "user" ? "user" : "agent", turnId, final);
    li.querySelector(".turn-text").textContent = text;
    if (final && info.language) li.dataset.language = info.language;
    const who = li.querySelector(".turn-who");
    if (final && info.language && !who.querySelector(".chip")) {
      who.append(" ", h("span", { class: "chip", title: role === "user" ? "detected language" : "answered in" }, info.language));
    }
    if (role === "user" && final) setPhase("thinking");
    li.scrollIntoView({ block: "nearest" });
  }

  function onInterruption(value) {
    const turnId = turnIdOf(value);
    const target = (turnId && turns.get(`agent:${turnId}`)) || [...transcript.querySelectorAll(".turn-agent")].pop();
    if (target) {
      // Its final transcript will not come: the captions so far are all there is.
      target.classList.add("interrupted");
      target.classList.remove("partial");
      target.setAttribute("aria-busy", "false");
    }
    const marker = h("li", { class: "marker marker-interrupt", dataset: { turnId: turnId ?? "" } }, h("span", { "aria-hidden": "true" }, "⤺ "), "You interrupted the agent");
    if (target) target.after(marker);
    else transcript.append(marker);
    emptyTranscript.hidden = true;
    setPhase("listening");
  }

  function onMetrics(value) {
    const turnId = turnIdOf(value);
    const latency = latencyOf(value);
    const li = (turnId && turns.get(`agent:${turnId}`)) || [...transcript.querySelectorAll(".turn-agent")].pop();
    if (li) {
      const chips = CHIP_STAGES.filter(([k]) => typeof latency[k] === "number").map(([k, label]) =>
        h("span", { class: `chip${k === "voice_to_voice" ? " chip-accent" : ""}`, title: label }, `${label} ${formatMs(latency[k])}`),
      );
      replace(li.querySelector(".turn-meta"), chips);
    }
    if (typeof latency.voice_to_voice === "number") voiceToVoice.push(latency.voice_to_voice);
    lastLatency.textContent = formatMs(latency.voice_to_voice);
    replace(
      latencyRows,
      STAGES.filter(([k]) => k !== "voice_to_voice" && typeof latency[k] === "number").map(([k, label]) =>
        h("tr", {}, h("th", { scope: "row" }, label), h("td", { class: "num" }, formatMs(latency[k]))),
      ),
    );
    if (voiceToVoice.length) {
      const sorted = [...voiceToVoice].sort((a, b) => a - b);
      const median = sorted[Math.floor(sorted.length / 2)];
      latencySummary.textContent = `${voiceToVoice.length} turn(s) · median ${formatMs(median)} · best ${formatMs(sorted[0])}`;
    }
  }

  function setControls(live) {
    connected = live;
    muteButton.disabled = !live;
    textInput.disabled = !live;
    textForm.querySelector("button").disabled = !live;
    picker.disabled = live || phase === "connecting";
    startButton.textContent = live || phase === "connecting" ? "Stop conversation" : "Start conversation";
    startButton.classList.toggle("btn-danger", live || phase === "connecting");
    startButton.classList.toggle("btn-primary", !(live || phase === "connecting"));
    if (!live) {
      muteButton.setAttribute("aria-pressed", "false");
      muteButton.textContent = "Mute microphone";
    }
  }

  function showSession(ended) {
    if (!session) return;
    replace(
      sessionInfo,
      h("span", { class: "mono" }, session.session_id),
      ended ? [" · ", h("a", { href: `#/sessions/${encodeURIComponent(session.session_id)}` }, "Open in history")] : null,
    );
  }

  async function endUnusedSession() {
    if (!session || connected) return;
    try {
      await api("POST", `/v1/sessions/${encodeURIComponent(session.session_id)}/end`);
    } catch {
      // Already ended (or expired): nothing to clean up.
    }
  }

  async function start() {
    errors.clear();
    replace(transcript);
    turns.clear();
    emptyTranscript.hidden = false;
    endReason = null;
    setPhase("connecting");
    setControls(false);
    try {
      const ParleyVoice = await loadSdk();
      session = await api("POST", `/v1/agents/${encodeURIComponent(agent.id)}/sessions`, { body: {} });
      if (signal.aborted) return endUnusedSession();
      showSession(false);
      voice = new ParleyVoice({ sessionUrl: session.websocket_url });
      const v = voice;
      v.on("connected", () => {
        if (v !== voice) return;
        setPhase("listening");
        setControls(true);
      });
      v.on("transcript", (role, text, info) => v === voice && onTranscript(role, text, info));
      v.on("interruption", (value) => v === voice && onInterruption(value));
      v.on("metrics", (value) => v === voice && onMetrics(value));
      v.on("agentSpeaking", (speaking) => {
        if (v !== voice || !connected) return;
        setPhase(speaking ? "speaking" : "listening");
      });
      v.on("message", (message) => {
        if (v !== voice) return;
        if (message?.type === "speech_started" && phase !== "speaking") setPhase("hearing");
        if (message?.type === "session_ended") {
          endReason = END_REASONS[message.reason] ?? message.reason;
        }
      });
      v.on("error", (error) => {
        if (v !== voice) return;
        const mic = micMessage(error);
        errors.show(mic ?? describeError(error), mic ? "" : error?.code ?? "");
      });
      v.on("reconnecting", () => {
        if (v !== voice) return;
        setPhase("connecting");
        setControls(false);
      });
      v.on("reconnected", () => {
        if (v !== voice) return;
        setPhase("listening");
        setControls(true);
      });
      v.on("disconnected", (code, reason) => {
        // the SDK decides right after this event whether it resumes the conversation
        queueMicrotask(() => v === voice && v.status !== "connecting" && onDisconnected(code, reason));
      });
      const onDisconnected = (code, reason) => {
        const wasConnected = connected;
        for (const li of transcript.querySelectorAll(".partial")) {
          li.classList.remove("partial");
          li.setAttribute("aria-busy", "false");
        }
        setPhase("disconnected");
        setControls(false);
        showSession(true);
        if (code && code !== 1000 && code !== 1005) {
          errors.show(`Disconnected${reason ? `: ${reason}` : ""}`, `close code ${code}`);
        }
        if (!wasConnected) endUnusedSession();
        if (endReason) statusDetail.textContent = `${endReason}.`;
      };
      let dropped = null; // [code, reason] of a drop the SDK is trying to resume
      v.on("disconnected", (code, reason) => {
        dropped = [code, reason];
      });
      v.on("status", (status) => {
        // the SDK gave up resuming: the conversation is over
        if (v === voice && status === "disconnected" && dropped && phase === "connecting") {
          onDisconnected(...dropped);
        }
      });
      await v.start();
    } catch (error) {
      if (signal.aborted) return;
      const mic = micMessage(error);
      errors.show(mic ?? describeError(error), mic ? "" : errorCode(error));
      try {
        voice?.stop();
      } catch {
        // The SDK may not have opened anything yet.
      }
      voice = null;
      await endUnusedSession();
      replace(sessionInfo);
      phase = "idle";
      setPhase("idle");
      setControls(false);
    }
  }

  function stop() {
    endReason = "You ended the conversation";
    try {
      voice?.stop();
    } catch (error) {
      errors.show(describeError(error));
    }
  }

  startButton.addEventListener("click", () => {
    if (connected || phase === "connecting") stop();
    else start();
  });
  muteButton.addEventListener("click", () => {
    if (!voice) return;
    const muted = muteButton.getAttribute("aria-pressed") === "true";
    if (muted) voice.unmute();
    else voice.mute();
    muteButton.setAttribute("aria-pressed", String(!muted));
    muteButton.textContent = muted ? "Mute microphone" : "Unmute microphone";
  });
  textForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = textInput.value.trim();
    if (!text || !voice) return;
    voice.sendText(text);
    textInput.value = "";
  });
  signal.addEventListener("abort", () => {
    const live = connected || phase === "connecting";
    try {
      voice?.stop();
    } catch {
      // Leaving the page: nothing more to do.
    }
    voice = null;
    if (live) toast("Conversation ended: you left the Talk page.");
  });
}
