// Sign in with an API key. The key is checked against the API, then kept in
// sessionStorage for this tab only.

import { api, describeError, errorCode, setKey } from "../api.js";
import { errorBox, h } from "../dom.js";

export async function render({ root, query, navigate }) {
  const errors = errorBox();
  const input = h("input", {
    id: "api-key",
    name: "api-key",
    type: "password",
    class: "input mono",
    autocomplete: "off",
    spellcheck: "false",
    autocapitalize: "off",
    placeholder: "sk_live_…",
    required: true,
    "aria-describedby": "api-key-hint",
    dataset: { autofocus: "" },
  });
  const button = h("button", { type: "submit", class: "btn btn-primary btn-block" }, "Sign in");

  async function submit(event) {
    event.preventDefault();
    errors.clear();
    const key = input.value.trim();
    if (!key) {
      errors.show("Enter an API key.");
      input.setAttribute("aria-invalid", "true");
      input.focus();
      return;
    }
    button.disabled = true;
    button.textContent = "Checking key…";
    try {
      // Any secret-key endpoint tells a good key from a bad one.
      await api("GET", "/v1/agents", { key, query: { limit: 1 } });
      setKey(key);
      const next = query.next && query.next.startsWith("#/") ? query.next : "#/agents";
      navigate(next);
    } catch (error) {
      errors.show(describeError(error), errorCode(error));
      input.setAttribute("aria-invalid", "true");
      input.select();
      input.focus();
    } finally {
      button.disabled = false;
      button.textContent = "Sign in";
    }
  }

  root.append(
    h(
      "div",
      { class: "signin" },
      h(
        "form",
        { class: "card signin-card", onsubmit: submit, novalidate: true, "aria-labelledby": "signin-title" },
        h("img", { src: "assets/logo.svg", alt: "", width: 44, height: 44, class: "signin-logo" }),
        h("h1", { id: "signin-title", class: "page-title", tabindex: "-1" }, "Sign in to Parley"),
        h("p", { class: "muted" }, "Manage your voice agents, talk to them and review their conversations."),
        h("label", { for: "api-key", class: "label" }, "API key"),
        input,
        h(
          "p",
          { id: "api-key-hint", class: "hint" },
          "A secret key (sk_live_…). It stays in this browser tab only and is forgotten when you sign out or close the tab.",
        ),
        errors.el,
        button,
        h(
          "p",
          { class: "hint signin-foot" },
          "The first ",
          h("code", {}, "parley serve"),
          " prints an admin key; ",
          h("code", {}, "parley keys create"),
          " makes more.",
        ),
      ),
    ),
  );
  input.addEventListener("input", () => input.removeAttribute("aria-invalid"));
}
