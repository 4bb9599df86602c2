// The agent form's tools: function cards (name, description, JSON Schema), added and removed.

import { input, textarea } from "../controls.js";
import { h } from "../dom.js";
import { field } from "../forms.js";

const EMPTY_PARAMETERS = { type: "object", properties: {} };

/** JSON shown in a textarea (two-space indent). */
export function pretty(value) {
  return JSON.stringify(value, null, 2);
}

/**
 * The tool cards of `tools` with an "+ Add tool" button. `.el` goes in the form;
 * `.values(json)` gives the tools, parsing each schema with the form's `json(control,
 * param, what)` (which throws a FormError on bad JSON).
 */
export function toolsEditor(tools) {
  const toolList = h("div", { class: "tools", dataset: { param: "tools" }, tabindex: "-1" });
  const renumber = () => {
    [...toolList.children].forEach((card, i) => {
      card.querySelector("legend").textContent = `Tool ${i + 1}`;
      card.querySelector("[data-role=name]").dataset.param = `tools.${i}.name`;
      card.querySelector("[data-role=description]").dataset.param = `tools.${i}.description`;
      card.querySelector("[data-role=parameters]").dataset.param = `tools.${i}.parameters`;
      card.querySelector("[data-role=remove]").setAttribute("aria-label", `Remove tool ${i + 1}`);
    });
    toolsEmpty.hidden = toolList.children.length > 0;
  };
  const toolsEmpty = h("p", { class: "muted" }, "No tools. The agent only talks.");
  const addTool = (tool = { name: "", description: "", parameters: EMPTY_PARAMETERS }) => {
    const card = h(
      "fieldset",
      { class: "tool" },
      h("legend", { class: "tool-title" }, "Tool"),
      h(
        "button",
        {
          type: "button",
          class: "btn btn-small btn-ghost btn-danger-text",
          dataset: { role: "remove" },
          onclick: () => {
            card.remove();
            renumber();
            addToolButton.focus();
          },
        },
        "Remove tool",
      ),
      h(
        "div",
        { class: "grid-2" },
        field({ label: "Name", control: input({ value: tool.name, maxlength: 64, spellcheck: "false", class: "input mono", dataset: { role: "name" }, placeholder: "lookup_order" }), hint: "Letters, digits, _ and -; starts with a letter or _." }),
        field({ label: "Description", control: input({ value: tool.description, maxlength: 1024, dataset: { role: "description" }, placeholder: "Find an order by its number" }), hint: "What it does, for the model." }),
      ),
      field({
        label: "Parameters (JSON Schema)",
        control: textarea({ rows: 5, class: "input mono", spellcheck: "false", value: pretty(tool.parameters ?? EMPTY_PARAMETERS), dataset: { role: "parameters" } }),
        hint: 'An object schema: {"type": "object", "properties": {...}, "required": [...]}.',
        wide: true,
      }),
    );
    toolList.append(card);
    renumber();
    return card;
  };
  const addToolButton = h("button", { type: "button", class: "btn btn-soft" }, "+ Add tool");
  addToolButton.addEventListener("click", () => addTool().querySelector("input").focus());
  for (const tool of tools) addTool(tool);
  return {
    el: [toolsEmpty, toolList, addToolButton],
    values: (json) =>
      [...toolList.children].map((card, i) => ({
        name: card.querySelector("[data-role=name]").value.trim(),
        description: card.querySelector("[data-role=description]").value.trim(),
        parameters: json(card.querySelector("[data-role=parameters]"), `tools.${i}.parameters`, `Tool ${i + 1}'s parameters`),
      })),
  };
}
