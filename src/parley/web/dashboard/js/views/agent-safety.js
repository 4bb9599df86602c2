// The agent form's safety part: its content policy and its loop detection settings.

import { checkbox, input, numberInput, select } from "../controls.js";
import { h } from "../dom.js";
import { FormError, field } from "../forms.js";

/** The server's loop detection when an agent sets none (`loop_detection: null`). */
export const LOOP_DEFAULTS = {
  enabled: true,
  agent_repeats: 3,
  user_repeats: 3,
  tool_repeats: 3,
  no_progress_turns: 6,
  similarity: 0.85,
  action: "steer",
  line: null,
};

const COUNTS = [
  { name: "agent_repeats", label: "Agent repeats", min: 2, max: 10, hint: "Near-duplicate replies that make a loop, 2–10." },
  { name: "user_repeats", label: "Caller repeats", min: 2, max: 10, hint: "Times the caller says the same thing, 2–10." },
  { name: "tool_repeats", label: "Tool repeats", min: 2, max: 10, hint: "Same tool, same arguments, 2–10." },
  { name: "no_progress_turns", label: "Turns without progress", min: 0, max: 50, hint: "Replies that add almost nothing new; 0 off, else 3–50." },
];

const LOOP_ACTIONS = [
  ["steer", "Steer: tell the model to change approach"],
  ["say", "Say the line below"],
  ["end", "Say the line and end the call"],
];

/** The policies for the select: every one (100 at a time), newest first. */
export async function listPolicies(api, signal) {
  const policies = [];
  for (let offset = 0; offset < 1000; offset += 100) {
    const page = await api("GET", "/v1/policies", { query: { limit: 100, offset }, signal });
    policies.push(...page.data);
    if (!page.has_more) break;
  }
  return policies;
}

/** A select of "no policy" and the policies, bound to `content_policy_id`. */
export function policySelect(policies, chosen) {
  const options = [["", "None: no content checks"], ...policies.map((p) => [p.id, `${p.name} · ${p.id}`])];
  // A policy that is gone stays visible (saving it gets the API's 422).
  if (chosen && !policies.some((p) => p.id === chosen)) options.push([chosen, `${chosen} (not found)`]);
  const control = select(options, chosen ?? "", { name: "content_policy_id", id: "content_policy_id" });
  const hint = h("span");
  const describe = () => {
    hint.replaceChildren(
      control.value
        ? h("a", { href: `#/policies/${encodeURIComponent(control.value)}` }, "Open this policy")
        : "Blocked terms, personal data and custom rules checked on each turn.",
    );
  };
  control.addEventListener("change", describe);
  describe();
  return { control, hint };
}

/**
 * The loop detection fields for `agent.loop_detection` (null: the defaults). `.el` is the
 * fields; `.value()` gives the object to send, or null while it equals the defaults and
 * the agent set none.
 */
export function loopFields(current) {
  const loop = { ...LOOP_DEFAULTS, ...(current ?? {}) };
  const enabled = checkbox({ label: "Detect loops", checked: loop.enabled, param: "loop_detection.enabled", id: "loop_enabled" });
  const counts = {};
  const countFields = COUNTS.map((f) => {
    counts[f.name] = numberInput({ name: `loop_${f.name}`, min: f.min, max: f.max, step: 1, value: String(loop[f.name]) });
    return field({ label: f.label, control: counts[f.name], hint: f.hint, param: `loop_detection.${f.name}` });
  });
  const similarity = numberInput({ name: "loop_similarity", min: 0.5, max: 1, step: 0.05, value: String(loop.similarity) });
  const action = select(LOOP_ACTIONS, loop.action, { name: "loop_action" });
  const line = input({ name: "loop_line", maxlength: 500, value: loop.line ?? "", placeholder: "The server's default line" });
  const details = h(
    "div",
    { class: "loop-details" },
    h("div", { class: "grid-2" }, countFields),
    h(
      "div",
      { class: "grid-2" },
      field({ label: "Similarity", control: similarity, param: "loop_detection.similarity", hint: "How alike two turns must be to count as the same, 0.5–1." }),
      field({ label: "On a loop", control: action, param: "loop_detection.action" }),
    ),
    field({ label: "Loop line", control: line, param: "loop_detection.line", hint: "Said for “say” and “end”; empty: a neutral line that asks what the caller needs." }),
  );
  const sync = () => {
    for (const control of details.querySelectorAll("input, select")) control.disabled = !enabled.box.checked;
  };
  enabled.box.addEventListener("change", sync);
  sync();

  const number = (control, param) => {
    if (control.validity.badInput || control.value === "") throw new FormError(param, "Enter a number.");
    return Number(control.value);
  };
  return {
    el: h("div", { class: "loop-fields" }, enabled.el, details),
    value() {
      const value = { enabled: enabled.box.checked };
      for (const f of COUNTS) value[f.name] = number(counts[f.name], `loop_detection.${f.name}`);
      value.similarity = number(similarity, "loop_detection.similarity");
      value.action = action.value;
      value.line = line.value.trim() || null;
      const same = Object.keys(LOOP_DEFAULTS).every((k) => value[k] === LOOP_DEFAULTS[k]);
      return same && !current ? null : value;
    },
  };
}
