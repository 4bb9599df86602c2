// The dashboard shell: hash routing, the sign-in guard, navigation state.

import { clearKey, describeError, getKey, onUnauthorized } from "./api.js";
import { h, replace } from "./dom.js";
import { toast } from "./ui.js";
import * as agentForm from "./views/agent-form.js";
import * as agents from "./views/agents.js";
import * as apiKeys from "./views/keys.js";
import * as knowledge from "./views/knowledge.js";
import * as knowledgeDetail from "./views/knowledge-detail.js";
import * as policies from "./views/policies.js";
import * as policyForm from "./views/policy-form.js";
import * as providers from "./views/providers.js";
import * as replicas from "./views/replicas.js";
import * as sessionDetail from "./views/session-detail.js";
import * as sessions from "./views/sessions.js";
import * as signin from "./views/signin.js";
import * as talk from "./views/talk.js";

const ROUTES = [
  { pattern: /^\/signin$/, view: signin, nav: null, title: "Sign in", open: true },
  { pattern: /^\/agents$/, view: agents, nav: "agents", title: "Agents" },
  { pattern: /^\/agents\/new$/, view: agentForm, nav: "agents", title: "New agent" },
  { pattern: /^\/agents\/([^/]+)$/, view: agentForm, nav: "agents", title: "Edit agent", keys: ["id"] },
  { pattern: /^\/talk(?:\/([^/]+))?$/, view: talk, nav: "talk", title: "Talk", keys: ["id"] },
  { pattern: /^\/sessions$/, view: sessions, nav: "sessions", title: "Sessions" },
  { pattern: /^\/sessions\/([^/]+)$/, view: sessionDetail, nav: "sessions", title: "Session", keys: ["id"] },
  { pattern: /^\/knowledge$/, view: knowledge, nav: "knowledge", title: "Knowledge bases" },
  { pattern: /^\/knowledge\/([^/]+)$/, view: knowledgeDetail, nav: "knowledge", title: "Knowledge base", keys: ["id"] },
  { pattern: /^\/policies$/, view: policies, nav: "policies", title: "Policies" },
  { pattern: /^\/policies\/new$/, view: policyForm, nav: "policies", title: "New policy" },
  { pattern: /^\/policies\/([^/]+)$/, view: policyForm, nav: "policies", title: "Edit policy", keys: ["id"] },
  { pattern: /^\/providers$/, view: providers, nav: "providers", title: "Providers" },
  { pattern: /^\/replicas$/, view: replicas, nav: "replicas", title: "Replicas" },
  { pattern: /^\/keys$/, view: apiKeys, nav: "keys", title: "API keys" },
];

let current = null;
let pendingFocus = null;

/**
 * Go to a hash route, e.g. navigate("#/agents"). `focus` names the id of an element of
 * the next view to focus (e.g. the filter that was just changed) instead of its heading.
 */
export function navigate(hash, { focus = null } = {}) {
  pendingFocus = focus;
  if (location.hash === hash) route();
  else location.hash = hash;
}

function parse(hash) {
  const raw = hash.replace(/^#/, "") || "/";
  const [path, search = ""] = raw.split("?", 2);
  return { path, query: Object.fromEntries(new URLSearchParams(search)) };
}

function updateChrome(signedIn, nav) {
  document.body.classList.toggle("signed-out", !signedIn);
  const key = getKey();
  document.getElementById("key-hint").textContent = key ? `${key.slice(0, 12)}…` : "";
  for (const link of document.querySelectorAll("[data-nav]")) {
    if (link.dataset.nav === nav) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

async function route() {
  const { path, query } = parse(location.hash);
  const signedIn = Boolean(getKey());
  if (path === "/" || path === "") return navigate(signedIn ? "#/agents" : "#/signin");
  const match = ROUTES.map((r) => ({ r, m: r.pattern.exec(path) })).find((x) => x.m);
  if (!match) return showNotFound(path);
  const { r, m } = match;
  if (!r.open && !signedIn) {
    return navigate(`#/signin?next=${encodeURIComponent(location.hash)}`);
  }
  if (r.view === signin && signedIn) return navigate("#/agents");

  current?.controller.abort();
  const controller = new AbortController();
  const params = Object.fromEntries((r.keys ?? []).map((k, i) => [k, m[i + 1] ? decodeURIComponent(m[i + 1]) : null]));
  const root = h("div", { class: "view", dataset: { view: r.nav ?? "signin" } });
  const main = document.getElementById("main");
  replace(main, root);
  current = { controller };
  document.title = `${r.title} · Parley`;
  updateChrome(signedIn, r.nav);
  try {
    await r.view.render({ root, params, query, signal: controller.signal, navigate });
  } catch (error) {
    if (error?.name === "AbortError" || controller.signal.aborted) return;
    replace(root, h("div", { class: "alert alert-error", role: "alert" }, describeError(error)));
  }
  if (controller.signal.aborted) return;
  const wanted = pendingFocus ? document.getElementById(pendingFocus) : null;
  pendingFocus = null;
  const target = wanted ?? root.querySelector("[data-autofocus]") ?? root.querySelector(".page-title");
  target?.focus();
}

function showNotFound(path) {
  current?.controller.abort();
  current = null;
  document.title = "Not found · Parley";
  updateChrome(Boolean(getKey()), null);
  const main = document.getElementById("main");
  replace(
    main,
    h(
      "div",
      { class: "view empty" },
      h("h1", { class: "page-title", tabindex: "-1" }, "Page not found"),
      h("p", { class: "muted" }, `Nothing lives at ${path}.`),
      h("a", { class: "btn btn-primary", href: "#/agents" }, "Go to agents"),
    ),
  );
  main.querySelector("h1").focus();
}

function signOut(message) {
  current?.controller.abort();
  current = null;
  clearKey();
  if (message) toast(message, "error");
  navigate("#/signin");
}

onUnauthorized((error) => signOut(`Signed out: ${error.message}`));
document.getElementById("sign-out").addEventListener("click", () => {
  signOut();
  toast("Signed out. The key was removed from this tab.");
});
window.addEventListener("hashchange", route);
route();
