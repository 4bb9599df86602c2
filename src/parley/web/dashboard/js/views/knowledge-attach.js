// The agent form's knowledge part: the knowledge bases it answers from, and web search.

import { checks } from "../controls.js";
import { h } from "../dom.js";

/** Every knowledge base (100 at a time), for the agent form's checkboxes. */
export async function listKnowledgeBases(api, signal) {
  const bases = [];
  for (let offset = 0; offset < 1000; offset += 100) {
    const page = await api("GET", "/v1/knowledge-bases", { query: { limit: 100, offset }, signal });
    bases.push(...page.data);
    if (!page.has_more) break;
  }
  return bases;
}

function plural(n, one) {
  return `${n} ${one}${n === 1 ? "" : "s"}`;
}

/**
 * Checkboxes of `bases` (ids in `chosen` checked; a chosen id the server no longer lists
 * stays, marked) and the web search switch. `.el` goes in the form; `.values()` gives
 * `{knowledge_base_ids, web_search}`; `.isWebSearchError(error)` tells whether an API
 * error is about web search even when it names no `param`.
 */
export function knowledgeFields(bases, chosen, webSearchOn, { loadFailed = false } = {}) {
  const known = new Set(bases.map((b) => b.id));
  const options = [
    ...bases.map((b) => [b.id, `${b.name} (${plural(b.document_count ?? 0, "document")})`]),
    ...chosen.filter((id) => !known.has(id)).map((id) => [id, `${id} (not found)`]),
  ];
  const hint = loadFailed
    ? "The knowledge bases could not be listed; the agent keeps the ones it has."
    : "Up to 20. The agent retrieves passages from them on every turn and cites them.";
  const group = checks("Knowledge bases", options, chosen, "knowledge_base_ids", hint);
  const empty = options.length
    ? null
    : h("p", { class: "muted small" }, "No knowledge bases yet. ", h("a", { href: "#/knowledge" }, "Create a knowledge base"), ".");
  const box = h("input", { type: "checkbox", id: "web_search", name: "web_search", checked: webSearchOn, dataset: { param: "web_search" }, "aria-describedby": "web_search-hint web_search-error" });
  const webSearch = h(
    "div",
    { class: "check web-search" },
    box,
    h("label", { for: "web_search" }, "Web search"),
    h("p", { class: "hint", id: "web_search-hint" }, "Gives the agent a web_search tool backed by the server's search provider ([search.default] in the providers file)."),
    h("p", { class: "field-error", id: "web_search-error", hidden: true }),
  );
  return {
    el: [group.el, empty, webSearch],
    values: () => ({ knowledge_base_ids: group.values(), web_search: box.checked }),
    isWebSearchError: (error) => error?.param === "web_search" || (!error?.param && /web.?search|search provider/i.test(error?.message ?? "")),
  };
}
