// A knowledge base's document forms: upload a file, paste text, add a web page.

import { api } from "../api.js";
import { input, textarea } from "../controls.js";
import { errorBox, h } from "../dom.js";
import { FormError, field, fieldErrors } from "../forms.js";
import { toast } from "../ui.js";

/** The file types the server parses. */
export const ACCEPTED = ".txt,.md,.markdown,.html,.htm,.pdf,.docx";

/**
 * One small form: `controls` laid out with `fields`, a submit button `label`, and `send()`
 * that returns the new document (or throws a FormError/ApiError).
 */
function docForm({ title, id, fields, label, busy, send, after }) {
  const errors = errorBox();
  const button = h("button", { type: "submit", class: "btn btn-soft" }, label);
  const form = h("form", { class: "kb-add", novalidate: true, "aria-labelledby": id }, h("h3", { id }, title), errors.el, fields, h("div", { class: "form-actions" }, button));
  const marks = fieldErrors(form, errors);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    marks.clear();
    button.disabled = true;
    button.textContent = busy;
    try {
      const doc = await send();
      form.reset();
      after(doc);
    } catch (error) {
      if (error instanceof FormError) {
        errors.show(error.message);
        marks.show(error.param, error.message);
      } else if (error?.name !== "AbortError") {
        marks.apiError(error);
      }
    } finally {
      button.disabled = false;
      button.textContent = label;
    }
  });
  return form;
}

/**
 * The three ways to add a document to the knowledge base at `base` (its API path).
 * `onAdded(doc)` gets each new document (202: it is still processing).
 */
export function addDocumentForms(base, onAdded, signal) {
  const path = `${base}/documents`;
  const after = (doc) => {
    toast(`Added ${doc.title || doc.filename || doc.id}; it is being processed.`, "success");
    onAdded(doc);
  };
  const optionalTitle = (value) => (value.trim() ? { title: value.trim() } : {});

  const file = h("input", { type: "file", class: "input", name: "file", accept: ACCEPTED, dataset: { param: "file" } });
  const fileTitle = input({ name: "title", maxlength: 300, dataset: { param: "title" }, placeholder: "The file name" });
  const upload = docForm({
    title: "Upload a file",
    id: "kb-upload-title",
    label: "Upload file",
    busy: "Uploading…",
    fields: [
      field({ label: "File to upload", control: file, hint: "Text, Markdown, HTML, PDF or Word (.docx)." }),
      field({ label: "Title for the file", control: fileTitle, hint: "Optional." }),
    ],
    send: () => {
      const chosen = file.files?.[0];
      if (!chosen) throw new FormError("file", "Choose a file to upload.");
      const form = new FormData();
      form.append("file", chosen, chosen.name);
      if (fileTitle.value.trim()) form.append("title", fileTitle.value.trim());
      return api("POST", path, { body: form, signal });
    },
    after,
  });

  const textTitle = input({ name: "title", maxlength: 300, dataset: { param: "title" }, placeholder: "Returns policy" });
  const text = textarea({ name: "text", rows: 5, dataset: { param: "text" } });
  const pasted = docForm({
    title: "Add text",
    id: "kb-text-title",
    label: "Add text",
    busy: "Adding…",
    fields: [
      field({ label: "Title for the text", control: textTitle, hint: "Shown in citations." }),
      field({ label: "Text to add", control: text, hint: "Plain text or Markdown; # headings split it into sections." }),
    ],
    send: () => {
      if (!textTitle.value.trim()) throw new FormError("title", "Give the text a title.");
      if (!text.value.trim()) throw new FormError("text", "Paste the text to add.");
      return api("POST", path, { body: { text: text.value, title: textTitle.value.trim() }, signal });
    },
    after,
  });

  const url = input({ type: "url", name: "url", class: "input mono", spellcheck: "false", dataset: { param: "url" }, placeholder: "https://example.com/help/shipping" });
  const urlTitle = input({ name: "title", maxlength: 300, dataset: { param: "title" }, placeholder: "The page's own title" });
  const page = docForm({
    title: "Add a web page",
    id: "kb-url-title",
    label: "Add page",
    busy: "Adding…",
    fields: [
      field({ label: "Page URL", control: url, hint: "The server fetches it once (public addresses only, with size and time limits)." }),
      field({ label: "Title for the page", control: urlTitle, hint: "Optional." }),
    ],
    send: () => {
      if (!url.value.trim()) throw new FormError("url", "Enter the page's URL.");
      return api("POST", path, { body: { url: url.value.trim(), ...optionalTitle(urlTitle.value) }, signal });
    },
    after,
  });

  return h("div", { class: "kb-add-grid" }, upload, pasted, page);
}
