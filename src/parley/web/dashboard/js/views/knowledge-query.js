// A knowledge base's query box: what retrieval returns for a question, with scores and time.

import { api } from "../api.js";
import { input, numberInput } from "../controls.js";
import { errorBox, h, replace } from "../dom.js";
import { FormError, field, fieldErrors } from "../forms.js";
import { formatMs } from "../format.js";

/** The query form for the knowledge base at `base` (its API path), with its results below. */
export function queryBox(base, signal) {
  const errors = errorBox();
  const question = input({ type: "search", name: "query", maxlength: 1000, autocomplete: "off", dataset: { param: "query" }, placeholder: "How long do refunds take?" });
  const k = numberInput({ name: "k", min: 1, max: 50, step: 1, value: "5", class: "input input-short", dataset: { param: "k" } });
  const button = h("button", { type: "submit", class: "btn btn-primary" }, "Search");
  const summary = h("p", { class: "muted kb-took", role: "status" });
  const results = h("ol", { class: "kb-results", "aria-label": "Search results" });
  results.hidden = true;
  const form = h(
    "form",
    { class: "kb-query", novalidate: true, role: "search", "aria-label": "Query this knowledge base" },
    errors.el,
    h(
      "div",
      { class: "kb-query-row" },
      field({ label: "Question", control: question, hint: "Searched as a caller's turn is: full-text and meaning, fused." }),
      field({ label: "Passages", control: k, hint: "1–50." }),
      button,
    ),
  );
  const marks = fieldErrors(form, errors);

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = marks.collect(() => {
      if (!question.value.trim()) throw new FormError("query", "Type a question.");
      if (k.validity.badInput) throw new FormError("k", "Enter a number.");
      return { query: question.value.trim(), k: k.value === "" ? 5 : Number(k.value) };
    });
    if (!body) return;
    button.disabled = true;
    summary.textContent = "Searching…";
    try {
      const answer = await api("POST", `${base}/query`, { body, signal });
      const found = answer.data ?? [];
      const count = found.length === 1 ? "1 passage" : `${found.length} passages`;
      summary.textContent = found.length ? `${count} in ${formatMs(answer.took_ms)}.` : `Nothing found (${formatMs(answer.took_ms)}).`;
      replace(results, found.map(passage));
      results.hidden = found.length === 0;
    } catch (error) {
      if (error?.name === "AbortError") return;
      summary.textContent = "";
      results.hidden = true;
      marks.apiError(error);
    } finally {
      button.disabled = false;
    }
  });
  return h("div", {}, form, summary, results);
}

function passage(hit) {
  const where = hit.heading ? `${hit.title} › ${hit.heading}` : hit.title;
  return h(
    "li",
    { class: "kb-hit", dataset: { chunkId: String(hit.chunk_id), documentId: hit.document_id } },
    h(
      "div",
      { class: "kb-hit-head" },
      h("strong", { class: "kb-hit-where" }, where || hit.document_id),
      h(
        "span",
        { class: "kb-hit-scores" },
        h("span", { class: "chip chip-accent mono", title: "Fused reciprocal-rank score (higher is better)" }, `score ${Number(hit.score).toFixed(4)}`),
        typeof hit.similarity === "number" ? h("span", { class: "chip mono", title: "Cosine similarity of the meaning" }, `similarity ${hit.similarity.toFixed(2)}`) : null,
        hit.text_match ? h("span", { class: "chip chip-success", title: "Full-text search found it too" }, "text match") : null,
      ),
    ),
    h("p", { class: "kb-hit-text" }, hit.text),
  );
}
