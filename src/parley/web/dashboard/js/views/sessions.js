// Session history of one agent, filtered by status, newest first.

import { api } from "../api.js";
import { badge, h, loading, pageHeading, replace } from "../dom.js";
import { listAllAgents } from "../data.js";
import { END_REASONS, formatDuration, timeElement } from "../format.js";
import { href, pager } from "../ui.js";

const PAGE = 20;
const STATUSES = [
  ["", "Any status"],
  ["active", "Active"],
  ["ended", "Ended"],
  ["expired", "Expired"],
];

export async function render({ root, query, signal, navigate }) {
  root.append(loading("Loading sessions…"));
  const agents = await listAllAgents(signal);
  const heading = pageHeading("Sessions");
  if (agents.length === 0) {
    replace(
      root,
      h("div", { class: "page-head" }, heading),
      h("div", { class: "card empty" }, h("h2", {}, "No agents yet"), h("p", { class: "muted" }, "Sessions belong to agents. Create one and talk to it."), h("a", { class: "btn btn-primary", href: "#/agents/new" }, "New agent")),
    );
    return;
  }
  const agent = agents.find((a) => a.id === query.agent) ?? agents[0];
  const status = STATUSES.some(([v]) => v === query.status) ? query.status ?? "" : "";
  const offset = Math.max(0, Number.parseInt(query.offset ?? "0", 10) || 0);

  const agentSelect = h(
    "select",
    { id: "filter-agent", name: "agent", class: "input" },
    agents.map((a) => h("option", { value: a.id, selected: a.id === agent.id }, `${a.name} (${a.id})`)),
  );
  const statusSelect = h(
    "select",
    { id: "filter-status", name: "status", class: "input" },
    STATUSES.map(([v, label]) => h("option", { value: v, selected: v === status }, label)),
  );
  const apply = (event) =>
    navigate(href("#/sessions", { agent: agentSelect.value, status: statusSelect.value }), {
      focus: event.target.id ?? null,
    });
  agentSelect.addEventListener("change", apply);
  statusSelect.addEventListener("change", apply);
  const filters = h(
    "form",
    { class: "filters card", role: "search", "aria-label": "Filter sessions", onsubmit: (e) => (e.preventDefault(), apply(e)) },
    h("div", { class: "field" }, h("label", { class: "label", for: "filter-agent" }, "Agent"), agentSelect),
    h("div", { class: "field" }, h("label", { class: "label", for: "filter-status" }, "Status"), statusSelect),
    h("noscript", {}, h("button", { class: "btn", type: "submit" }, "Apply")),
  );
  const body = h("div", {}, loading("Loading sessions…"));
  const count = h("span", { class: "count" });
  heading.append(count);
  const live = h("p", { class: "muted", id: "live-load" });
  api("GET", "/healthz", { signal })
    .then((health) => {
      const n = health.active_sessions;
      live.textContent = health.capacity
        ? `Live on this server: ${n} of ${health.capacity} conversations (more are refused until one ends).`
        : `Live on this server: ${n} conversations (no capacity limit).`;
    })
    .catch(() => {});
  replace(
    root,
    h("div", { class: "page-head" }, h("div", {}, heading, h("p", { class: "muted" }, "Every conversation with its transcript, latency and recording."), live)),
    filters,
    body,
  );

  const page = await api("GET", `/v1/agents/${encodeURIComponent(agent.id)}/sessions`, {
    query: { limit: PAGE, offset, status: status || undefined },
    signal,
  });
  count.textContent = String(page.total);
  count.setAttribute("aria-label", `${page.total} sessions`);
  if (page.data.length === 0) {
    replace(
      body,
      h(
        "div",
        { class: "card empty" },
        h("h2", {}, "No sessions"),
        h("p", { class: "muted" }, status ? `${agent.name} has no ${status} sessions.` : `Nobody has talked to ${agent.name} yet.`),
        agent.status === "active" ? h("a", { class: "btn btn-primary", href: `#/talk/${encodeURIComponent(agent.id)}` }, `Talk to ${agent.name}`) : null,
      ),
    );
    return;
  }
  replace(
    body,
    h(
      "div",
      { class: "card table-card" },
      h(
        "table",
        { class: "table table-cards", "aria-label": `Sessions of ${agent.name}` },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            h("th", { scope: "col" }, "Session"),
            h("th", { scope: "col" }, "Status"),
            h("th", { scope: "col" }, "Started"),
            h("th", { scope: "col" }, "Duration"),
            h("th", { scope: "col" }, "End reason"),
          ),
        ),
        h(
          "tbody",
          {},
          page.data.map((s) =>
            h(
              "tr",
              { dataset: { sessionId: s.session_id } },
              h("td", {}, h("a", { class: "mono row-title", href: `#/sessions/${encodeURIComponent(s.session_id)}` }, s.session_id)),
              h("td", { dataset: { label: "Status" } }, badge(s.status)),
              h("td", { class: "small", dataset: { label: "Started" } }, timeElement(s.connected_at ?? s.created_at, h)),
              h("td", { class: "small num", dataset: { label: "Duration" } }, formatDuration(s.connected_at, s.ended_at)),
              h("td", { class: "small", dataset: { label: "End reason" } }, s.end_reason ? END_REASONS[s.end_reason] ?? s.end_reason : "—"),
            ),
          ),
        ),
      ),
    ),
    pager(page, (o) => href("#/sessions", { agent: agent.id, status, offset: o }), "sessions"),
  );
}
