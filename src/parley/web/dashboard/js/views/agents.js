// The agent list: status, pause/resume, delete, and links to edit, talk and sessions.

import { api, describeError, errorCode } from "../api.js";
import { badge, errorBox, h, loading, pageHeading, replace } from "../dom.js";
import { timeElement } from "../format.js";
import { confirmDialog, href, pager, toast } from "../ui.js";

const PAGE = 20;

export async function render({ root, query, signal }) {
  const offset = Math.max(0, Number.parseInt(query.offset ?? "0", 10) || 0);
  const errors = errorBox();
  const count = h("span", { class: "count" });
  const body = h("div", {}, loading("Loading agents…"));
  root.append(
    h(
      "div",
      { class: "page-head" },
      h("div", {}, pageHeading("Agents", count), h("p", { class: "muted" }, "Voice agents on this server.")),
      h("a", { class: "btn btn-primary", href: "#/agents/new" }, "+ New agent"),
    ),
    errors.el,
    body,
  );

  const page = await api("GET", "/v1/agents", { query: { limit: PAGE, offset }, signal });
  count.textContent = String(page.total);
  count.setAttribute("aria-label", `${page.total} agents`);
  if (page.data.length === 0) {
    replace(
      body,
      h(
        "div",
        { class: "card empty" },
        h("h2", {}, offset ? "No more agents" : "No agents yet"),
        h("p", { class: "muted" }, "An agent has a prompt, a voice and turn-taking settings."),
        h("a", { class: "btn btn-primary", href: "#/agents/new" }, "Create your first agent"),
      ),
    );
    return;
  }

  const rows = page.data.map((agent) => row(agent, errors, () => {
    page.total -= 1;
    count.textContent = String(page.total);
  }));
  replace(
    body,
    h(
      "div",
      { class: "card table-card" },
      h(
        "table",
        { class: "table table-cards", "aria-label": "Agents" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            h("th", { scope: "col" }, "Agent"),
            h("th", { scope: "col" }, "Voice"),
            h("th", { scope: "col" }, "Status"),
            h("th", { scope: "col" }, "Updated"),
            h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Actions")),
          ),
        ),
        h("tbody", {}, rows),
      ),
    ),
    pager(page, (o) => href("#/agents", { offset: o }), "agents"),
  );
}

function row(agent, errors, onDeleted) {
  const tr = h("tr", { dataset: { agentId: agent.id } });
  const fill = () => {
    const paused = agent.status === "paused";
    replace(
      tr,
      h(
        "td",
        {},
        h("a", { class: "row-title", href: `#/agents/${encodeURIComponent(agent.id)}` }, agent.name),
        h("div", { class: "mono subtle" }, agent.id),
      ),
      h("td", { class: "mono small", dataset: { label: "Voice" } }, agent.voice_id),
      h("td", { dataset: { label: "Status" } }, badge(agent.status)),
      h("td", { class: "small", dataset: { label: "Updated" } }, timeElement(agent.updated_at, h)),
      h(
        "td",
        { class: "row-actions" },
        paused
          ? h("span", { class: "btn btn-small btn-ghost", "aria-disabled": "true", title: "Resume the agent to talk to it" }, "Talk")
          : h("a", { class: "btn btn-small btn-soft", href: `#/talk/${encodeURIComponent(agent.id)}`, "aria-label": `Talk to ${agent.name}` }, "Talk"),
        h("a", { class: "btn btn-small btn-ghost", href: `#/agents/${encodeURIComponent(agent.id)}`, "aria-label": `Edit ${agent.name}` }, "Edit"),
        h("a", { class: "btn btn-small btn-ghost", href: href("#/sessions", { agent: agent.id }), "aria-label": `Sessions of ${agent.name}` }, "Sessions"),
        h("button", { type: "button", class: "btn btn-small btn-ghost", onclick: toggle, "aria-label": `${paused ? "Resume" : "Pause"} ${agent.name}` }, paused ? "Resume" : "Pause"),
        h("button", { type: "button", class: "btn btn-small btn-ghost btn-danger-text", onclick: remove, "aria-label": `Delete ${agent.name}` }, "Delete"),
      ),
    );
  };

  async function toggle(event) {
    const button = event.currentTarget;
    const status = agent.status === "paused" ? "active" : "paused";
    button.disabled = true;
    errors.clear();
    try {
      Object.assign(agent, await api("PATCH", `/v1/agents/${encodeURIComponent(agent.id)}`, { body: { status } }));
      fill();
      toast(`${agent.name} ${status === "paused" ? "paused: it takes no new conversations" : "resumed"}.`);
      tr.querySelector(`button[aria-label^="${status === "paused" ? "Resume" : "Pause"}"]`)?.focus();
    } catch (error) {
      errors.show(describeError(error), errorCode(error));
      button.disabled = false;
    }
  }

  async function remove() {
    const ok = await confirmDialog({
      title: `Delete ${agent.name}?`,
      message: "The agent is deleted for good, and any live conversation with it ends now.",
      confirmLabel: "Delete agent",
      danger: true,
    });
    if (!ok) return;
    errors.clear();
    try {
      const result = await api("DELETE", `/v1/agents/${encodeURIComponent(agent.id)}`);
      const next = tr.nextElementSibling ?? tr.previousElementSibling;
      tr.remove();
      onDeleted();
      const ended = result.sessions_ended ? ` ${result.sessions_ended} live session(s) ended.` : "";
      toast(`Deleted ${agent.name}.${ended}`);
      (next?.querySelector("a") ?? document.querySelector(".page-title"))?.focus();
    } catch (error) {
      errors.show(describeError(error), errorCode(error));
    }
  }

  fill();
  return tr;
}
