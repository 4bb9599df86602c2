// Formatting of dates, durations and latencies for display.

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });

/** "12 Mar 2025, 14:03:11" (local time), or "—". */
export function formatDate(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : dateTime.format(date);
}

/** "3 minutes ago". */
export function formatRelative(iso) {
  if (!iso) return "—";
  const seconds = (new Date(iso).getTime() - Date.now()) / 1000;
  const steps = [
    [60, "second"],
    [60, "minute"],
    [24, "hour"],
    [30, "day"],
    [12, "month"],
    [Infinity, "year"],
  ];
  let value = seconds;
  for (const [size, unit] of steps) {
    if (Math.abs(value) < size) return relative.format(Math.round(value), unit);
    value /= size;
  }
  return formatDate(iso);
}

/** A <time> element showing a relative time, with the exact time as its title. */
export function timeElement(iso, h) {
  if (!iso) return "—";
  return h("time", { datetime: iso, title: formatDate(iso) }, formatRelative(iso));
}

/** "1 min 05 s" between two ISO times. */
export function formatDuration(startIso, endIso) {
  if (!startIso || !endIso) return "—";
  const seconds = Math.max(0, Math.round((new Date(endIso) - new Date(startIso)) / 1000));
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  return `${minutes} min ${String(seconds % 60).padStart(2, "0")} s`;
}

/** "812 ms" / "1.24 s" / "—". */
export function formatMs(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return "—";
  if (value >= 1000) return `${(value / 1000).toFixed(2)} s`;
  return `${Math.round(value)} ms`;
}

/** The latency stages, in pipeline order, with readable names. */
export const STAGES = [
  ["voice_to_voice", "Voice to voice"],
  ["endpointing", "Endpointing"],
  ["stt", "Speech to text"],
  ["stt_wait_after_end_of_turn", "STT wait"],
  ["llm_first_token", "LLM first token"],
  ["first_clause", "First clause"],
  ["tts_first_audio", "TTS first audio"],
  ["first_audio_sent", "First audio sent"],
  ["agent_turn", "Agent turn"],
];

export const END_REASONS = {
  client: "Ended by the caller",
  max_turns: "Reached max turns",
  idle: "Caller went quiet",
  agent_deleted: "Agent was deleted",
  expired: "Link expired unused",
  error: "Server error",
  policy_violation: "Closed: client broke the limits",
};
