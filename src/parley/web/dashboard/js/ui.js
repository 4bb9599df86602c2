// Shared widgets: toasts (announced politely), a confirm dialog, pagination.

import { ApiError, errorCode } from "./api.js";
import { h } from "./dom.js";

/** Show a short message at the bottom of the screen (and to screen readers). */
export function toast(message, kind = "info") {
  const host = document.getElementById("toasts");
  const item = h("div", { class: `toast toast-${kind}` }, message);
  host.append(item);
  setTimeout(() => item.classList.add("toast-leaving"), 4200);
  setTimeout(() => item.remove(), 4600);
}

/**
 * Ask before something permanent. Resolves true when confirmed.
 * Uses a native <dialog>: focus is trapped, Escape cancels.
 */
export function confirmDialog({ title, message, confirmLabel = "Confirm", danger = false }) {
  return new Promise((resolve) => {
    const titleId = "confirm-title";
    const dialog = h(
      "dialog",
      { class: "dialog", "aria-labelledby": titleId },
      h(
        "form",
        { method: "dialog" },
        h("h2", { id: titleId }, title),
        h("p", {}, message),
        h(
          "div",
          { class: "dialog-actions" },
          h("button", { class: "btn btn-ghost", value: "cancel", type: "submit" }, "Cancel"),
          h(
            "button",
            { class: `btn ${danger ? "btn-danger" : "btn-primary"}`, value: "confirm", type: "submit" },
            confirmLabel,
          ),
        ),
      ),
    );
    const opener = document.activeElement;
    dialog.addEventListener("close", () => {
      resolve(dialog.returnValue === "confirm");
      dialog.remove();
      if (opener instanceof HTMLElement && opener.isConnected) opener.focus();
    });
    document.body.append(dialog);
    dialog.showModal();
    dialog.querySelector("button[value=cancel]").focus();
  });
}

/** Previous/next links for a page of `{total, limit, offset, has_more}`. */
export function pager(page, hrefFor, label = "items") {
  const { total, limit, offset } = page;
  if (total <= limit && offset === 0) return null;
  const first = total === 0 ? 0 : offset + 1;
  const last = Math.min(offset + limit, total);
  const prev = offset > 0 ? hrefFor(Math.max(0, offset - limit)) : null;
  const next = page.has_more ? hrefFor(offset + limit) : null;
  return h(
    "nav",
    { class: "pager", "aria-label": "Pages" },
    prev ? h("a", { class: "btn btn-ghost", href: prev }, "← Newer") : h("span"),
    h("span", { class: "muted" }, `${first}–${last} of ${total} ${label}`),
    next ? h("a", { class: "btn btn-ghost", href: next }, "Older →") : h("span"),
  );
}

/** A hash href with a query: href("#/sessions", {agent: "a", status: ""}). */
export function href(path, query = {}) {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value !== null && value !== undefined && value !== "" && value !== 0) params.set(name, value);
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

/** True when ``error`` says the signed-in key is not an admin key (403). */
export function isNotAdmin(error) {
  return error instanceof ApiError && error.status === 403 && error.code === "authorization_error";
}

/** The card of an admin-only page seen with another key: ``title``, and what it cannot do. */
export function adminKeyNeeded(error, title, cannot) {
  return h(
    "div",
    { class: "card empty" },
    h("h2", {}, title),
    h("p", { class: "muted" }, `This tab is signed in with a secret key that is not an admin key, so it cannot ${cannot}.`),
    h("p", { class: "muted" }, "Sign out and sign in with an admin key (the first ", h("code", {}, "parley serve"), " prints one), or run ", h("code", {}, "parley keys"), " on the server."),
    h("p", { class: "subtle small mono" }, errorCode(error)),
  );
}

