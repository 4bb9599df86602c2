// A stored turn's safety marks (blocked terms, personal data, criteria, loops) as badges.

import { h } from "../dom.js";

const KINDS = {
  blocked_term: "Blocked term",
  pii: "Personal data",
  criterion: "Criterion",
  loop: "Loop",
};

/** How serious an action is: red when a reply was stopped, amber when noted, grey when redacted. */
const SEVERITY = {
  blocked: "danger",
  replaced: "danger",
  ended: "danger",
  flagged: "warn",
  steered: "warn",
  said: "warn",
  redacted: "muted",
};

/** The marks of one turn: `[{kind, action, detail, policy_id}]` (detail never holds the data itself). */
export function safetyMarks(marks) {
  return h(
    "ul",
    { class: "safety-marks", "aria-label": "Safety marks" },
    marks.map((m) => {
      const kind = KINDS[m.kind] ?? m.kind;
      const title = m.policy_id ? `${kind} ${m.action} by policy ${m.policy_id}` : `${kind} ${m.action}`;
      return h(
        "li",
        { class: `safety-mark safety-${SEVERITY[m.action] ?? "muted"}`, dataset: { kind: m.kind, action: m.action }, title },
        h("span", { class: "safety-kind" }, kind),
        h("span", { class: "safety-action" }, m.action),
        m.detail ? h("span", { class: "safety-detail mono" }, m.detail) : null,
        m.policy_id
          ? h("a", { class: "safety-policy mono", href: `#/policies/${encodeURIComponent(m.policy_id)}`, "aria-label": `Policy ${m.policy_id}` }, m.policy_id)
          : null,
      );
    }),
  );
}

/** "2 on 1 turn" for the session summary, or null when there are none. */
export function safetySummary(turns) {
  const marked = turns.filter((t) => t.safety?.length);
  if (!marked.length) return null;
  const count = marked.reduce((n, t) => n + t.safety.length, 0);
  return `${count} ${count === 1 ? "mark" : "marks"} on ${marked.length} ${marked.length === 1 ? "turn" : "turns"}`;
}
