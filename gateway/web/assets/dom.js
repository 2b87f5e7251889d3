// Building the page's DOM without ever parsing HTML: every text goes through
// textContent or a Text node, so nothing from the gateway, the agent or a certificate can
// become markup. Inline styles and inline event handlers are refused (the page runs under
// a Content-Security-Policy without 'unsafe-inline').

const FORBIDDEN = /^(style|on[a-z]+|innerHTML|outerHTML|srcdoc)$/i;

/**
 * h("button", {class: "primary", testid: "x", on: {click: f}}, "text", childNode, [more])
 * Props: class (string or array), testid (data-testid), text, on (event listeners),
 * dataset, props (DOM properties such as value or checked); anything else is an attribute
 * (true = empty attribute, false/null/undefined = left out).
 */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  if (props) {
    for (const [key, value] of Object.entries(props)) {
      if (value === undefined || value === null || value === false) continue;
      if (FORBIDDEN.test(key)) throw new Error(`attribute ${key} is not allowed`);
      switch (key) {
        case "class":
          el.className = Array.isArray(value) ? value.filter(Boolean).join(" ") : value;
          break;
        case "testid":
          el.dataset.testid = value;
          break;
        case "text":
          el.textContent = String(value);
          break;
        case "on":
          for (const [event, fn] of Object.entries(value)) el.addEventListener(event, fn);
          break;
        case "dataset":
          for (const [k, v] of Object.entries(value)) {
            if (v !== undefined && v !== null) el.dataset[k] = String(v);
          }
          break;
        case "props":
          Object.assign(el, value);
          break;
        default:
          el.setAttribute(key, value === true ? "" : String(value));
      }
    }
  }
  append(el, children);
  return el;
}

/** Appends nodes and strings (as text) to el, flattening arrays and skipping null/false. */
export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Removes every child of el. */
export function clear(el) {
  el.replaceChildren();
  return el;
}

let idCounter = 0;
/** A fresh element id with this prefix (for label/aria-describedby links). */
export function uid(prefix) {
  idCounter += 1;
  return `${prefix}-${idCounter}`;
}

/** Resolves after ms milliseconds, or rejects with AbortError when signal aborts. */
export function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal && signal.aborted) {
      reject(new DOMException("aborted", "AbortError"));
      return;
    }
    const timer = setTimeout(resolve, ms);
    if (signal) {
      signal.addEventListener(
        "abort",
        () => {
          clearTimeout(timer);
          reject(new DOMException("aborted", "AbortError"));
        },
        { once: true },
      );
    }
  });
}

/** Whether e is the rejection of an aborted fetch or sleep. */
export function isAbort(e) {
  return e && e.name === "AbortError";
}
