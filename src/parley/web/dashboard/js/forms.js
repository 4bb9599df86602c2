// Form building blocks shared by the views: labelled fields and errors shown on the
// control the API's `param` names.

import { describeError, errorCode } from "./api.js";
import { h, uid } from "./dom.js";

/** A labelled control with a hint and a slot for its error. */
export function field({ label, control, hint, param, wide = false }) {
  const id = control.id || uid("f");
  control.id = id;
  const hintId = hint ? `${id}-hint` : null;
  const errorId = `${id}-error`;
  control.setAttribute("aria-describedby", [hintId, errorId].filter(Boolean).join(" "));
  if (param) control.dataset.param = param;
  return h(
    "div",
    { class: `field${wide ? " field-wide" : ""}` },
    h("label", { class: "label", for: id }, label),
    control,
    hint ? h("p", { class: "hint", id: hintId }, hint) : null,
    h("p", { class: "field-error", id: errorId, hidden: true }),
  );
}

/** A mistake found before anything is sent, at the field `param` names. */
export class FormError extends Error {
  constructor(param, message) {
    super(message);
    this.param = param;
  }
}

/**
 * Field errors of one form. `show(param, message)` marks the control whose `data-param`
 * is `param` (or its nearest named parent, for "tools.0.name") and focuses it; `clear()`
 * removes every mark. Editing a marked control clears its mark. `collect(build)` clears
 * the marks and returns build()'s request body, or null after showing its FormError;
 * `apiError(error)` shows an API error and returns the control it marked, if any.
 */
export function fieldErrors(form, errorBox) {
  const slotOf = (control) => (control.id ? form.querySelector(`#${CSS.escape(control.id)}-error`) : null);
  const unmark = (control) => {
    control.removeAttribute("aria-invalid");
    const slot = slotOf(control);
    if (slot) {
      slot.hidden = true;
      slot.textContent = "";
    }
  };
  form.addEventListener("input", (event) => {
    const control = event.target.closest?.("[aria-invalid]");
    if (control) unmark(control);
  });
  const marks = {
    show(param, message) {
      const segments = param.split(".");
      for (let n = segments.length; n > 0; n -= 1) {
        const target = form.querySelector(`[data-param="${CSS.escape(segments.slice(0, n).join("."))}"]`);
        if (!target) continue;
        target.setAttribute("aria-invalid", "true");
        const slot = slotOf(target);
        if (slot) {
          slot.textContent = message;
          slot.hidden = false;
        }
        target.focus();
        return target;
      }
      return null;
    },
    clear() {
      errorBox.clear();
      for (const control of form.querySelectorAll("[aria-invalid]")) unmark(control);
      for (const slot of form.querySelectorAll(".field-error")) {
        slot.hidden = true;
        slot.textContent = "";
      }
    },
    collect(build) {
      marks.clear();
      try {
        return build();
      } catch (error) {
        if (!(error instanceof FormError)) throw error;
        errorBox.show(error.message);
        marks.show(error.param, error.message);
        return null;
      }
    },
    apiError(error) {
      errorBox.show(describeError(error), errorCode(error));
      return error.param ? marks.show(error.param, error.message) : null;
    },
  };
  return marks;
}
