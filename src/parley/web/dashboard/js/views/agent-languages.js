// The agent form's languages: the language it answers in (one, or the caller's) and the
// voice of each language, from what the server can do (GET /v1/languages).

import { api } from "../api.js";
import { select } from "../controls.js";
import { h } from "../dom.js";
import { field } from "../forms.js";

/** Every language the server knows, those it can answer in first (`GET /v1/languages`). */
export async function listLanguages(signal) {
  const body = await api("GET", "/v1/languages", { signal });
  return body.data;
}

const qualityNote = (quality) => (quality === "basic" ? " (basic voice)" : "");

/**
 * The language select and the per-language voices of an agent. `voices` are those of
 * GET /v1/voices; `agent` the agent being edited (or null). `values()` gives
 * `{ language, voices }` for the request body.
 */
export function languageFields({ languages, voices, agent }) {
  const current = agent?.language ?? "en";
  const answerable = languages.filter((l) => l.voices.length > 0 && l.speech_to_text);
  const options = [
    ["auto", "The caller's language (detected)"],
    ...answerable.map((l) => [l.code, `${l.name} (${l.code})${qualityNote(l.voice_quality)}`]),
  ];
  if (!options.some(([code]) => code === current)) options.push([current, `${current} (no voice installed)`]);
  const language = select(options, current, { name: "language", id: "language" });

  // One voice select per language the agent may answer in (other than English, whose
  // voice is voice_id): "Default" sends nothing, so the server's best voice is used.
  const own = agent?.voices ?? {};
  const rows = new Map();
  const table = h("div", { class: "grid-3", id: "language-voices" });
  for (const l of answerable) {
    if (l.code === "en") continue;
    const speaking = voices.filter((v) => (v.languages ?? [v.language]).includes(l.code));
    const control = select(
      [["", `Default (${l.voices[0]})`], ...speaking.map((v) => [v.id, `${v.name}${qualityNote(v.quality)}`])],
      own[l.code] ?? "",
      { name: `voices.${l.code}`, id: `voice-${l.code}` },
    );
    rows.set(l.code, control);
    table.append(field({ label: `${l.name} voice`, control, param: `voices.${l.code}` }));
  }
  const showRows = () => {
    const value = language.value;
    for (const [code, control] of rows) {
      const wrapper = control.closest(".field") ?? control;
      wrapper.hidden = value !== "auto" && value !== code && !control.value;
    }
  };
  language.addEventListener("change", showRows);
  queueMicrotask(showRows);

  const hint =
    "One language: callers may speak any language, the agent always answers in this one. " +
    "English uses the fast English-only speech model. The caller's language: the agent " +
    "follows the caller once it is sure (two turns in a row).";
  return {
    languageField: field({ label: "Language", control: language, param: "language", hint }),
    voicesField: rows.size
      ? h("div", {}, h("p", { class: "hint" }, "Voices per language (basic voices sound robotic; see docs/voices.md for natural ones)."), table)
      : null,
    /** Call `listener` whenever the language changes. */
    onChange(listener) {
      language.addEventListener("change", listener);
    },
    values() {
      const chosen = {};
      for (const [code, control] of rows) if (control.value) chosen[code] = control.value;
      return { language: language.value, voices: chosen };
    },
  };
}
