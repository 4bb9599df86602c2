// Form controls the editors share: inputs, selects, checkbox groups and form sections.

import { append, h, uid } from "./dom.js";

export function input(props) {
  return h("input", { class: "input", type: "text", ...props });
}

export function numberInput(props) {
  return h("input", { class: "input", type: "number", inputmode: "decimal", ...props });
}

export function textarea(props) {
  return h("textarea", { class: "input", rows: 3, ...props });
}

/** A <select> of [value, text, extraProps?] options with `value` selected. */
export function select(options, value, props = {}) {
  return h(
    "select",
    { class: "input", ...props },
    options.map(([v, text, extra = {}]) => h("option", { value: v, selected: v === value, ...extra }, text)),
  );
}

/** A titled fieldset card of a form, with an optional description. */
export function section(title, description, ...children) {
  const id = uid("sec");
  return h(
    "fieldset",
    { class: "card form-section", "aria-describedby": description ? `${id}-d` : null },
    h("legend", { class: "section-title" }, title),
    description ? h("p", { class: "muted section-desc", id: `${id}-d` }, description) : null,
    ...children,
  );
}

/** A labelled checkbox with its own error slot (for `fieldErrors`). */
export function checkbox({ label, checked = false, param = null, value = null, id = uid("c") }) {
  const box = h("input", { type: "checkbox", id, value, checked, dataset: param ? { param } : {} });
  return { box, el: h("div", { class: "check" }, box, h("label", { for: id }, label), h("p", { class: "field-error", id: `${id}-error`, hidden: true })) };
}

/**
 * A group of checkboxes for a list value: `checks(legend, [[value, label]], chosen, param)`.
 * `.el` is a fieldset (its errors show under the legend); `.values()` the checked values.
 */
export function checks(legend, options, chosen, param, hint = null) {
  const id = uid("g");
  const group = h("fieldset", { class: "checks", id, tabindex: "-1", dataset: { param } });
  const boxes = options.map(([value, label]) => checkbox({ label, value, checked: chosen.includes(value) }));
  group.setAttribute("aria-describedby", `${id}-error`);
  append(group, [
    h("legend", { class: "label" }, legend),
    hint ? h("p", { class: "hint" }, hint) : null,
    h("div", { class: "checks-grid" }, boxes.map((b) => b.el)),
    h("p", { class: "field-error", id: `${id}-error`, hidden: true }),
  ]);
  return { el: group, values: () => boxes.filter((b) => b.box.checked).map((b) => b.box.value) };
}

/** The non-empty lines of a textarea, trimmed. */
export function lines(control) {
  return control.value.split("\n").map((line) => line.trim()).filter(Boolean);
}
