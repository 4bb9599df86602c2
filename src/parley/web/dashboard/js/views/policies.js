// The content policies: what they block, redact and judge; create, edit and delete them.

import { api, describeError, errorCode } from "../api.js";
import { errorBox, h, loading, pageHeading, replace } from "../dom.js";
import { timeElement } from "../format.js";
import { confirmDialog, href, pager, toast } from "../ui.js";

const PAGE = 20;

export async function render({ root, query, signal }) {
  const offset = Math.max(0, Number.parseInt(query.offset ?? "0", 10) || 0);
  const errors = errorBox();
  const count = h("span", { class: "count" });
  const body = h("div", {}, loading("Loading policies…"));
  root.append(
    h(
      "div",
      { class: "page-head" },
      h(
        "div",
        {},
        pageHeading("Policies", count),
        h("p", { class: "muted" }, "Content policies: terms agents never say, personal data to redact, rules a model judges."),
      ),
      h("a", { class: "btn btn-primary", href: "#/policies/new" }, "+ New policy"),
    ),
    errors.el,
    body,
  );

  const page = await api("GET", "/v1/policies", { query: { limit: PAGE, offset }, signal });
  count.textContent = String(page.total);
  count.setAttribute("aria-label", `${page.total} policies`);
  if (page.data.length === 0) {
    replace(
      body,
      h(
        "div",
        { class: "card empty" },
        h("h2", {}, offset ? "No more policies" : "No policies yet"),
        h("p", { class: "muted" }, "Attach a policy to an agent to block terms, redact personal data and enforce your own rules."),
        h("a", { class: "btn btn-primary", href: "#/policies/new" }, "Create your first policy"),
      ),
    );
    return;
  }

  const rows = page.data.map((policy) =>
    row(policy, errors, () => {
      page.total -= 1;
      count.textContent = String(page.total);
    }),
  );
  replace(
    body,
    h(
      "div",
      { class: "card table-card" },
      h(
        "table",
        { class: "table table-cards table-policies", "aria-label": "Policies" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ["Policy", "Blocked terms", "Personal data", "Criteria", "Updated"].map((c) => h("th", { scope: "col" }, c)),
            h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Actions")),
          ),
        ),
        h("tbody", {}, rows),
      ),
    ),
    pager(page, (o) => href("#/policies", { offset: o }), "policies"),
  );
}

function plural(n, one, many = `${one}s`) {
  return `${n} ${n === 1 ? one : many}`;
}

function row(policy, errors, onDeleted) {
  const link = `#/policies/${encodeURIComponent(policy.id)}`;
  const terms = policy.blocked_terms?.length ?? 0;
  const userTerms = policy.user_blocked_terms?.length ?? 0;
  const entities = policy.pii?.entities ?? [];
  const tr = h(
    "tr",
    { dataset: { policyId: policy.id } },
    h(
      "td",
      {},
      h("a", { class: "row-title", href: link }, policy.name),
      h("div", { class: "mono subtle" }, policy.id),
      policy.description ? h("div", { class: "small muted policy-desc" }, policy.description) : null,
    ),
    h(
      "td",
      { class: "small", dataset: { label: "Blocked terms" } },
      plural(terms, "term"),
      userTerms ? h("div", { class: "subtle" }, `+ ${userTerms} from callers`) : null,
    ),
    h(
      "td",
      { class: "small", dataset: { label: "Personal data" } },
      entities.length
        ? h("span", { class: "entity-list" }, entities.map((e) => h("span", { class: "chip mono" }, e)))
        : h("span", { class: "subtle" }, "None"),
    ),
    h("td", { class: "small", dataset: { label: "Criteria" } }, plural(policy.criteria?.length ?? 0, "criterion", "criteria")),
    h("td", { class: "small", dataset: { label: "Updated" } }, timeElement(policy.updated_at, h)),
    h(
      "td",
      { class: "row-actions" },
      h("a", { class: "btn btn-small btn-ghost", href: link, "aria-label": `Edit ${policy.name}` }, "Edit"),
      h("button", { type: "button", class: "btn btn-small btn-ghost btn-danger-text", onclick: remove, "aria-label": `Delete ${policy.name}` }, "Delete"),
    ),
  );

  async function remove() {
    const ok = await confirmDialog({
      title: `Delete ${policy.name}?`,
      message: "The policy is deleted for good. A policy that agents use cannot be deleted: detach it from them first.",
      confirmLabel: "Delete policy",
      danger: true,
    });
    if (!ok) return;
    errors.clear();
    try {
      await api("DELETE", `/v1/policies/${encodeURIComponent(policy.id)}`);
      const next = tr.nextElementSibling ?? tr.previousElementSibling;
      tr.remove();
      onDeleted();
      toast(`Deleted ${policy.name}.`);
      (next?.querySelector("a") ?? document.querySelector(".page-title"))?.focus();
    } catch (error) {
      // 409 while agents use it: the API's message names them.
      errors.show(describeError(error), errorCode(error));
      errors.el.scrollIntoView({ block: "nearest" });
    }
  }

  return tr;
}
