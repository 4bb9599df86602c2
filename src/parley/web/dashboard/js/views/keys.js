// API keys (admin keys only): every key with revoke, a form for a new one, and the new
// key's plaintext, shown once in this view and kept nowhere else (not stored, not logged).

import { ApiError, api, describeError, errorCode, getKey } from "../api.js";
import { badge, errorBox, h, loading, pageHeading, replace } from "../dom.js";
import { listAllAgents } from "../data.js";
import { FormError, field, fieldErrors } from "../forms.js";
import { timeElement } from "../format.js";
import { adminKeyNeeded, confirmDialog, isNotAdmin, toast } from "../ui.js";

const COLUMNS = ["Name", "Kind", "Prefix", "Admin", "Agents", "Rate limit", "Created", "Last used", "Status"];

export async function render({ root, signal }) {
  const errors = errorBox();
  const count = h("span", { class: "count" });
  const actions = h("div", { class: "page-actions" });
  const body = h("div", {}, loading("Loading keys…"));
  root.append(
    h(
      "div",
      { class: "page-head" },
      h("div", {}, pageHeading("API keys", count), h("p", { class: "muted" }, "Secret keys use the REST API; publishable keys only open conversations.")),
      actions,
    ),
    errors.el,
    body,
  );

  let keys;
  let agents;
  try {
    [keys, agents] = await Promise.all([listKeys(signal), listAllAgents(signal)]);
  } catch (error) {
    if (!isNotAdmin(error)) throw error;
    replace(body, adminKeyNeeded(error, "Managing keys needs an admin key", "list, create or revoke API keys"));
    return;
  }

  const agentNames = new Map(agents.map((a) => [a.id, a.name]));
  const reveal = revealBox();
  signal.addEventListener("abort", () => reveal.clear());
  const table = h("div", {});
  const toggle = h("button", { type: "button", class: "btn btn-primary", "aria-expanded": "false", "aria-controls": "new-key" }, "+ New key");
  const form = keyForm(agents, {
    onCreated(created) {
      form.close();
      reveal.show(created);
      toast(`Created ${created.name}. Copy the key now: it is not shown again.`, "success");
      refresh();
    },
    onClose() {
      toggle.setAttribute("aria-expanded", "false");
    },
  });
  toggle.addEventListener("click", () => {
    if (form.el.hidden) {
      form.open();
      toggle.setAttribute("aria-expanded", "true");
    } else form.close({ focus: toggle });
  });
  actions.append(toggle);
  replace(body, reveal.el, form.el, table);
  show();

  function show() {
    const ownId = ownKeyId(keys);
    const active = keys.filter((k) => !k.revoked_at).length;
    count.textContent = String(keys.length);
    count.setAttribute("aria-label", `${keys.length} keys, ${active} active`);
    replace(table, keyTable(keys, { agentNames, ownId, onRevoke: revoke }));
  }

  async function refresh() {
    try {
      keys = await listKeys(signal);
      show();
    } catch (error) {
      // A 401 here means this tab's own key was revoked: app.js signs the tab out.
      if (signal.aborted || (error instanceof ApiError && error.status === 401)) return;
      errors.show(describeError(error), errorCode(error));
    }
  }

  async function revoke(key, own) {
    const ok = await confirmDialog({
      title: `Revoke ${key.name}?`,
      message: own
        ? "This is the key this tab is signed in with: once it is revoked, this tab is signed out. Anything else using it stops working too, and revoking cannot be undone."
        : "Anything that uses this key stops working at once. Revoking cannot be undone.",
      confirmLabel: "Revoke key",
      danger: true,
    });
    if (!ok) return;
    errors.clear();
    try {
      await api("DELETE", `/v1/api-keys/${encodeURIComponent(key.id)}`);
      toast(own ? `Revoked ${key.name}, the key of this tab.` : `Revoked ${key.name}.`);
      if (reveal.el.dataset.keyId === key.id) reveal.clear();
      await refresh();
      if (!signal.aborted) root.querySelector(".page-title")?.focus();
    } catch (error) {
      errors.show(describeError(error), errorCode(error));
    }
  }
}

async function listKeys(signal) {
  const body = await api("GET", "/v1/api-keys", { signal });
  // Active keys first, newest first within each group.
  const time = (iso) => new Date(iso).getTime();
  return body.data.sort((a, b) => Boolean(a.revoked_at) - Boolean(b.revoked_at) || time(b.created_at) - time(a.created_at));
}

/** The id of the key this tab is signed in with, matched by its prefix when only one matches. */
function ownKeyId(keys) {
  const mine = getKey() ?? "";
  const matches = keys.filter((k) => !k.revoked_at && mine.startsWith(k.prefix));
  return matches.length === 1 ? matches[0].id : null;
}

// ---------- the table ----------

function keyTable(keys, { agentNames, ownId, onRevoke }) {
  if (keys.length === 0) return h("div", { class: "card empty" }, h("h2", {}, "No keys"), h("p", { class: "muted" }, "Create one with New key."));
  return h(
    "div",
    { class: "card table-card" },
    h(
      "table",
      { class: "table table-cards table-keys", "aria-label": "API keys" },
      h(
        "thead",
        {},
        h("tr", {}, COLUMNS.map((c) => h("th", { scope: "col" }, c)), h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Actions"))),
      ),
      h("tbody", {}, keys.map((key) => keyRow(key, agentNames, key.id === ownId, onRevoke))),
    ),
  );
}

function keyRow(key, agentNames, own, onRevoke) {
  const revoked = Boolean(key.revoked_at);
  const limit = key.rate_limit;
  return h(
    "tr",
    { class: revoked ? "key-revoked" : null, dataset: { keyId: key.id } },
    h("td", {}, h("span", { class: "row-title", title: key.id }, key.name), own ? h("span", { class: "chip chip-accent key-own" }, "this tab") : null),
    h("td", { class: "small", dataset: { label: "Kind" } }, key.kind),
    h("td", { class: "mono small nowrap", dataset: { label: "Prefix" } }, `${key.prefix}…`),
    h("td", { class: "small", dataset: { label: "Admin" } }, key.kind === "publishable" ? h("span", { class: "subtle", title: "Publishable keys cannot be admin keys" }, "—") : key.admin ? "Yes" : "No"),
    h("td", { class: "small", dataset: { label: "Agents" } }, agentList(key.agent_ids, agentNames)),
    h("td", { class: "small nowrap", dataset: { label: "Rate limit" } }, limit ? `${limit.requests_per_minute}/min, burst ${limit.burst}` : h("span", { class: "subtle" }, "Server default")),
    h("td", { class: "small", dataset: { label: "Created" } }, timeElement(key.created_at, h)),
    h("td", { class: "small", dataset: { label: "Last used" } }, key.last_used_at ? timeElement(key.last_used_at, h) : h("span", { class: "subtle" }, "Never")),
    h("td", { dataset: { label: "Status" } }, revoked ? [badge("revoked"), h("div", { class: "small" }, timeElement(key.revoked_at, h))] : badge("active")),
    h(
      "td",
      { class: "row-actions" },
      revoked ? null : h("button", { type: "button", class: "btn btn-small btn-ghost btn-danger-text", onclick: () => onRevoke(key, own), "aria-label": `Revoke ${key.name}` }, "Revoke"),
    ),
  );
}

function agentList(ids, agentNames) {
  if (!ids) return h("span", { class: "subtle" }, "Any agent");
  return ids.map((id, i) => [i ? ", " : "", agentNames.has(id) ? h("span", { title: id }, agentNames.get(id)) : h("span", { class: "mono" }, id)]);
}

// ---------- the new-key form ----------

/** A fieldset that can hold an error (it is focused when the API names its param). */
function group(id, param, legend, ...children) {
  return h(
    "fieldset",
    { class: "key-group", id, tabindex: "-1", dataset: { param }, "aria-describedby": `${id}-error` },
    h("legend", { class: "label" }, legend),
    ...children,
    h("p", { class: "field-error", id: `${id}-error`, hidden: true }),
  );
}

function choice(name, value, label, hint, checked = false) {
  const id = `key-${name}-${value}`;
  const input = h("input", { type: "radio", name, value, id, checked, "aria-describedby": `${id}-hint` });
  input.defaultChecked = checked; // what form.reset() goes back to
  return h(
    "div",
    { class: "key-choice" },
    input,
    h("label", { for: id }, label),
    h("p", { class: "hint", id: `${id}-hint` }, hint),
  );
}

function keyForm(agents, { onCreated, onClose }) {
  const errors = errorBox();
  const name = h("input", { id: "key-name", class: "input", type: "text", maxlength: 200, required: true, autocomplete: "off", dataset: { param: "name" } });
  const kind = group(
    "key-kind",
    "kind",
    "Kind",
    h(
      "div",
      { class: "grid-2" },
      choice("kind", "secret", "Secret", "The whole REST API (sk_live_…). Keep it on a server.", true),
      choice("kind", "publishable", "Publishable", "Only opens conversations (pk_live_…): the key a web page may hold."),
    ),
  );
  const admin = h("input", { type: "checkbox", id: "key-admin", name: "admin", dataset: { param: "admin" }, "aria-describedby": "key-admin-hint key-admin-error" });
  const adminRow = h(
    "div",
    { class: "check key-admin" },
    admin,
    h("label", { for: "key-admin" }, "Admin key"),
    h("p", { class: "hint", id: "key-admin-hint" }, "May create, list and revoke API keys, as this view does."),
    h("p", { class: "field-error", id: "key-admin-error", hidden: true }),
  );
  const picks = agents.map((a, i) =>
    h("div", { class: "check" }, h("input", { type: "checkbox", id: `key-agent-${i}`, value: a.id }), h("label", { for: `key-agent-${i}` }, a.name, " ", h("span", { class: "mono subtle" }, a.id))),
  );
  const agentGroup = group(
    "key-agents",
    "agent_ids",
    "Agents it may talk to",
    h("p", { class: "hint key-group-hint" }, "Leave all unchecked to allow every agent."),
    picks.length ? h("div", { class: "key-agent-list" }, picks) : h("p", { class: "muted" }, "No agents yet."),
  );
  const rpm = h("input", { id: "key-rpm", class: "input", type: "number", min: 0.01, step: "any", inputmode: "decimal", dataset: { param: "rate_limit.requests_per_minute" } });
  const burst = h("input", { id: "key-burst", class: "input", type: "number", min: 1, step: 1, inputmode: "numeric", dataset: { param: "rate_limit.burst" } });
  const limits = group(
    "key-limit",
    "rate_limit",
    "Rate limit (optional)",
    h("p", { class: "hint key-group-hint" }, "Leave both empty to use the server's limit."),
    h("div", { class: "grid-2" }, field({ label: "Requests per minute", control: rpm }), field({ label: "Burst", control: burst, hint: "Requests allowed at once." })),
  );
  const submit = h("button", { type: "submit", class: "btn btn-primary" }, "Create key");
  const cancel = h("button", { type: "button", class: "btn btn-ghost" }, "Cancel");
  const form = h(
    "form",
    { class: "card key-form", id: "new-key", hidden: true, novalidate: true, "aria-labelledby": "new-key-title" },
    h("h2", { id: "new-key-title" }, "New key"),
    errors.el,
    field({ label: "Name", control: name, hint: "What uses the key, e.g. website or backend." }),
    kind,
    adminRow,
    agentGroup,
    limits,
    h("div", { class: "page-actions" }, submit, cancel),
  );
  const marks = fieldErrors(form, errors);

  const kindValue = () => form.querySelector("input[name=kind]:checked").value;
  const showKind = () => {
    adminRow.hidden = kindValue() !== "secret";
    agentGroup.hidden = kindValue() !== "publishable";
  };
  kind.addEventListener("change", showKind);
  showKind();

  function payload() {
    const body = { name: name.value.trim(), kind: kindValue() };
    if (!body.name) throw new FormError("name", "Give the key a name.");
    if (body.kind === "secret") body.admin = admin.checked;
    const ids = picks.map((p) => p.querySelector("input")).filter((c) => c.checked).map((c) => c.value);
    if (body.kind === "publishable" && ids.length) body.agent_ids = ids;
    if (rpm.validity.badInput) throw new FormError("rate_limit.requests_per_minute", "Enter a number.");
    if (burst.validity.badInput) throw new FormError("rate_limit.burst", "Enter a whole number.");
    if (rpm.value !== "" || burst.value !== "") {
      if (rpm.value === "") throw new FormError("rate_limit.requests_per_minute", "Give requests per minute too, or leave both empty.");
      if (burst.value === "") throw new FormError("rate_limit.burst", "Give a burst too, or leave both empty.");
      body.rate_limit = { requests_per_minute: Number(rpm.value), burst: Number(burst.value) };
    }
    return body;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = marks.collect(payload);
    if (!body) return;
    submit.disabled = true;
    submit.textContent = "Creating…";
    try {
      onCreated(await api("POST", "/v1/api-keys", { body }));
    } catch (error) {
      marks.apiError(error);
    } finally {
      submit.disabled = false;
      submit.textContent = "Create key";
    }
  });

  const panel = {
    el: form,
    open() {
      form.hidden = false;
      name.focus();
    },
    close({ focus = null } = {}) {
      form.reset();
      marks.clear();
      showKind();
      form.hidden = true;
      onClose();
      focus?.focus();
    },
  };
  cancel.addEventListener("click", () => panel.close({ focus: document.querySelector("[aria-controls=new-key]") }));
  return panel;
}

// ---------- the one-time plaintext ----------

/** The box that shows a new key's plaintext until Done (or until the view is left). */
function revealBox() {
  const el = h("section", { class: "card key-reveal", hidden: true, "aria-labelledby": "key-reveal-title" });
  const clear = () => {
    const input = el.querySelector("input");
    if (input) input.value = "";
    el.replaceChildren();
    el.hidden = true;
    delete el.dataset.keyId;
  };
  return {
    el,
    clear,
    show(created) {
      const input = h("input", {
        id: "key-plaintext",
        class: "input mono",
        type: "text",
        readonly: true,
        value: created.key,
        autocomplete: "off",
        spellcheck: "false",
        "aria-describedby": "key-reveal-warning",
      });
      const status = h("p", { class: "hint", role: "status" });
      const copy = h("button", { type: "button", class: "btn btn-primary", onclick: () => copyKey(input, status) }, "Copy");
      const done = h("button", { type: "button", class: "btn btn-ghost" }, "Done");
      done.addEventListener("click", () => {
        clear();
        document.querySelector("[aria-controls=new-key]")?.focus();
      });
      replace(
        el,
        h("h2", { id: "key-reveal-title" }, `New key: ${created.name}`),
        h(
          "p",
          { class: "key-warning", id: "key-reveal-warning" },
          h("strong", {}, "Copy it now. "),
          "This is the only time the key is shown: Parley keeps only a hash of it, so it will not be shown again.",
        ),
        h("label", { class: "label", for: "key-plaintext" }, "Your new key"),
        h("div", { class: "key-copy" }, input, copy),
        status,
        done,
      );
      el.dataset.keyId = created.id;
      el.hidden = false;
      input.focus();
      input.select();
    },
  };
}

async function copyKey(input, status) {
  try {
    await navigator.clipboard.writeText(input.value);
    status.textContent = "Copied to the clipboard.";
  } catch {
    // No clipboard access (an insecure origin, or permission refused): select it instead.
    input.focus();
    input.select();
    status.textContent = "Could not copy automatically: the key is selected, press Ctrl+C (⌘C on a Mac).";
  }
}
