// Lookups several views share: every agent (for pickers), voices, providers.

import { api } from "./api.js";

export const TURN_SETTINGS = [
  "turn_detection",
  "vad_threshold",
  "end_of_turn_silence_ms",
  "interrupt_threshold",
  "idle_timeout_ms",
  "idle_prompts",
  "record_audio",
];

/** Every agent (newest first), paging through the API 100 at a time. */
export async function listAllAgents(signal) {
  const agents = [];
  for (let offset = 0; offset < 2000; offset += 100) {
    const page = await api("GET", "/v1/agents", { query: { limit: 100, offset }, signal });
    agents.push(...page.data);
    if (!page.has_more) break;
  }
  return agents;
}

/** The installed voices. */
export async function listVoices(signal) {
  const body = await api("GET", "/v1/voices", { signal });
  return body.data;
}

/**
 * Every provider of the server (`GET /v1/providers`): name ("kind:name"), kind, type,
 * model, base_url, default, loaded, reachable. Never any secret.
 */
export async function listProviders(signal) {
  const body = await api("GET", "/v1/providers", { signal });
  return body.data;
}

/** The pipeline's provider kinds, in order, with readable names. */
export const PROVIDER_KINDS = [
  ["stt", "Speech to text"],
  ["llm", "Language model"],
  ["tts", "Text to speech"],
  ["vad", "Voice activity detection"],
  ["turn", "End of turn"],
];

let providers = null;
/** Installed STT/LLM/TTS provider names, read from the OpenAPI document. */
export async function providerOptions() {
  providers ??= fetch("/openapi.json")
    .then((r) => (r.ok ? r.json() : null))
    .then((doc) => {
      const props = doc?.components?.schemas?.ProviderOverrides?.properties ?? {};
      const options = {};
      for (const kind of ["stt", "llm", "tts"]) {
        const schema = props[kind] ?? {};
        const values = schema.enum ?? schema.anyOf?.flatMap((s) => s.enum ?? []) ?? [];
        options[kind] = values.filter((v) => typeof v === "string");
      }
      return options;
    })
    .catch(() => ({ stt: [], llm: [], tts: [] }));
  return providers;
}

/**
 * The server's turn-setting defaults, as far as they can be seen: an agent that does
 * not set a turn setting shows the server default for it.
 */
export function serverDefaults(agents) {
  const defaults = {};
  for (const name of TURN_SETTINGS) {
    const plain = agents.find((a) => !(name in (a.settings ?? {})));
    if (plain) defaults[name] = plain[name];
  }
  return defaults;
}
