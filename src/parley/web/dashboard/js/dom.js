// Small DOM helpers. Text always goes in as text nodes, never as HTML.

const PROPERTIES = new Set(["value", "checked", "selected", "indeterminate"]);

/**
 * Create an element: h("a", {href: "#/x", class: "btn"}, "text", child, [more]).
 * `on<event>` props add listeners; `false`/`null`/`undefined` props are skipped.
 */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") el.className = value;
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2).toLowerCase(), value);
    } else if (PROPERTIES.has(name)) el[name] = value;
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

/** Append children: strings become text nodes, arrays are flattened, empties skipped. */
export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

/** Replace all children of `parent`. */
export function replace(parent, ...children) {
  parent.replaceChildren();
  return append(parent, children);
}

let counter = 0;
/** A document-unique id with a readable prefix. */
export function uid(prefix = "id") {
  counter += 1;
  return `${prefix}-${counter}`;
}

/** The heading every view starts with; focused after navigation for screen readers. */
export function pageHeading(text, ...extra) {
  return h("h1", { class: "page-title", tabindex: "-1" }, text, ...extra);
}

/** A status pill, e.g. badge("active"). */
export function badge(text, kind = text) {
  return h("span", { class: `badge badge-${kind}` }, text);
}

/** An inline alert box for errors (role=alert so it is announced). */
export function errorBox() {
  const box = h("div", { class: "alert alert-error", role: "alert", hidden: true });
  return {
    el: box,
    show(message, detail) {
      replace(box, h("strong", {}, message), detail ? h("span", { class: "alert-detail" }, detail) : null);
      box.hidden = false;
    },
    clear() {
      box.hidden = true;
      box.replaceChildren();
    },
  };
}

/** A loading placeholder. */
export function loading(text = "Loading…") {
  return h("p", { class: "loading", role: "status" }, h("span", { class: "spinner", "aria-hidden": "true" }), text);
}
