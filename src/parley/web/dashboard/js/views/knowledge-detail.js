// One knowledge base: its name and description, its documents (polled while any is being
// processed), the forms that add documents, a query box, and deleting it.

import { api, describeError, errorCode } from "../api.js";
import { input, textarea } from "../controls.js";
import { badge, errorBox, h, loading, pageHeading, replace } from "../dom.js";
import { timeElement } from "../format.js";
import { FormError, field, fieldErrors } from "../forms.js";
import { confirmDialog, toast } from "../ui.js";
import { addDocumentForms } from "./knowledge-documents.js";
import { queryBox } from "./knowledge-query.js";

const POLL_MS = 1000;
const DOC_PAGE = 100;
const SOURCES = { upload: "File", text: "Text", url: "Web page" };

function plural(n, one) {
  return `${n} ${one}${n === 1 ? "" : "s"}`;
}

/** "12.3 KB" */
function formatBytes(n) {
  if (typeof n !== "number") return "—";
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

function docName(doc) {
  return doc.title || doc.filename || doc.url || doc.id;
}

export async function render({ root, params, signal, navigate }) {
  root.append(loading("Loading knowledge base…"));
  const base = `/v1/knowledge-bases/${encodeURIComponent(params.id)}`;
  const fetchDocs = () => api("GET", `${base}/documents`, { query: { limit: DOC_PAGE }, signal });
  let [kb, page] = await Promise.all([api("GET", base, { signal }), fetchDocs()]);
  const errors = errorBox();
  const title = pageHeading(kb.name);
  title.id = "kb-title";
  const counts = h("p", { class: "muted", id: "kb-counts" });
  const showCounts = () => {
    counts.textContent = `${plural(kb.document_count ?? 0, "document")}, ${plural(kb.chunk_count ?? 0, "chunk")}.`;
  };
  showCounts();
  const announce = h("p", { class: "visually-hidden", role: "status", "aria-live": "polite" });

  // Documents: one row per document, replaced in place when it changes.
  const rows = new Map();
  const tbody = h("tbody");
  const more = h("p", { class: "muted small" });
  const none = h("p", { class: "muted", id: "kb-no-docs" }, "No documents yet. Add one below.");
  const table = h(
    "div",
    { class: "table-scroll" },
    h(
      "table",
      { class: "table table-cards table-docs", "aria-label": "Documents" },
      h("thead", {}, h("tr", {}, ["Document", "Source", "Status", "Chunks", "Size", "Added"].map((c) => h("th", { scope: "col", class: c === "Chunks" || c === "Size" ? "num" : null }, c)), h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Actions")))),
      tbody,
    ),
  );
  const stamp = (doc) => `${doc.status}|${doc.chunk_count}|${doc.updated_at}|${doc.title}`;
  const sync = (docs) => {
    const seen = new Set();
    for (const doc of docs) {
      seen.add(doc.id);
      const old = rows.get(doc.id);
      if (old && old.dataset.stamp === stamp(doc)) {
        tbody.append(old);
        continue;
      }
      if (old && old.dataset.status === "processing" && doc.status !== "processing") {
        announce.textContent = doc.status === "ready" ? `${docName(doc)} is ready: ${plural(doc.chunk_count ?? 0, "chunk")}.` : `${docName(doc)} failed: ${doc.error ?? "no reason given"}.`;
      }
      const tr = docRow(doc, removeDoc);
      if (old) old.replaceWith(tr);
      rows.set(doc.id, tr);
      tbody.append(tr);
    }
    for (const [id, tr] of rows) {
      if (!seen.has(id)) {
        tr.remove();
        rows.delete(id);
      }
    }
    none.hidden = docs.length > 0;
    table.hidden = docs.length === 0;
    more.textContent = page.has_more ? `The newest ${docs.length} of ${page.total} documents.` : "";
  };

  // Poll while a document is processing; stop when the page is left.
  let timer = null;
  const schedule = () => {
    if (timer !== null || signal.aborted) return;
    if (!page.data.some((d) => d.status === "processing")) return;
    timer = setTimeout(poll, POLL_MS);
  };
  async function poll() {
    timer = null;
    try {
      [kb, page] = await Promise.all([api("GET", base, { signal }), fetchDocs()]);
      showCounts();
      sync(page.data);
    } catch (error) {
      if (signal.aborted || error?.name === "AbortError") return;
      errors.show(`Could not refresh the documents: ${describeError(error)}`, errorCode(error));
    }
    schedule();
  }
  signal.addEventListener("abort", () => clearTimeout(timer));

  async function refreshCounts() {
    kb = await api("GET", base, { signal });
    showCounts();
  }

  async function removeDoc(doc, tr) {
    const ok = await confirmDialog({
      title: `Delete ${docName(doc)}?`,
      message: "The document and its passages are removed from the knowledge base for good.",
      confirmLabel: "Delete document",
      danger: true,
    });
    if (!ok) return;
    errors.clear();
    try {
      await api("DELETE", `${base}/documents/${encodeURIComponent(doc.id)}`);
      const next = tr.nextElementSibling ?? tr.previousElementSibling;
      page.data = page.data.filter((d) => d.id !== doc.id);
      page.total -= 1;
      sync(page.data);
      toast(`Deleted ${docName(doc)}.`);
      (next?.querySelector("button") ?? title).focus();
      await refreshCounts();
    } catch (error) {
      if (error?.name === "AbortError") return;
      errors.show(describeError(error), errorCode(error));
    }
  }

  const added = (doc) => {
    page.data = [doc, ...page.data.filter((d) => d.id !== doc.id)];
    page.total += 1;
    sync(page.data);
    schedule();
  };

  async function removeKb() {
    const ok = await confirmDialog({
      title: `Delete ${kb.name}?`,
      message: "The knowledge base and all its documents are deleted for good. One that agents use cannot be deleted: detach it from them first.",
      confirmLabel: "Delete knowledge base",
      danger: true,
    });
    if (!ok) return;
    errors.clear();
    try {
      await api("DELETE", base);
      toast(`Deleted ${kb.name}.`);
      navigate("#/knowledge");
    } catch (error) {
      // 409 while agents use it: the API's message names them.
      errors.show(describeError(error), errorCode(error));
      errors.el.scrollIntoView({ block: "nearest" });
    }
  }

  replace(
    root,
    h(
      "div",
      { class: "page-head" },
      h(
        "div",
        {},
        h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("a", { href: "#/knowledge" }, "Knowledge bases"), " / ", h("span", { class: "mono" }, kb.id)),
        title,
        counts,
      ),
      h("div", { class: "page-actions" }, h("button", { type: "button", class: "btn btn-danger-outline", onclick: removeKb }, "Delete knowledge base")),
    ),
    errors.el,
    announce,
    h("section", { class: "card kb-docs-card", "aria-labelledby": "kb-docs" }, h("h2", { id: "kb-docs" }, "Documents"), none, table, more),
    h(
      "div",
      { class: "detail-grid" },
      h(
        "div",
        { class: "detail-main" },
        h("section", { class: "card", "aria-labelledby": "kb-add" }, h("h2", { id: "kb-add" }, "Add documents"), addDocumentForms(base, added, signal)),
        h("section", { class: "card", "aria-labelledby": "kb-query" }, h("h2", { id: "kb-query" }, "Try a query"), queryBox(base, signal)),
      ),
      h("div", { class: "detail-side" }, h("section", { class: "card", "aria-labelledby": "kb-details" }, h("h2", { id: "kb-details" }, "Details"), detailsForm(kb, base, (saved) => {
        kb = saved;
        title.textContent = saved.name;
        document.title = `${saved.name} · Parley`;
      }))),
    ),
  );
  document.title = `${kb.name} · Parley`;
  sync(page.data);
  schedule();
}

function statusCell(doc) {
  return h(
    "td",
    { class: "small", dataset: { label: "Status" } },
    badge(doc.status, `doc-${doc.status}`),
    doc.status === "failed" && doc.error ? h("div", { class: "doc-error" }, doc.error) : null,
  );
}

function docRow(doc, onDelete) {
  const name = docName(doc);
  const origin = doc.source === "url" ? doc.url : doc.source === "upload" ? doc.filename : null;
  const tr = h(
    "tr",
    { dataset: { docId: doc.id, status: doc.status, stamp: `${doc.status}|${doc.chunk_count}|${doc.updated_at}|${doc.title}` } },
    h(
      "td",
      {},
      h("span", { class: "row-title" }, name),
      origin && origin !== name ? h("div", { class: "small muted doc-origin" }, origin) : null,
      h("div", { class: "mono subtle" }, doc.id),
    ),
    h("td", { class: "small", dataset: { label: "Source" } }, SOURCES[doc.source] ?? doc.source),
    statusCell(doc),
    h("td", { class: "num small", dataset: { label: "Chunks" } }, doc.status === "ready" ? String(doc.chunk_count ?? 0) : "—"),
    h("td", { class: "num small", dataset: { label: "Size" } }, formatBytes(doc.size_bytes)),
    h("td", { class: "small", dataset: { label: "Added" } }, timeElement(doc.created_at, h)),
    h("td", { class: "row-actions" }, h("button", { type: "button", class: "btn btn-small btn-ghost btn-danger-text", "aria-label": `Delete ${name}`, onclick: () => onDelete(doc, tr) }, "Delete")),
  );
  return tr;
}

/** Rename and describe the knowledge base (PATCH). */
function detailsForm(kb, base, onSaved) {
  const errors = errorBox();
  const name = input({ name: "name", maxlength: 200, required: true, value: kb.name, autocomplete: "off" });
  const description = textarea({ name: "description", rows: 3, maxlength: 2000, value: kb.description ?? "" });
  const button = h("button", { type: "submit", class: "btn btn-primary" }, "Save changes");
  const form = h(
    "form",
    { class: "kb-details", novalidate: true, "aria-labelledby": "kb-details" },
    errors.el,
    field({ label: "Name", control: name, param: "name" }),
    field({ label: "Description", control: description, param: "description", hint: "For you; agents never see it." }),
    h("dl", { class: "summary" }, h("div", { class: "summary-item" }, h("dt", {}, "Created"), h("dd", {}, timeElement(kb.created_at, h)))),
    h("div", { class: "form-actions" }, button),
  );
  const marks = fieldErrors(form, errors);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = marks.collect(() => {
      if (!name.value.trim()) throw new FormError("name", "Give the knowledge base a name.");
      return { name: name.value.trim(), description: description.value.trim() };
    });
    if (!body) return;
    button.disabled = true;
    try {
      const saved = await api("PATCH", base, { body });
      toast(`Saved ${saved.name}.`, "success");
      onSaved(saved);
    } catch (error) {
      marks.apiError(error);
    } finally {
      button.disabled = false;
    }
  });
  return form;
}
