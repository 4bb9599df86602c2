// The knowledge bases: every one with its document and chunk counts, and a form to create one.

import { api } from "../api.js";
import { input, textarea } from "../controls.js";
import { errorBox, h, loading, pageHeading, replace } from "../dom.js";
import { timeElement } from "../format.js";
import { FormError, field, fieldErrors } from "../forms.js";
import { href, pager, toast } from "../ui.js";

const PAGE = 20;

function plural(n, one) {
  return `${n} ${one}${n === 1 ? "" : "s"}`;
}

export async function render({ root, query, signal, navigate }) {
  const offset = Math.max(0, Number.parseInt(query.offset ?? "0", 10) || 0);
  const count = h("span", { class: "count" });
  const body = h("div", {}, loading("Loading knowledge bases…"));
  root.append(
    h(
      "div",
      { class: "page-head" },
      h(
        "div",
        {},
        pageHeading("Knowledge bases", count),
        h("p", { class: "muted" }, "Document collections agents answer from. Attach one to an agent in its form."),
      ),
    ),
    createForm(navigate),
    body,
  );

  const page = await api("GET", "/v1/knowledge-bases", { query: { limit: PAGE, offset }, signal });
  count.textContent = String(page.total);
  count.setAttribute("aria-label", `${page.total} knowledge bases`);
  if (page.data.length === 0) {
    replace(
      body,
      h(
        "div",
        { class: "card empty" },
        h("h2", {}, offset ? "No more knowledge bases" : "No knowledge bases yet"),
        h("p", { class: "muted" }, "Create one above, then upload files, paste text or add web pages to it."),
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
        { class: "table table-cards table-knowledge", "aria-label": "Knowledge bases" },
        h(
          "thead",
          {},
          h("tr", {}, ["Knowledge base", "Documents", "Chunks", "Updated"].map((c) => h("th", { scope: "col", class: c === "Documents" || c === "Chunks" ? "num" : null }, c))),
        ),
        h("tbody", {}, page.data.map(row)),
      ),
    ),
    pager(page, (o) => href("#/knowledge", { offset: o }), "knowledge bases"),
  );
}

function row(kb) {
  const link = `#/knowledge/${encodeURIComponent(kb.id)}`;
  return h(
    "tr",
    { dataset: { kbId: kb.id } },
    h(
      "td",
      {},
      h("a", { class: "row-title", href: link }, kb.name),
      h("div", { class: "mono subtle" }, kb.id),
      kb.description ? h("div", { class: "small muted kb-desc" }, kb.description) : null,
    ),
    h("td", { class: "num small", dataset: { label: "Documents" } }, plural(kb.document_count ?? 0, "document")),
    h("td", { class: "num small", dataset: { label: "Chunks" } }, plural(kb.chunk_count ?? 0, "chunk")),
    h("td", { class: "small", dataset: { label: "Updated" } }, timeElement(kb.updated_at, h)),
  );
}

/** Name and description; on success, go to the new knowledge base to add documents. */
function createForm(navigate) {
  const errors = errorBox();
  const name = input({ name: "name", maxlength: 200, required: true, autocomplete: "off", placeholder: "Product FAQ", dataset: { autofocus: "" } });
  const description = textarea({ name: "description", rows: 2, maxlength: 2000, placeholder: "Shipping, returns and warranty answers." });
  const button = h("button", { type: "submit", class: "btn btn-primary" }, "Create knowledge base");
  const form = h(
    "form",
    { class: "card kb-create", novalidate: true, "aria-labelledby": "kb-create-title" },
    h("h2", { id: "kb-create-title" }, "New knowledge base"),
    errors.el,
    h(
      "div",
      { class: "grid-2" },
      field({ label: "Name", control: name, param: "name", hint: "Up to 200 characters." }),
      field({ label: "Description", control: description, param: "description", hint: "For you; optional." }),
    ),
    h("div", { class: "form-actions" }, button),
  );
  const marks = fieldErrors(form, errors);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const payload = marks.collect(() => {
      if (!name.value.trim()) throw new FormError("name", "Give the knowledge base a name.");
      return { name: name.value.trim(), description: description.value.trim() };
    });
    if (!payload) return;
    button.disabled = true;
    try {
      const kb = await api("POST", "/v1/knowledge-bases", { body: payload });
      toast(`Created ${kb.name}.`, "success");
      navigate(`#/knowledge/${encodeURIComponent(kb.id)}`);
    } catch (error) {
      marks.apiError(error);
    } finally {
      button.disabled = false;
    }
  });
  return form;
}
