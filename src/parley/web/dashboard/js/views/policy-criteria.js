// The criteria rows of the policy editor: custom rules an LLM judges, added and removed.

import { input, select, textarea } from "../controls.js";
import { h } from "../dom.js";
import { field } from "../forms.js";

export const APPLIES_TO = [
  ["agent", "The agent's replies"],
  ["user", "The caller's turns"],
  ["both", "Both"],
];

export const ACTIONS = [
  ["block", "Block: say the fallback instead"],
  ["flag", "Flag: only record it"],
];

/**
 * A list of criterion cards with an "+ Add criterion" button. `.el` goes in the form;
 * `.values()` gives the criteria for the request body (fallback: null when empty).
 */
export function criteriaEditor(criteria, maxCriteria = 20) {
  const list = h("div", { class: "tools criteria", dataset: { param: "criteria" }, tabindex: "-1" });
  const empty = h("p", { class: "muted" }, "No criteria. Only blocked terms and personal data are checked.");
  const addButton = h("button", { type: "button", class: "btn btn-soft" }, "+ Add criterion");

  const renumber = () => {
    [...list.children].forEach((card, i) => {
      card.querySelector("legend").textContent = `Criterion ${i + 1}`;
      for (const role of ["name", "rule", "applies_to", "action", "fallback"]) {
        card.querySelector(`[data-role=${role}]`).dataset.param = `criteria.${i}.${role}`;
      }
      card.querySelector("[data-role=remove]").setAttribute("aria-label", `Remove criterion ${i + 1}`);
    });
    empty.hidden = list.children.length > 0;
    addButton.disabled = list.children.length >= maxCriteria;
  };

  const add = (c = {}) => {
    const card = h(
      "fieldset",
      { class: "tool criterion" },
      h("legend", { class: "tool-title" }, "Criterion"),
      h(
        "button",
        {
          type: "button",
          class: "btn btn-small btn-ghost btn-danger-text",
          dataset: { role: "remove" },
          onclick: () => {
            card.remove();
            renumber();
            addButton.focus();
          },
        },
        "Remove criterion",
      ),
      h(
        "div",
        { class: "grid-2" },
        field({
          label: "Criterion name",
          control: input({ value: c.name ?? "", maxlength: 64, spellcheck: "false", class: "input mono", dataset: { role: "name" }, placeholder: "no_medical_advice" }),
          hint: "Lowercase letters, digits and _; unique in the policy.",
        }),
        field({ label: "Checks", control: select(APPLIES_TO, c.applies_to ?? "agent", { dataset: { role: "applies_to" } }) }),
      ),
      field({
        label: "Rule",
        control: textarea({ rows: 2, maxlength: 2000, value: c.rule ?? "", dataset: { role: "rule" }, placeholder: "The agent must not give medical advice." }),
        hint: "What the judging model checks, in plain words.",
        wide: true,
      }),
      h(
        "div",
        { class: "grid-2" },
        field({ label: "When broken", control: select(ACTIONS, c.action ?? "block", { dataset: { role: "action" } }) }),
        field({
          label: "Fallback line",
          control: input({ value: c.fallback ?? "", maxlength: 500, dataset: { role: "fallback" }, placeholder: "The policy's blocked line" }),
          hint: "Said instead of a blocked reply; empty: the policy's line.",
        }),
      ),
    );
    list.append(card);
    renumber();
    return card;
  };

  addButton.addEventListener("click", () => add().querySelector("input").focus());
  for (const c of criteria) add(c);
  renumber();

  const value = (card, role) => card.querySelector(`[data-role=${role}]`).value;
  return {
    el: h("div", {}, empty, list, addButton),
    values: () =>
      [...list.children].map((card) => ({
        name: value(card, "name").trim(),
        rule: value(card, "rule").trim(),
        applies_to: value(card, "applies_to"),
        action: value(card, "action"),
        fallback: value(card, "fallback").trim() || null,
      })),
  };
}
