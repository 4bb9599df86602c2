// The server's providers (GET /v1/providers), grouped by kind: type, model, base URL,
// whether each is a default and loaded, and whether it can be reached. The API returns
// no secrets (keys stay in the server's environment; base URLs come without user:password@).

import { ApiError, describeError, errorCode } from "../api.js";
import { badge, errorBox, h, loading, pageHeading, replace } from "../dom.js";
import { PROVIDER_KINDS, listProviders } from "../data.js";

const COLUMNS = ["Provider", "Type", "Model", "Base URL", "State", "Reachability"];

const TYPES = {
  local: ["Built in", "Runs in this server"],
  gguf: ["GGUF file", "A local model run in this server by llama.cpp"],
  openai: ["OpenAI-compatible", "A remote server's OpenAI-compatible API"],
};

const timeOfDay = new Intl.DateTimeFormat(undefined, { timeStyle: "medium" });

export async function render({ root, signal }) {
  const errors = errorBox();
  const count = h("span", { class: "count" });
  const checked = h("p", { class: "subtle providers-checked" });
  const announce = h("p", { class: "visually-hidden", role: "status" });
  const refresh = h(
    "button",
    { type: "button", class: "btn btn-soft", id: "providers-refresh" },
    h("span", { "aria-hidden": "true" }, "↻ "),
    "Refresh",
  );
  const body = h("div", {}, loading("Loading providers…"));
  root.append(
    h(
      "div",
      { class: "page-head" },
      h(
        "div",
        {},
        pageHeading("Providers", count),
        h("p", { class: "muted" }, "The models agents listen, think and speak with. Add your own in the server's providers file."),
        checked,
      ),
      h("div", { class: "page-actions" }, refresh),
    ),
    errors.el,
    announce,
    body,
  );

  show(await listProviders(signal));

  refresh.addEventListener("click", async () => {
    refresh.disabled = true;
    refresh.setAttribute("aria-busy", "true");
    errors.clear();
    try {
      const providers = await listProviders(signal);
      show(providers);
      const down = providers.filter((p) => !p.reachable).length;
      announce.textContent = `Checked again: ${providers.length} providers, ${down ? `${down} unreachable` : "all reachable"}.`;
    } catch (error) {
      // A 401 (this tab's key was revoked) signs the tab out in app.js.
      if (signal.aborted || error?.name === "AbortError") return;
      if (error instanceof ApiError && error.status === 401) return;
      errors.show(describeError(error), errorCode(error));
    } finally {
      refresh.disabled = false;
      refresh.removeAttribute("aria-busy");
    }
  });

  function show(providers) {
    const down = providers.filter((p) => !p.reachable);
    count.textContent = String(providers.length);
    count.setAttribute("aria-label", `${providers.length} providers`);
    checked.textContent = `Checked at ${timeOfDay.format(new Date())} · the server asks a remote provider at most every 10 s.`;
    if (providers.length === 0) {
      replace(body, h("div", { class: "card empty" }, h("h2", {}, "No providers"), h("p", { class: "muted" }, "The server reported none.")));
      return;
    }
    replace(body, down.length ? unreachableNotice(down) : null, providerTable(providers));
  }
}

function unreachableNotice(down) {
  const last = down.length - 1;
  const names = down.map((p, i) => [i === 0 ? "" : i === last ? " or " : ", ", h("span", { class: "mono" }, p.name)]);
  return h(
    "div",
    { class: "alert alert-warn providers-down" },
    h("strong", {}, down.length === 1 ? "1 provider cannot be reached" : `${down.length} providers cannot be reached`),
    h("span", {}, "Agents that use ", names, " fail their turns, with a message naming the provider, until its server answers again."),
  );
}

/** The kinds present, in pipeline order, then any kind this dashboard does not know. */
function groups(providers) {
  const known = PROVIDER_KINDS.map(([kind]) => kind);
  const extra = [...new Set(providers.map((p) => p.kind))].filter((k) => !known.includes(k)).sort();
  const label = Object.fromEntries(PROVIDER_KINDS);
  return [...known, ...extra]
    .map((kind) => ({ kind, label: label[kind] ?? kind, items: providers.filter((p) => p.kind === kind) }))
    .filter((g) => g.items.length);
}

function providerTable(providers) {
  return h(
    "div",
    { class: "card table-card" },
    h(
      "table",
      { class: "table table-cards table-providers", "aria-label": "Providers" },
      h("thead", {}, h("tr", {}, COLUMNS.map((c) => h("th", { scope: "col" }, c)))),
      groups(providers).map(({ kind, label, items }) =>
        h(
          "tbody",
          { dataset: { kind } },
          h(
            "tr",
            { class: "group-row" },
            h("th", { scope: "colgroup", colspan: COLUMNS.length }, label, " ", h("span", { class: "group-kind mono" }, kind)),
          ),
          items.map(providerRow),
        ),
      ),
    ),
  );
}

function providerRow(p) {
  const [typeText, typeTitle] = TYPES[p.type] ?? [p.type, null];
  return h(
    "tr",
    { class: p.reachable ? null : "provider-down", dataset: { provider: p.name } },
    h("td", {}, h("span", { class: "row-title mono" }, p.name)),
    h("td", { class: "small provider-type", dataset: { label: "Type" } }, h("span", { title: typeTitle }, typeText)),
    h("td", { class: "small", dataset: { label: "Model" } }, p.model || h("span", { class: "subtle" }, "—")),
    h(
      "td",
      { class: "small", dataset: { label: "Base URL" } },
      p.base_url ? h("span", { class: "mono provider-url" }, breakable(p.base_url)) : h("span", { class: "subtle", title: "Runs in this server" }, "In this server"),
    ),
    h(
      "td",
      { class: "small provider-state", dataset: { label: "State" } },
      p.default ? h("span", { class: "chip chip-accent", title: `Used by agents that name no ${p.kind} provider` }, "default") : null,
      p.loaded
        ? h("span", { class: "chip chip-success", title: "Loaded in this server (remote: its client is ready)" }, "loaded")
        : h("span", { class: "chip", title: "Loaded when an agent first uses it" }, "not loaded"),
    ),
    h(
      "td",
      { dataset: { label: "Reachability" } },
      p.reachable ? badge("reachable") : badge("unreachable"),
    ),
  );
}

/** A URL as text with line-break opportunities before each "/" (after the scheme's "//"). */
function breakable(url) {
  return url.split(/(?<![/:])(?=\/(?!\/))/).flatMap((part, i) => (i ? [h("wbr"), part] : [part]));
}
