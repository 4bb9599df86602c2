// The agent form's tools: one card per tool, with a type picker and the fields of each type
// (client functions, webhooks the server calls, and the built-ins).

import { input, numberInput, select, textarea } from "../controls.js";
import { h, replace } from "../dom.js";
import { field } from "../forms.js";

const EMPTY_PARAMETERS = { type: "object", properties: {} };

/** The tool types of the agent API, in words. */
export const TOOL_TYPES = [
  ["client", "Client function: your app runs it"],
  ["webhook", "Webhook: the server calls a URL"],
  ["end_call", "End the call"],
  ["transfer_call", "Transfer the call"],
  ["knowledge_search", "Search the knowledge bases"],
];

const TYPE_HINTS = {
  client: "The client gets a tool call and answers it with tool_result.",
  webhook: "The server calls the URL with the arguments, signs the body, and gives the model the JSON answer.",
  end_call: "The agent says the goodbye message and ends the call (reason agent_ended).",
  transfer_call: "On phone calls the call is redirected to a number; elsewhere the client gets a transfer event.",
  knowledge_search: "An explicit lookup in the agent's knowledge bases, on top of the automatic one.",
};

const METHODS = ["POST", "GET", "PUT", "PATCH", "DELETE"].map((m) => [m, m]);

/** JSON shown in a textarea (two-space indent). */
export function pretty(value) {
  return JSON.stringify(value, null, 2);
}

/** A labelled control whose error `param` is `tools.<i>.<path>` (set when cards are renumbered). */
function part(label, control, path, hint, wide = false) {
  control.dataset.field = path;
  return field({ label, control, hint, wide });
}

function nameField(tool, optional) {
  const control = input({ value: tool.name ?? "", maxlength: 64, spellcheck: "false", class: "input mono", dataset: { role: "name" }, placeholder: optional ? tool.type : "lookup_order" });
  const hint = optional ? `Optional; the model sees ${tool.type}.` : "Letters, digits, _ and -; starts with a letter or _.";
  return { control, el: part("Name", control, "name", hint) };
}

function descriptionField(tool, optional) {
  const control = input({ value: tool.description ?? "", maxlength: 1024, dataset: { role: "description" }, placeholder: optional ? "The built-in description" : "Find an order by its number" });
  return { control, el: part("Description", control, "description", optional ? "Optional: when the model should use it." : "What it does, for the model.") };
}

function parametersField(tool) {
  const control = textarea({ rows: 5, class: "input mono", spellcheck: "false", value: pretty(tool.parameters ?? EMPTY_PARAMETERS), dataset: { role: "parameters" } });
  const hint = 'An object schema: {"type": "object", "properties": {...}, "required": [...]}.';
  return { control, el: part("Parameters (JSON Schema)", control, "parameters", hint, true) };
}

/** The name and description every type has; `optional` for the built-ins. */
function basics(tool, optional) {
  const name = nameField(tool, optional);
  const description = descriptionField(tool, optional);
  return {
    el: h("div", { class: "grid-2" }, name.el, description.el),
    value() {
      const out = {};
      if (name.control.value.trim() || !optional) out.name = name.control.value.trim();
      if (description.control.value.trim() || !optional) out.description = description.control.value.trim();
      return out;
    },
  };
}

function clientFields(tool) {
  const base = basics(tool, false);
  const parameters = parametersField(tool);
  return {
    el: [base.el, parameters.el],
    value: (json, i) => ({ ...base.value(), parameters: json(parameters.control, `tools.${i}.parameters`, `Tool ${i + 1}'s parameters`) }),
  };
}

function webhookFields(tool) {
  const base = basics(tool, false);
  const parameters = parametersField(tool);
  const hook = tool.webhook ?? {};
  const url = input({ type: "url", value: hook.url ?? "", class: "input mono", spellcheck: "false", placeholder: "https://example.com/orders/{{order_id}}", dataset: { role: "url" } });
  const method = select(METHODS, hook.method ?? "POST", { dataset: { role: "method" } });
  const timeout = numberInput({ min: 100, max: 30000, step: 100, value: hook.timeout_ms ?? "", placeholder: "5000", dataset: { role: "timeout" } });
  const headers = textarea({ rows: 3, class: "input mono", spellcheck: "false", value: pretty(hook.headers ?? {}), dataset: { role: "headers" } });
  const body = textarea({ rows: 3, class: "input mono", spellcheck: "false", value: hook.body === undefined || hook.body === null ? "" : pretty(hook.body), placeholder: '{"shop": "{{shop_id}}"}', dataset: { role: "body" } });
  const filler = input({ value: tool.filler ?? "", maxlength: 200, placeholder: "One moment while I check.", dataset: { role: "filler" } });
  const secretHint = "A JSON object of header names and values. A value may hold secrets as {{secret.NAME}}: the server reads them from its environment variable PARLEY_SECRET_NAME, and never sends them to the model or returns them from the API.";
  return {
    el: [
      base.el,
      h(
        "div",
        { class: "grid-3" },
        part("Webhook URL", url, "webhook.url", "May use {{variables}} from the session metadata."),
        part("Method", method, "webhook.method"),
        part("Timeout (ms)", timeout, "webhook.timeout_ms", "100–30000; empty: 5000."),
      ),
      part("Headers (JSON)", headers, "webhook.headers", secretHint, true),
      part("Fixed body fields (JSON)", body, "webhook.body", "Optional: an object sent with the model's arguments; strings may use {{variables}}.", true),
      parameters.el,
      part("Filler phrase", filler, "filler", "Said when the webhook takes longer than about 700 ms. Optional."),
    ],
    value(json, i) {
      const webhook = { url: url.value.trim(), method: method.value, headers: json(headers, `tools.${i}.webhook.headers`, `Tool ${i + 1}'s headers`) };
      if (timeout.value !== "") webhook.timeout_ms = Number(timeout.value);
      if (body.value.trim()) webhook.body = json(body, `tools.${i}.webhook.body`, `Tool ${i + 1}'s fixed body fields`);
      const out = { ...base.value(), parameters: json(parameters.control, `tools.${i}.parameters`, `Tool ${i + 1}'s parameters`), webhook };
      if (filler.value.trim()) out.filler = filler.value.trim();
      return out;
    },
  };
}

/** An optional one-line `message` field: left out of the tool when empty (the server's default). */
function messageField(tool, label, placeholder, hint) {
  const control = input({ value: tool.message ?? "", maxlength: 500, placeholder, dataset: { role: "message" } });
  return {
    el: part(label, control, "message", hint, true),
    value: () => (control.value.trim() ? { message: control.value.trim() } : {}),
  };
}

function endCallFields(tool) {
  const base = basics(tool, true);
  const message = messageField(tool, "Goodbye message", "Thank you for calling. Goodbye!", "What the agent says before it hangs up; empty: the placeholder.");
  return {
    el: [base.el, message.el],
    value: () => ({ ...base.value(), ...message.value() }),
  };
}

function transferFields(tool, onChange) {
  const base = basics(tool, true);
  const message = messageField(tool, "Transfer message", "Transferring you now.", "Said before the transfer; empty: the placeholder.");
  const list = h("div", { class: "destinations" });
  const addButton = h("button", { type: "button", class: "btn btn-small btn-soft" }, "+ Add destination");
  const addRow = (d = { name: "", phone_number: "" }) => {
    const name = input({ value: d.name ?? "", maxlength: 100, placeholder: "Sales", dataset: { role: "dest-name" } });
    const phone = input({ type: "tel", value: d.phone_number ?? "", class: "input mono", placeholder: "+14155550123", dataset: { role: "dest-phone" } });
    const when = input({ value: d.description ?? "", maxlength: 300, placeholder: "Questions about orders", dataset: { role: "dest-when" } });
    const row = h(
      "div",
      { class: "destination" },
      field({ label: "Destination name", control: name }),
      field({ label: "Phone number", control: phone, hint: "E.164, e.g. +14155550123." }),
      field({ label: "When to choose it", control: when, hint: "Optional; the model sees this, never the number." }),
      h("button", { type: "button", class: "btn btn-small btn-ghost btn-danger-text", dataset: { role: "dest-remove" }, onclick: () => { row.remove(); onChange(); addButton.focus(); } }, "Remove"),
    );
    list.append(row);
    onChange();
    return row;
  };
  addButton.addEventListener("click", () => addRow().querySelector("input").focus());
  for (const d of tool.destinations ?? []) addRow(d);
  if (!tool.destinations?.length) addRow();
  return {
    el: [base.el, message.el, h("div", { class: "label", dataset: { role: "dest-group" }, tabindex: "-1" }, "Destinations"), list, addButton],
    value: () => ({
      ...base.value(),
      ...message.value(),
      destinations: [...list.children].map((row) => {
        const when = row.querySelector("[data-role=dest-when]").value.trim();
        return {
          name: row.querySelector("[data-role=dest-name]").value.trim(),
          phone_number: row.querySelector("[data-role=dest-phone]").value.trim(),
          ...(when ? { description: when } : {}),
        };
      }),
    }),
  };
}

function builtinFields(tool) {
  const base = basics(tool, true);
  return { el: base.el, value: () => base.value() };
}

function knowledgeSearchFields(tool) {
  const base = basics(tool, true);
  const k = numberInput({ min: 1, max: 20, step: 1, value: tool.k ?? "", placeholder: "5", class: "input input-short", dataset: { role: "k" } });
  return {
    el: [base.el, part("Passages per search", k, "k", "1–20; empty: 5. Searches the knowledge bases attached below.")],
    value: () => ({ ...base.value(), ...(k.value === "" ? {} : { k: Number(k.value) }) }),
  };
}

const BUILDERS = { client: clientFields, webhook: webhookFields, end_call: endCallFields, transfer_call: transferFields, knowledge_search: knowledgeSearchFields };

/** Give each control of the cards its error `param` and each card its number. */
function renumber(toolList, toolsEmpty) {
  [...toolList.children].forEach((card, i) => {
    card.querySelector("legend").textContent = `Tool ${i + 1}`;
    card.querySelector("[data-role=remove]").setAttribute("aria-label", `Remove tool ${i + 1}`);
    for (const control of card.querySelectorAll("[data-field]")) control.dataset.param = `tools.${i}.${control.dataset.field}`;
    const group = card.querySelector("[data-role=dest-group]");
    if (group) group.dataset.param = `tools.${i}.destinations`;
    [...card.querySelectorAll(".destination")].forEach((row, j) => {
      const n = j + 1;
      row.querySelector("[data-role=dest-name]").dataset.param = `tools.${i}.destinations.${j}.name`;
      row.querySelector("[data-role=dest-phone]").dataset.param = `tools.${i}.destinations.${j}.phone_number`;
      row.querySelector("[data-role=dest-when]").dataset.param = `tools.${i}.destinations.${j}.description`;
      const [nameLabel, phoneLabel, whenLabel] = row.querySelectorAll("label");
      nameLabel.textContent = `Destination ${n} name`;
      phoneLabel.textContent = `Destination ${n} phone number`;
      whenLabel.textContent = `When to choose destination ${n}`;
      row.querySelector("[data-role=dest-remove]").setAttribute("aria-label", `Remove destination ${n} of tool ${i + 1}`);
    });
  });
  toolsEmpty.hidden = toolList.children.length > 0;
}

/**
 * The tool cards of `tools` with an "+ Add tool" button. `.el` goes in the form;
 * `.values(json)` gives the tools, parsing JSON fields with the form's `json(control,
 * param, what)` (which throws a FormError on bad JSON).
 */
export function toolsEditor(tools) {
  const toolList = h("div", { class: "tools", dataset: { param: "tools" }, tabindex: "-1" });
  const toolsEmpty = h("p", { class: "muted" }, "No tools. The agent only talks.");
  const refresh = () => renumber(toolList, toolsEmpty);
  const addTool = (tool = { type: "client", name: "", description: "", parameters: EMPTY_PARAMETERS }) => {
    const type = tool.type === "function" || !tool.type ? "client" : tool.type;
    const picker = select(TOOL_TYPES, type, { dataset: { role: "type", field: "type" } });
    const typeHint = h("span");
    const body = h("div", { class: "tool-fields" });
    let current = null;
    const card = h(
      "fieldset",
      { class: "tool", dataset: { type } },
      h("legend", { class: "tool-title" }, "Tool"),
      h("button", { type: "button", class: "btn btn-small btn-ghost btn-danger-text", dataset: { role: "remove" }, onclick: () => { card.remove(); refresh(); addToolButton.focus(); } }, "Remove tool"),
      h("div", { class: "grid-2" }, field({ label: "Tool type", control: picker, hint: typeHint })),
      body,
    );
    const build = (kind, data) => {
      current = { kind, fields: (BUILDERS[kind] ?? builtinFields)({ ...data, type: kind }, refresh) };
      card.dataset.type = kind;
      typeHint.textContent = TYPE_HINTS[kind] ?? "";
      replace(body, current.fields.el);
      refresh();
    };
    picker.addEventListener("change", () => {
      // The name and description carry over to the new type.
      const keep = {
        name: body.querySelector("[data-role=name]")?.value ?? "",
        description: body.querySelector("[data-role=description]")?.value ?? "",
      };
      build(picker.value, keep);
    });
    card.toolValue = (json, i) => ({ type: current.kind, ...current.fields.value(json, i) });
    toolList.append(card);
    build(type, tool);
    return card;
  };
  const addToolButton = h("button", { type: "button", class: "btn btn-soft" }, "+ Add tool");
  addToolButton.addEventListener("click", () => addTool().querySelector("input").focus());
  for (const tool of tools) addTool(tool);
  refresh();
  return {
    el: [toolsEmpty, toolList, addToolButton],
    values: (json) => [...toolList.children].map((card, i) => card.toolValue(json, i)),
  };
}
