// Create or edit an agent: every field of the agent API, with a spoken voice preview.

import { api, blobUrl, describeError } from "../api.js";
import { input, numberInput, section, select, textarea } from "../controls.js";
import { badge, errorBox, h, loading, pageHeading, replace } from "../dom.js";
import { TURN_SETTINGS, listProviders, listVoices, providerOptions, serverDefaults } from "../data.js";
import { FormError, field, fieldErrors } from "../forms.js";
import { toast } from "../ui.js";
import { listPolicies, loopFields, policySelect } from "./agent-safety.js";
import { pretty, toolsEditor } from "./agent-tools.js";
import { knowledgeFields, listKnowledgeBases } from "./knowledge-attach.js";
import { languageFields, listLanguages } from "./agent-languages.js";

const DEFAULT_PREVIEW = "Hello! This is how I sound.";
// The built-in speech models (providers/pool.py DEFAULTS["stt"] and MULTILINGUAL_STT).
const ENGLISH_STT = "stt:whisper-local";
const MULTILINGUAL_STT = "stt:whisper-multilingual";

const TURN_FIELDS = [
  { name: "vad_threshold", label: "VAD threshold", min: 0.05, max: 0.95, step: 0.05, hint: "Speech probability, 0.05–0.95." },
  { name: "end_of_turn_silence_ms", label: "End-of-turn silence (ms)", min: 100, max: 5000, step: 50, hint: "Silence that ends a user turn, 100–5000." },
  { name: "interrupt_threshold", label: "Interrupt threshold (frames)", min: 1, max: 50, step: 1, hint: "32 ms frames of user speech that interrupt the agent, 1–50." },
  { name: "idle_timeout_ms", label: "Idle timeout (ms)", min: 0, max: 600000, step: 1000, hint: "User silence before the agent checks in; 0 never." },
  { name: "idle_prompts", label: "Idle check-ins", min: 0, max: 5, step: 1, hint: "Check-ins before the session ends as idle, 0–5." },
];

export async function render({ root, params, signal, navigate }) {
  const editing = Boolean(params.id);
  root.append(loading(editing ? "Loading agent…" : "Loading…"));
  let kbLoadFailed = false;
  const [agent, voices, others, providers, providerInfos, policies, bases, languages] = await Promise.all([
    editing ? api("GET", `/v1/agents/${encodeURIComponent(params.id)}`, { signal }) : null,
    listVoices(signal),
    api("GET", "/v1/agents", { query: { limit: 100 }, signal }).then((p) => p.data),
    providerOptions(),
    // Models and defaults of the providers: the form works without them (names only).
    listProviders(signal).catch((error) => {
      if (error?.name === "AbortError") throw error;
      return [];
    }),
    // The form works without the policies (the select then only shows the agent's own).
    listPolicies(api, signal).catch((error) => {
      if (error?.name === "AbortError") throw error;
      return [];
    }),
    // Likewise the knowledge bases: the agent keeps the ones it has.
    listKnowledgeBases(api, signal).catch((error) => {
      if (error?.name === "AbortError") throw error;
      kbLoadFailed = true;
      return [];
    }),
    // Without the languages the select offers English, auto and the agent's own.
    listLanguages(signal).catch((error) => {
      if (error?.name === "AbortError") throw error;
      return [];
    }),
  ]);
  const defaults = serverDefaults(others);
  const settings = agent?.settings ?? {};
  const overrides = agent?.provider_overrides ?? {};
  const errors = errorBox();

  // Basics
  const name = input({ name: "name", maxlength: 200, required: true, value: agent?.name ?? "", autocomplete: "off", dataset: { autofocus: "" } });
  const prompt = textarea({ name: "system_prompt", rows: 6, maxlength: 20000, required: true, value: agent?.system_prompt ?? "" });
  const firstMessage = textarea({ name: "first_message", rows: 2, maxlength: 2000, value: agent?.first_message ?? "" });
  const langs = languageFields({ languages, voices, agent });
  const maxTurns = numberInput({ name: "max_turns", min: 1, max: 1000, step: 1, value: String(agent?.max_turns ?? 50), class: "input input-short" });
  const status = editing
    ? select([["active", "Active: takes conversations"], ["paused", "Paused: refuses new conversations"]], agent.status, { name: "status" })
    : null;

  // Providers: the names the server's OpenAPI schema lists, each with its model.
  const infoOf = new Map(providerInfos.map((p) => [p.name, p]));
  const defaultOf = (kind) => providerInfos.find((p) => p.kind === kind && p.default)?.name ?? null;
  // The default TTS provider (its voices come first in /v1/voices, too).
  const defaultTts = defaultOf("tts") ?? voices.find((v) => v.provider)?.provider ?? null;
  const providerLabel = (spec) => {
    const info = infoOf.get(spec);
    if (!info) return spec;
    const model = info.model && info.model !== spec ? ` · ${info.model}` : "";
    return `${spec}${model}${info.reachable ? "" : " (unreachable)"}`;
  };
  // What "Server default" means: an agent in another language than English hears with the
  // multilingual speech model when the server's default is the English-only one.
  const fallbackOf = (kind) => {
    if (kind === "tts") return defaultTts;
    const fallback = defaultOf(kind);
    const multilingual = kind === "stt" && langs.values().language !== "en" && fallback === ENGLISH_STT;
    return multilingual && infoOf.has(MULTILINGUAL_STT) ? MULTILINGUAL_STT : fallback;
  };
  const defaultLabel = (fallback) => (fallback ? `Server default (${fallback})` : "Server default");
  const providerInputs = {};
  const providerHints = {};
  for (const kind of ["stt", "llm", "tts"]) {
    const names = [...new Set([...(providers[kind] ?? []), ...providerInfos.filter((p) => p.kind === kind).map((p) => p.name)])];
    const chosen = overrides[kind] ?? "";
    const options = [["", defaultLabel(fallbackOf(kind))], ...names.map((n) => [n, providerLabel(n)])];
    // An override the server no longer has stays visible (saving it gets the API's 422).
    if (chosen && !names.includes(chosen)) options.push([chosen, `${chosen} (not on this server)`]);
    const control = select(options, chosen, { name: `provider_${kind}`, id: `provider-${kind}` });
    // The hint says what the choice (or the default) is: its model, and where it runs.
    const hint = h("span");
    const describe = () => {
      const fallback = fallbackOf(kind);
      control.options[0].textContent = defaultLabel(fallback);
      const info = infoOf.get(control.value || fallback);
      if (!info) {
        hint.textContent = control.value ? "" : "The server's default.";
        return;
      }
      const where = info.base_url ? `at ${info.base_url}` : "in this server";
      hint.textContent = `${info.model}, ${where}${info.reachable ? "" : ": cannot be reached now"}.`;
    };
    control.addEventListener("change", describe);
    if (kind === "stt") langs.onChange(describe);
    describe();
    providerInputs[kind] = control;
    providerHints[kind] = hint;
  }

  // Voice: the voices of the chosen TTS provider (the default one when none is chosen).
  const voice = select([], null, { name: "voice_id", id: "voice_id" });
  const voiceHint = h("span", { "aria-live": "polite" });
  const ttsChoice = () => providerInputs.tts.value || defaultTts;
  const fillVoices = (wanted, { keepUnknown = false } = {}) => {
    const spec = ttsChoice();
    const mine = spec ? voices.filter((v) => (v.provider ?? defaultTts) === spec) : voices;
    const options = mine.map((v) => [v.id, v.name === v.id ? `${v.name} · ${v.language}` : `${v.name} · ${v.language} · ${v.id}`]);
    const known = mine.some((v) => v.id === wanted);
    if (wanted && !known && keepUnknown) options.unshift([wanted, `${wanted} (not a voice of ${spec ?? "this server"})`]);
    if (options.length === 0) options.push(["", `No voices from ${spec}`, { disabled: true }]);
    const value = known || (wanted && keepUnknown) ? wanted : options[0][0];
    replace(voice, options.map(([v, text, extra = {}]) => h("option", { value: v, selected: v === value, ...extra }, text)));
    voice.value = value;
    const usesDefault = !providerInputs.tts.value;
    voiceHint.textContent = spec
      ? `${mine.length === 1 ? "1 voice" : `${mine.length} voices`} of ${spec}${usesDefault ? ", the server's default text-to-speech provider" : ""}.`
      : "";
  };
  fillVoices(agent?.voice_id ?? null, { keepUnknown: true });
  providerInputs.tts.addEventListener("change", () => fillVoices(voice.value));
  const previewText = input({ name: "preview_text", value: DEFAULT_PREVIEW, maxlength: 500 });
  const previewButton = h("button", { type: "button", class: "btn btn-soft", id: "voice-preview" }, "▶ Play preview");
  const previewAudio = h("audio", { controls: true, class: "preview-audio", hidden: true, "aria-label": "Voice preview" });
  const previewStatus = h("p", { class: "hint", role: "status" });
  let previewUrl = null;
  signal.addEventListener("abort", () => previewUrl && URL.revokeObjectURL(previewUrl));
  previewButton.addEventListener("click", async () => {
    previewButton.disabled = true;
    previewStatus.textContent = "Synthesizing…";
    try {
      const url = await blobUrl(`/v1/voices/${encodeURIComponent(voice.value)}/preview`, {
        query: { text: previewText.value.trim() || DEFAULT_PREVIEW },
        signal,
      });
      if (previewUrl) URL.revokeObjectURL(previewUrl);
      previewUrl = url;
      previewAudio.src = url;
      previewAudio.hidden = false;
      previewStatus.textContent = `Playing ${voice.value}.`;
      await previewAudio.play().catch(() => {
        previewStatus.textContent = "Preview ready: press play.";
      });
    } catch (error) {
      previewStatus.textContent = `Preview failed: ${describeError(error)}`;
    } finally {
      previewButton.disabled = false;
    }
  });

  // Turn-taking
  const turnInputs = {};
  const turnFields = TURN_FIELDS.map((f) => {
    const def = defaults[f.name];
    turnInputs[f.name] = numberInput({
      name: f.name,
      min: f.min,
      max: f.max,
      step: f.step,
      value: settings[f.name] !== undefined ? String(settings[f.name]) : "",
      placeholder: def !== undefined ? `Default: ${def}` : "Server default",
    });
    return field({ label: f.label, control: turnInputs[f.name], hint: f.hint, param: f.name });
  });
  const detectionDefault = defaults.turn_detection ? ` (${defaults.turn_detection})` : "";
  const turnDetection = select(
    [
      ["", `Server default${detectionDefault}`],
      ["model", "Model: Smart Turn hears whether the speech sounds finished"],
      ["silence", "Silence: end-of-turn silence alone"],
    ],
    settings.turn_detection ?? "",
    { name: "turn_detection" },
  );
  const recordDefault = defaults.record_audio === undefined ? "" : defaults.record_audio ? " (on)" : " (off)";
  const recordAudio = select(
    [["", `Server default${recordDefault}`], ["true", "On"], ["false", "Off"]],
    settings.record_audio === undefined ? "" : String(settings.record_audio),
    { name: "record_audio" },
  );

  // Tools
  const tools = toolsEditor(agent?.tools ?? []);

  // Knowledge, safety, models, metadata
  const contentPolicy = policySelect(policies, agent?.content_policy_id ?? null);
  const loops = loopFields(agent?.loop_detection ?? null);
  const knowledge = knowledgeFields(bases, agent?.knowledge_base_ids ?? [], Boolean(agent?.web_search), { loadFailed: kbLoadFailed });
  const temperature = numberInput({ name: "llm_temperature", min: 0, max: 2, step: 0.1, value: overrides.llm_temperature ?? "", placeholder: "Server default" });
  const maxTokens = numberInput({ name: "llm_max_tokens", min: 8, max: 2048, step: 1, value: overrides.llm_max_tokens ?? "", placeholder: "Server default" });
  const metadata = textarea({ name: "metadata", rows: 4, class: "input mono", spellcheck: "false", value: pretty(agent?.metadata ?? {}) });

  const saveButton = h("button", { type: "submit", class: "btn btn-primary" }, editing ? "Save changes" : "Create agent");
  const sections = h(
    "div",
    { class: "form-main" },
    errors.el,
    section(
      "Basics",
      null,
      field({ label: "Name", control: name, param: "name", hint: "Up to 200 characters." }),
      field({ label: "System prompt", control: prompt, param: "system_prompt", hint: "How the agent behaves; up to 20 000 characters.", wide: true }),
      field({ label: "First message", control: firstMessage, param: "first_message", hint: "Spoken when a conversation starts. Leave empty to let the caller speak first." }),
      h(
        "div",
        { class: "grid-3" },
        langs.languageField,
        field({ label: "Max turns", control: maxTurns, param: "max_turns", hint: "1–1000 user turns, then a goodbye." }),
        status ? field({ label: "Status", control: status, param: "status" }) : null,
      ),
    ),
    section(
      "Voice",
      "The voice the agent speaks with, and the text-to-speech provider that speaks it. Listen before you choose.",
      h(
        "div",
        { class: "grid-2" },
        field({ label: "TTS provider", control: providerInputs.tts, param: "provider_overrides.tts", hint: providerHints.tts }),
        field({ label: "Voice", control: voice, param: "voice_id", hint: voiceHint }),
      ),
      h(
        "div",
        { class: "preview-row" },
        field({ label: "Preview text", control: previewText }),
        previewButton,
      ),
      previewAudio,
      previewStatus,
      langs.voicesField,
    ),
    section(
      "Turn-taking",
      "Leave a field empty to use the server default.",
      h(
        "div",
        { class: "grid-3" },
        field({ label: "End of turn", control: turnDetection, param: "turn_detection", hint: "Model: 300 ms of silence after a finished-sounding sentence, 1.6 s in a mid-thought pause." }),
        turnFields,
        field({ label: "Record audio", control: recordAudio, param: "record_audio", hint: "Keep a stereo WAV of each conversation." })),
    ),
    section("Tools", "Functions the agent may call: run by your client, by a webhook the server calls, or built in.", tools.el),
    section("Knowledge", "What the agent may look up: your documents and the web.", knowledge.el),
    section(
      "Safety",
      null,
      h("div", { class: "grid-2" }, field({ label: "Content policy", control: contentPolicy.control, param: "content_policy_id", hint: contentPolicy.hint })),
    ),
    section(
      "Loop detection",
      "Notice when the agent or the caller goes round in circles, and do something about it.",
      loops.el,
    ),
    section(
      "Models",
      "Override the server's speech-to-text and language model for this agent (its text-to-speech provider goes with the voice). The Providers page shows what each one is and whether it can be reached.",
      h(
        "div",
        { class: "grid-2" },
        field({ label: "STT provider", control: providerInputs.stt, param: "provider_overrides.stt", hint: providerHints.stt }),
        field({ label: "LLM provider", control: providerInputs.llm, param: "provider_overrides.llm", hint: providerHints.llm }),
        field({ label: "LLM temperature", control: temperature, param: "provider_overrides.llm_temperature", hint: "0–2." }),
        field({ label: "LLM max tokens", control: maxTokens, param: "provider_overrides.llm_max_tokens", hint: "8–2048 per reply." }),
      ),
    ),
    section("Metadata", "Your own JSON object: up to 50 keys and 16 KB.", field({ label: "Metadata (JSON)", control: metadata, param: "metadata", wide: true })),
  );
  // A side panel: jump to a section, and the form's actions (always in view on wide screens).
  const jumps = [...sections.querySelectorAll(".form-section")].map((fs) => {
    const title = fs.querySelector("legend").textContent;
    return h(
      "li",
      {},
      h(
        "button",
        {
          type: "button",
          class: "jump",
          onclick: () => {
            fs.scrollIntoView({ behavior: "smooth", block: "start" });
            fs.querySelector("input, select, textarea, button")?.focus({ preventScroll: true });
          },
        },
        title,
      ),
    );
  });
  const form = h(
    "form",
    { class: "agent-form", novalidate: true, "aria-labelledby": "agent-form-title" },
    sections,
    h(
      "aside",
      { class: "form-aside", "aria-label": "Form sections and actions" },
      h(
        "div",
        { class: "card aside-card" },
        h("nav", { "aria-label": "Sections" }, h("ul", { class: "jumps" }, jumps)),
        h(
          "div",
          { class: "form-actions" },
          saveButton,
          h("a", { class: "btn btn-ghost", href: "#/agents" }, "Cancel"),
          editing ? h("a", { class: "btn btn-soft", href: `#/talk/${encodeURIComponent(agent.id)}` }, "Talk to this agent") : null,
        ),
      ),
    ),
  );
  const marks = fieldErrors(form, errors);

  function json(control, param, what) {
    try {
      return JSON.parse(control.value || "{}");
    } catch (error) {
      throw new FormError(param, `${what} is not valid JSON: ${error.message}`);
    }
  }

  function number(control, param) {
    if (control.validity.badInput) throw new FormError(param, "Enter a number.");
    return control.value === "" ? null : Number(control.value);
  }

  function payload() {
    if (!name.value.trim()) throw new FormError("name", "Give the agent a name.");
    if (!prompt.value.trim()) throw new FormError("system_prompt", "Write a system prompt.");
    const body = {
      name: name.value.trim(),
      system_prompt: prompt.value,
      voice_id: voice.value,
      first_message: firstMessage.value.trim() || null,
      language: langs.values().language,
      voices: langs.values().voices,
      max_turns: number(maxTurns, "max_turns"),
      tools: tools.values(json),
      content_policy_id: contentPolicy.control.value || null,
      loop_detection: loops.value(),
      knowledge_base_ids: knowledge.values().knowledge_base_ids,
      web_search: knowledge.values().web_search,
      metadata: json(metadata, "metadata", "Metadata"),
    };
    for (const f of TURN_FIELDS) body[f.name] = number(turnInputs[f.name], f.name);
    body.turn_detection = turnDetection.value || null;
    body.record_audio = recordAudio.value === "" ? null : recordAudio.value === "true";
    const po = {};
    for (const kind of ["stt", "llm", "tts"]) if (providerInputs[kind].value.trim()) po[kind] = providerInputs[kind].value.trim();
    const t = number(temperature, "provider_overrides.llm_temperature");
    const m = number(maxTokens, "provider_overrides.llm_max_tokens");
    if (t !== null) po.llm_temperature = t;
    if (m !== null) po.llm_max_tokens = m;
    body.provider_overrides = Object.keys(po).length ? po : null;
    if (body.max_turns === null) delete body.max_turns;
    // Null only while the agent sets none and the fields show the defaults: leave it so.
    if (body.loop_detection === null) delete body.loop_detection;
    if (!editing) {
      // On create, "empty" means "not given": the server fills in its defaults.
      for (const key of [...TURN_SETTINGS, "provider_overrides", "content_policy_id", "first_message"]) {
        if (body[key] === null) delete body[key];
      }
    } else {
      body.status = status.value;
    }
    return body;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = marks.collect(payload);
    if (!body) return;
    saveButton.disabled = true;
    saveButton.textContent = "Saving…";
    try {
      const saved = editing
        ? await api("PATCH", `/v1/agents/${encodeURIComponent(agent.id)}`, { body })
        : await api("POST", "/v1/agents", { body });
      toast(editing ? `Saved ${saved.name}.` : `Created ${saved.name}.`, "success");
      navigate("#/agents");
    } catch (error) {
      // A 422 about web search (no search provider) goes next to its switch.
      const marked = marks.apiError(error) ?? (knowledge.isWebSearchError(error) ? marks.show("web_search", error.message) : null);
      if (!marked) errors.el.scrollIntoView({ block: "center" });
    } finally {
      saveButton.disabled = false;
      saveButton.textContent = editing ? "Save changes" : "Create agent";
    }
  });

  const title = editing
    ? pageHeading(agent.name, " ", badge(agent.status))
    : pageHeading("New agent");
  title.id = "agent-form-title";
  replace(
    root,
    h(
      "div",
      { class: "page-head" },
      h(
        "div",
        {},
        h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("a", { href: "#/agents" }, "Agents"), " / ", editing ? h("span", { class: "mono" }, agent.id) : "New"),
        title,
      ),
    ),
    form,
  );
}
