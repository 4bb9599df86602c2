// Create or edit a content policy: blocked terms, personal data, criteria, fillers, judge.

import { api } from "../api.js";
import { checks, input, lines, numberInput, section, select, textarea } from "../controls.js";
import { listAllAgents, listProviders } from "../data.js";
import { errorBox, h, loading, pageHeading, replace } from "../dom.js";
import { FormError, field, fieldErrors } from "../forms.js";
import { toast } from "../ui.js";
import { criteriaEditor } from "./policy-criteria.js";

/** Presidio's entities a policy can name (parley.safety.policy.PiiEntity), in words. */
export const PII_ENTITIES = [
  ["PHONE_NUMBER", "Phone number"],
  ["CREDIT_CARD", "Credit card"],
  ["EMAIL_ADDRESS", "Email address"],
  ["US_SSN", "US Social Security number"],
  ["PERSON", "Person's name"],
  ["LOCATION", "Location"],
  ["IBAN_CODE", "IBAN"],
  ["IP_ADDRESS", "IP address"],
  ["US_BANK_NUMBER", "US bank account"],
  ["US_DRIVER_LICENSE", "US driver license"],
  ["US_PASSPORT", "US passport"],
  ["US_ITIN", "US ITIN"],
  ["UK_NHS", "UK NHS number"],
  ["DATE_TIME", "Date or time"],
  ["URL", "URL"],
  ["CRYPTO", "Crypto wallet"],
  ["MEDICAL_LICENSE", "Medical license"],
];

/** Where detected personal data is replaced (parley.safety.policy.RedactTarget). */
export const REDACT_TARGETS = [
  ["storage", "Stored transcripts"],
  ["logs", "Server logs"],
  ["agent_speech", "What the agent says"],
  ["client", "Transcripts sent to the client"],
  ["llm", "What the language model sees"],
  ["recording", "Recordings (silenced)"],
];

const DEFAULTS = {
  redact: ["storage", "logs", "agent_speech", "recording"],
  filler_after_ms: 300,
  judge_timeout_ms: 2500,
  on_judge_error: "allow",
};

export async function render({ root, params, signal, navigate }) {
  const editing = Boolean(params.id);
  root.append(loading(editing ? "Loading policy…" : "Loading…"));
  const optional = (promise) =>
    promise.catch((error) => {
      if (error?.name === "AbortError") throw error;
      return [];
    });
  const [policy, providers, agents] = await Promise.all([
    editing ? api("GET", `/v1/policies/${encodeURIComponent(params.id)}`, { signal }) : null,
    optional(listProviders(signal)),
    editing ? optional(listAllAgents(signal)) : [],
  ]);
  const errors = errorBox();
  const p = policy ?? {};

  const name = input({ name: "name", maxlength: 200, required: true, value: p.name ?? "", autocomplete: "off", dataset: { autofocus: "" } });
  const description = textarea({ name: "description", rows: 2, maxlength: 2000, value: p.description ?? "" });
  const listArea = (values, props) => textarea({ rows: 5, spellcheck: "false", value: (values ?? []).join("\n"), ...props });
  const blockedTerms = listArea(p.blocked_terms, { name: "blocked_terms", placeholder: "refund guaranteed\ncompetitorco" });
  const userTerms = listArea(p.user_blocked_terms, { name: "user_blocked_terms", rows: 3 });
  const fallback = input({ name: "blocked_fallback", maxlength: 500, value: p.blocked_fallback ?? "", placeholder: "I'm sorry, I can't help with that. Is there anything else I can do for you?" });
  const entities = checks("Detect", PII_ENTITIES, p.pii?.entities ?? [], "pii.entities");
  const redact = checks("Redact in", REDACT_TARGETS, p.pii?.redact ?? DEFAULTS.redact, "pii.redact", "Where detected personal data is replaced by its kind, e.g. <CREDIT_CARD>.");
  const criteria = criteriaEditor(p.criteria ?? []);
  const fillers = listArea(p.filler_phrases, { name: "filler_phrases", rows: 3, spellcheck: "true", placeholder: "One moment, please." });
  const fillerAfter = numberInput({ name: "filler_after_ms", min: 0, max: 5000, step: 50, value: String(p.filler_after_ms ?? DEFAULTS.filler_after_ms), class: "input input-short" });
  const judge = judgeControl(providers, p.judge_provider ?? "");
  const judgeTimeout = numberInput({ name: "judge_timeout_ms", min: 100, max: 30000, step: 100, value: String(p.judge_timeout_ms ?? DEFAULTS.judge_timeout_ms), class: "input input-short" });
  const onJudgeError = select(
    [["allow", "Allow the turn"], ["block", "Block the turn"]],
    p.on_judge_error ?? DEFAULTS.on_judge_error,
    { name: "on_judge_error" },
  );

  const saveButton = h("button", { type: "submit", class: "btn btn-primary" }, editing ? "Save changes" : "Create policy");
  const sections = h(
    "div",
    { class: "form-main" },
    errors.el,
    section(
      "Basics",
      null,
      field({ label: "Name", control: name, param: "name", hint: "Up to 200 characters." }),
      field({ label: "Description", control: description, param: "description", hint: "For you; agents never see it." }),
    ),
    section(
      "Blocked terms",
      "Matched as whole words, ignoring case, accents and punctuation.",
      field({ label: "Terms the agent never says", control: blockedTerms, param: "blocked_terms", hint: "One per line, up to 1000 terms of 100 characters. A reply with one is replaced.", wide: true }),
      field({ label: "Terms callers may not use", control: userTerms, param: "user_blocked_terms", hint: "One per line. A caller's turn with one is answered with the blocked line, not by the model.", wide: true }),
      field({ label: "Blocked line", control: fallback, param: "blocked_fallback", hint: "Said instead; empty: a neutral default." }),
    ),
    section("Personal data", "Detected with Presidio's English recognizers.", entities.el, redact.el),
    section("Criteria", "Your own rules, judged by a language model on each turn they apply to.", criteria.el),
    section(
      "Judge and fillers",
      "While a check runs longer than the filler delay, the agent says a filler phrase.",
      h(
        "div",
        { class: "grid-3" },
        field({ label: "Judge model", control: judge, param: "judge_provider", hint: "The LLM that judges the criteria." }),
        field({ label: "Judge timeout (ms)", control: judgeTimeout, param: "judge_timeout_ms", hint: "100–30000." }),
        field({ label: "If the judge fails", control: onJudgeError, param: "on_judge_error", hint: "On a timeout or an error." }),
      ),
      field({ label: "Filler phrases", control: fillers, param: "filler_phrases", hint: "One per line, up to 10; said in turn.", wide: true }),
      field({ label: "Filler after (ms)", control: fillerAfter, param: "filler_after_ms", hint: "0–5000." }),
    ),
  );

  const users = agents.filter((a) => a.content_policy_id === p.id);
  const form = h(
    "form",
    { class: "agent-form policy-form", novalidate: true, "aria-labelledby": "policy-form-title" },
    sections,
    h(
      "aside",
      { class: "form-aside", "aria-label": "Form actions" },
      h(
        "div",
        { class: "card aside-card" },
        editing ? usedBy(users) : null,
        h("div", { class: "form-actions" }, saveButton, h("a", { class: "btn btn-ghost", href: "#/policies" }, "Cancel")),
      ),
    ),
  );
  const marks = fieldErrors(form, errors);

  function number(control, param, fallbackValue) {
    if (control.validity.badInput) throw new FormError(param, "Enter a number.");
    return control.value === "" ? fallbackValue : Number(control.value);
  }

  function payload() {
    if (!name.value.trim()) throw new FormError("name", "Give the policy a name.");
    return {
      name: name.value.trim(),
      description: description.value.trim(),
      blocked_terms: lines(blockedTerms),
      user_blocked_terms: lines(userTerms),
      blocked_fallback: fallback.value.trim() || null,
      pii: { entities: entities.values(), redact: redact.values() },
      criteria: criteria.values(),
      filler_phrases: lines(fillers),
      filler_after_ms: number(fillerAfter, "filler_after_ms", DEFAULTS.filler_after_ms),
      judge_provider: judge.value.trim() || null,
      judge_timeout_ms: number(judgeTimeout, "judge_timeout_ms", DEFAULTS.judge_timeout_ms),
      on_judge_error: onJudgeError.value,
    };
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = marks.collect(payload);
    if (!body) return;
    saveButton.disabled = true;
    saveButton.textContent = "Saving…";
    try {
      const saved = editing
        ? await api("PATCH", `/v1/policies/${encodeURIComponent(p.id)}`, { body })
        : await api("POST", "/v1/policies", { body });
      toast(editing ? `Saved ${saved.name}.` : `Created ${saved.name}.`, "success");
      navigate("#/policies");
    } catch (error) {
      if (!marks.apiError(error)) errors.el.scrollIntoView({ block: "center" });
    } finally {
      saveButton.disabled = false;
      saveButton.textContent = editing ? "Save changes" : "Create policy";
    }
  });

  const title = pageHeading(editing ? p.name : "New policy");
  title.id = "policy-form-title";
  replace(
    root,
    h(
      "div",
      { class: "page-head" },
      h(
        "div",
        {},
        h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("a", { href: "#/policies" }, "Policies"), " / ", editing ? h("span", { class: "mono" }, p.id) : "New"),
        title,
      ),
    ),
    form,
  );
}

/** The judge: a select of the server's LLM providers, or free text when none are listed. */
function judgeControl(providers, chosen) {
  const names = providers.filter((pr) => pr.kind === "llm").map((pr) => pr.name);
  if (!names.length) {
    return input({ name: "judge_provider", value: chosen, class: "input mono", spellcheck: "false", placeholder: "llm:NAME (empty: the agent's LLM)" });
  }
  const options = [["", "The agent's own LLM"], ...names.map((n) => [n, n])];
  if (chosen && !names.includes(chosen)) options.push([chosen, `${chosen} (not on this server)`]);
  return select(options, chosen, { name: "judge_provider" });
}

/** The agents that use this policy (it cannot be deleted while there are any). */
function usedBy(users) {
  return h(
    "div",
    { class: "used-by" },
    h("h2", { class: "label" }, "Used by"),
    users.length
      ? h("ul", { class: "used-by-list" }, users.map((a) => h("li", {}, h("a", { href: `#/agents/${encodeURIComponent(a.id)}` }, a.name))))
      : h("p", { class: "muted small" }, "No agent uses this policy."),
  );
}
