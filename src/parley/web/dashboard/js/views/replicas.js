// The replicas serving this deployment (GET /v1/cluster, admin keys only): whether they share
// state through Redis, the lease time and resume window, and each replica's live
// conversations, state and heartbeat. Refreshes every 5 s while the page is open.

import { ApiError, api, describeError, errorCode } from "../api.js";
import { badge, errorBox, h, loading, pageHeading, replace } from "../dom.js";
import { timeElement } from "../format.js";
import { adminKeyNeeded, isNotAdmin } from "../ui.js";

const COLUMNS = ["Replica", "Conversations", "State", "Started", "Last heartbeat"];
const REFRESH_MS = 5000;

const timeOfDay = new Intl.DateTimeFormat(undefined, { timeStyle: "medium" });

export async function render({ root, signal }) {
  const errors = errorBox();
  const count = h("span", { class: "count" });
  const checked = h("p", { class: "subtle replicas-checked" });
  const announce = h("p", { class: "visually-hidden", role: "status" });
  const refresh = h(
    "button",
    { type: "button", class: "btn btn-soft", id: "replicas-refresh" },
    h("span", { "aria-hidden": "true" }, "↻ "),
    "Refresh",
  );
  const body = h("div", {}, loading("Loading replicas…"));
  root.append(
    h(
      "div",
      { class: "page-head" },
      h(
        "div",
        {},
        pageHeading("Replicas", count),
        h("p", { class: "muted" }, "The servers holding conversations. A conversation whose replica stops is resumed on another one."),
        checked,
      ),
      h("div", { class: "page-actions" }, refresh),
    ),
    errors.el,
    announce,
    body,
  );

  let shown = false;
  let lastError = null;
  let asked = 0;
  let timer = null;
  let halted = false;

  /**
   * Ask the server; show the answer or the error. Answers to older requests are dropped; an
   * error the page already shows is shown again only when `clicked` (the Refresh button).
   */
  async function load({ clicked = false } = {}) {
    const mine = (asked += 1);
    try {
      const cluster = await api("GET", "/v1/cluster", { signal });
      if (mine !== asked) return null;
      lastError = null;
      errors.clear();
      show(cluster);
      return cluster;
    } catch (error) {
      if (signal.aborted || error?.name === "AbortError" || mine !== asked) return null;
      // A 401 (this tab's key was revoked) signs the tab out in app.js.
      if (error instanceof ApiError && error.status === 401) return null;
      if (isNotAdmin(error)) {
        halted = true;
        stop();
        refresh.hidden = true;
        replace(body, adminKeyNeeded(error, "Seeing replicas needs an admin key", "list the replicas"));
        return null;
      }
      // Shown again only when it changes, so that it is not announced every 5 s.
      const said = `${describeError(error)} ${errorCode(error)}`;
      if (said === lastError && !clicked) return null;
      lastError = said;
      if (shown) errors.show(`Could not refresh the replicas: ${describeError(error)}`, errorCode(error));
      else replace(body, failed(error));
      return null;
    }
  }

  function schedule() {
    if (timer !== null || halted || signal.aborted) return;
    timer = setTimeout(async () => {
      timer = null;
      // A hidden tab asks nothing; it catches up when it is shown again.
      if (!document.hidden) await load();
      schedule();
    }, REFRESH_MS);
  }

  function stop() {
    clearTimeout(timer);
    timer = null;
  }

  signal.addEventListener("abort", stop);

  refresh.addEventListener("click", async () => {
    refresh.disabled = true;
    refresh.setAttribute("aria-busy", "true");
    try {
      const cluster = await load({ clicked: true });
      if (cluster) announce.textContent = `Checked again: ${plural(cluster.replicas.length, "replica")}.`;
    } finally {
      refresh.disabled = false;
      refresh.removeAttribute("aria-busy");
    }
  });

  await load();
  schedule();

  function show(cluster) {
    shown = true;
    const replicas = [...cluster.replicas].sort((a, b) => a.replica_id.localeCompare(b.replica_id));
    count.textContent = String(replicas.length);
    count.setAttribute("aria-label", plural(replicas.length, "replica"));
    checked.textContent = `Checked at ${timeOfDay.format(new Date())} · refreshed every ${REFRESH_MS / 1000} s while this page is open.`;
    replace(body, overview(cluster, replicas.length), replicaTable(replicas, cluster.replica_id));
  }
}

function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function seconds(value) {
  return `${Number(value)} s`;
}

/** How the replicas share state, the lease time, the resume window and who answered. */
function overview(cluster, n) {
  const shared = cluster.shared ?? cluster.redis ?? false;
  const fact = (term, value, title = null) =>
    h("div", { class: "summary-item" }, h("dt", {}, term), h("dd", { title }, value));
  return h(
    "section",
    { class: "card replicas-overview", "aria-label": "Cluster" },
    h(
      "p",
      { class: "replicas-mode", id: "replicas-mode" },
      shared ? `Shared through Redis: ${plural(n, "replica")}` : "One replica (no Redis): this server only",
    ),
    h(
      "dl",
      { class: "summary replicas-facts" },
      fact("Answered by", h("span", { class: "mono", id: "replicas-answered-by" }, cluster.replica_id)),
      fact("Lease", seconds(cluster.lease_s), "A replica that stops renewing its lease for this long is taken for dead; its conversations end and may be resumed elsewhere."),
      fact("Resume window", seconds(cluster.resume_window_s), "How long a client whose connection dropped may come back to its conversation."),
    ),
  );
}

function replicaTable(replicas, answeredBy) {
  if (replicas.length === 0) {
    return h("div", { class: "card empty" }, h("h2", {}, "No replicas"), h("p", { class: "muted" }, "No replica holds a current lease."));
  }
  return h(
    "div",
    { class: "card table-card" },
    h(
      "table",
      { class: "table table-cards table-replicas", "aria-label": "Replicas" },
      h("thead", {}, h("tr", {}, COLUMNS.map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, replicas.map((r) => replicaRow(r, r.replica_id === answeredBy))),
    ),
  );
}

function replicaRow(r, self) {
  const load = r.capacity === null || r.capacity === undefined ? String(r.live_sessions) : `${r.live_sessions} of ${r.capacity}`;
  return h(
    "tr",
    { class: r.draining ? "replica-draining" : null, dataset: { replica: r.replica_id } },
    h(
      "td",
      {},
      h("span", { class: "row-title mono" }, r.replica_id),
      self ? [" ", h("span", { class: "chip chip-accent", title: "The replica that answered this page" }, "this server")] : null,
    ),
    h(
      "td",
      { class: "num replica-load", dataset: { label: "Conversations" }, title: r.capacity ? `${r.live_sessions} live conversations, at most ${r.capacity}` : "No capacity limit" },
      load,
    ),
    h(
      "td",
      { dataset: { label: "State" } },
      r.draining
        ? h("span", { title: "Finishing its conversations before it stops: new ones go to other replicas" }, badge("draining"))
        : badge("serving"),
    ),
    h("td", { class: "small", dataset: { label: "Started" } }, timeElement(r.started_at, h)),
    h("td", { class: "small", dataset: { label: "Last heartbeat" } }, timeElement(r.heartbeat_at, h)),
  );
}

/** The first answer was an error, e.g. 503 when Redis does not answer. */
function failed(error) {
  const storeDown = error instanceof ApiError && error.status === 503;
  return h(
    "div",
    { class: "alert alert-error replicas-error", role: "alert" },
    h("strong", {}, storeDown ? "The replicas cannot be listed: the shared store (Redis) did not answer" : "The replicas cannot be listed"),
    h("span", {}, describeError(error)),
    h("span", { class: "alert-detail" }, errorCode(error)),
    h("span", {}, `This page asks again every ${REFRESH_MS / 1000} s.`),
  );
}
