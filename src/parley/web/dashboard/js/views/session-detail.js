// One session: summary, recording, transcript with per-turn latency; end or delete it.

import { ApiError, api, blobUrl, describeError, errorCode } from "../api.js";
import { badge, errorBox, h, loading, pageHeading, replace } from "../dom.js";
import { END_REASONS, STAGES, formatDate, formatDuration, formatMs, formatRelative } from "../format.js";
import { confirmDialog, href, toast } from "../ui.js";
import { safetyMarks, safetySummary } from "./safety-marks.js";

function offsetLabel(startIso, iso) {
  if (!startIso || !iso) return "";
  const seconds = Math.max(0, Math.round((new Date(iso) - new Date(startIso)) / 1000));
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
}

function median(values) {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

export async function render({ root, params, signal, navigate }) {
  root.append(loading("Loading session…"));
  const id = params.id;
  const session = await api("GET", `/v1/sessions/${encodeURIComponent(id)}`, { signal });
  const agent = await api("GET", `/v1/agents/${encodeURIComponent(session.agent_id)}`, { signal }).catch((error) => {
    if (error instanceof ApiError && error.status === 404) return null;
    throw error;
  });
  const errors = errorBox();
  const turns = session.transcript;
  const start = session.connected_at ?? session.created_at;
  const v2v = turns.map((t) => t.latency_ms?.voice_to_voice).filter((v) => typeof v === "number");

  const actions = h("div", { class: "page-actions" });
  if (session.status === "active") {
    actions.append(h("button", { type: "button", class: "btn btn-ghost", onclick: endSession }, "End session"));
  }
  actions.append(
    h("button", { type: "button", class: "btn btn-danger-outline", onclick: remove, disabled: session.status === "active", title: session.status === "active" ? "End the session before deleting it" : null }, "Delete session"),
  );

  async function endSession() {
    errors.clear();
    try {
      await api("POST", `/v1/sessions/${encodeURIComponent(id)}/end`);
      toast("Session ended.");
      navigate(`#/sessions/${encodeURIComponent(id)}`);
    } catch (error) {
      errors.show(describeError(error), errorCode(error));
    }
  }

  async function remove() {
    const ok = await confirmDialog({
      title: "Delete this session?",
      message: "Its transcript, metrics and recording are deleted for good.",
      confirmLabel: "Delete session",
      danger: true,
    });
    if (!ok) return;
    errors.clear();
    try {
      await api("DELETE", `/v1/sessions/${encodeURIComponent(id)}`);
      toast(`Deleted session ${id}.`);
      navigate(agent ? href("#/sessions", { agent: agent.id }) : "#/sessions");
    } catch (error) {
      errors.show(describeError(error), errorCode(error));
    }
  }

  const summary = h(
    "dl",
    { class: "summary" },
    item("Agent", agent ? h("a", { href: href("#/sessions", { agent: agent.id }) }, agent.name) : h("span", { class: "mono" }, `${session.agent_id} (deleted)`)),
    item("Status", badge(session.status)),
    item("Replica", session.replica_id ? h("span", { class: "mono", title: "The replica that holds (or last held) this conversation" }, session.replica_id) : "—"),
    item("End reason", session.end_reason ? END_REASONS[session.end_reason] ?? session.end_reason : "—"),
    session.resumable_until ? item("Resumable until", resumableUntil(session.resumable_until)) : null,
    item("Created", formatDate(session.created_at)),
    item("Connected", formatDate(session.connected_at)),
    item("Ended", formatDate(session.ended_at)),
    item("Duration", formatDuration(session.connected_at, session.ended_at)),
    item("Turns", `${turns.filter((t) => t.role === "user").length} from the caller, ${turns.filter((t) => t.role === "agent").length} from the agent`),
    item("Median voice to voice", formatMs(median(v2v))),
    safetySummary(turns) ? item("Safety", safetySummary(turns)) : null,
    session.initial_message ? item("Initial message", session.initial_message) : null,
    Object.keys(session.metadata ?? {}).length ? item("Metadata", h("pre", { class: "mono code-block" }, JSON.stringify(session.metadata, null, 2))) : null,
  );

  const recording = h("div", { class: "recording" }, h("p", { class: "muted" }, session.status === "active" ? "The recording is written when the session ends." : "Looking for a recording…"));
  const transcriptList = h(
    "ol",
    { class: "transcript transcript-static", "aria-label": "Transcript" },
    turns.map((t) =>
      h(
        "li",
        { class: `turn turn-${t.role}${t.interrupted ? " interrupted" : ""}`, dataset: { role: t.role, turnId: t.turn_id } },
        h("span", { class: "turn-who" }, t.role === "user" ? "Caller" : agent?.name ?? "Agent", h("span", { class: "turn-time" }, offsetLabel(start, t.started_at))),
        t.text || !t.tool_calls?.length ? h("p", { class: "turn-text" }, t.text || h("em", { class: "muted" }, "(nothing said)")) : null,
        t.citations?.length ? citations(t.citations) : null,
        t.tool_calls?.length ? toolCalls(t.tool_calls) : null,
        h(
          "div",
          { class: "turn-meta" },
          t.interrupted ? h("span", { class: "chip chip-warn" }, "interrupted") : null,
          t.language ? h("span", { class: "chip", title: languageTitle(t) }, t.language) : null,
          typeof t.latency_ms?.voice_to_voice === "number" ? h("span", { class: "chip chip-accent" }, `voice to voice ${formatMs(t.latency_ms.voice_to_voice)}`) : null,
        ),
        t.safety?.length ? safetyMarks(t.safety) : null,
      ),
    ),
  );

  const measured = turns.filter((t) => Object.values(t.latency_ms ?? {}).some((v) => typeof v === "number"));
  const columns = STAGES.filter(([k]) => measured.some((t) => typeof t.latency_ms[k] === "number"));
  const metrics = measured.length
    ? h(
        "div",
        { class: "table-scroll", tabindex: "0", role: "region", "aria-label": "Per-turn latency, scrollable" },
        h(
          "table",
          { class: "table table-compact table-metrics", id: "turn-metrics" },
          h("caption", { class: "visually-hidden" }, "Latency of each turn in milliseconds"),
          h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Turn"), columns.map(([, label]) => h("th", { scope: "col", class: "num" }, label)))),
          h(
            "tbody",
            {},
            measured.map((t) =>
              h("tr", {}, h("th", { scope: "row", class: "mono" }, t.turn_id), columns.map(([k]) => h("td", { class: "num" }, formatMs(t.latency_ms[k])))),
            ),
          ),
        ),
      )
    : h("p", { class: "muted" }, "No measured turns: latency is recorded for answers to the caller.");

  const heading = pageHeading("Session ", h("span", { class: "mono title-id" }, id), " ", badge(session.status));
  replace(
    root,
    h(
      "div",
      { class: "page-head" },
      h(
        "div",
        {},
        h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("a", { href: href("#/sessions", { agent: session.agent_id }) }, "Sessions"), " / ", h("span", { class: "mono" }, id)),
        heading,
      ),
      actions,
    ),
    errors.el,
    h(
      "div",
      { class: "detail-grid" },
      h(
        "div",
        { class: "detail-main" },
        h(
          "section",
          { class: "card", "aria-labelledby": "detail-transcript" },
          h("h2", { id: "detail-transcript" }, "Transcript"),
          turns.length ? transcriptList : h("p", { class: "muted" }, "Nothing was said in this session."),
        ),
      ),
      h(
        "div",
        { class: "detail-side" },
        h("section", { class: "card", "aria-labelledby": "detail-summary" }, h("h2", { id: "detail-summary" }, "Summary"), summary),
        h("section", { class: "card", "aria-labelledby": "detail-recording" }, h("h2", { id: "detail-recording" }, "Recording"), recording),
      ),
    ),
    h("section", { class: "card metrics-card", "aria-labelledby": "detail-metrics" }, h("h2", { id: "detail-metrics" }, "Per-turn latency"), metrics),
  );

  if (session.status !== "active") void loadRecording(session, recording, signal);
}

/** Fetch the WAV with the key (an <audio src> cannot send it) and show a player. */
async function loadRecording(session, recording, signal) {
  const id = session.session_id;
  // The server writes the WAV just after the session ends: a fresh session may need a moment.
  const fresh = () => session.ended_at && Date.now() - new Date(session.ended_at).getTime() < 8000;
  try {
    let url = null;
    for (let attempt = 0; url === null; attempt += 1) {
      try {
        url = await blobUrl(`/v1/sessions/${encodeURIComponent(id)}/recording`, { signal });
      } catch (error) {
        if (!(error instanceof ApiError && error.status === 404 && fresh() && attempt < 8)) throw error;
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
    signal.addEventListener("abort", () => URL.revokeObjectURL(url));
    replace(
      recording,
      h("audio", { controls: true, src: url, preload: "metadata", "aria-label": "Session recording", class: "recording-audio" }),
      h("p", { class: "hint" }, "Stereo: the caller on the left, the agent on the right. ", h("a", { href: url, download: `${id}.wav` }, "Download WAV")),
    );
  } catch (error) {
    if (error?.name === "AbortError") return;
    const none = error instanceof ApiError && error.status === 404;
    replace(
      recording,
      h("p", { class: "muted" }, none ? "No recording for this session: its agent had record_audio off." : `The recording could not be loaded: ${describeError(error)}`),
    );
  }
}

/** When a dropped conversation may still be resumed, and whether that time has passed. */
function resumableUntil(iso) {
  const passed = new Date(iso).getTime() <= Date.now();
  return [
    h("time", { datetime: iso, title: formatRelative(iso) }, formatDate(iso)),
    passed ? h("span", { class: "subtle" }, " (passed)") : null,
  ];
}

function item(term, value) {
  return h("div", { class: "summary-item" }, h("dt", {}, term), h("dd", {}, value));
}

/** The knowledge-base passages an agent turn was grounded on: "title › heading", score. */
function citations(cited) {
  return h(
    "ul",
    { class: "citations", "aria-label": "Sources" },
    cited.map((c) =>
      h(
        "li",
        { class: "citation", dataset: { documentId: c.document_id } },
        h("span", { class: "chip chip-accent" }, "source"),
        " ",
        h(
          "a",
          { href: `#/knowledge/${encodeURIComponent(c.knowledge_base_id)}`, title: `${c.document_id} in ${c.knowledge_base_id}` },
          c.heading ? `${c.title || c.document_id} › ${c.heading}` : c.title || c.document_id,
        ),
        typeof c.score === "number" ? h("span", { class: "subtle small" }, ` score ${c.score.toFixed(3)}`) : null,
      ),
    ),
  );
}

/** The tools an agent turn called, each with its arguments and result (client or server). */
function toolCalls(calls) {
  const json = (value) => (typeof value === "string" ? value : JSON.stringify(value));
  return h(
    "ul",
    { class: "tool-calls", "aria-label": "Tool calls" },
    calls.map((c) =>
      h(
        "li",
        { class: "tool-call" },
        h("span", { class: "chip" }, "tool call"),
        " ",
        h("code", { class: "mono" }, `${c.name}(${json(c.arguments)})`),
        h(
          "div",
          { class: "tool-output" },
          c.output === null || c.output === undefined
            ? h("em", { class: "muted" }, "no result")
            : [h("span", { class: "muted" }, "→ "), h("code", { class: "mono" }, json(c.output))],
        ),
      ),
    ),
  );
}

/** What a turn's language chip says on hover: detected (and how surely) or answered in. */
function languageTitle(turn) {
  if (turn.role !== "user") return `answered in ${turn.language}`;
  const sure = typeof turn.language_probability === "number" ? ` (${Math.round(turn.language_probability * 100)} % sure)` : "";
  return `detected ${turn.language}${sure}`;
}
