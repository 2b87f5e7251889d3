// One way to show every refusal: the catalogue's title and guidance for its code (the
// gateway's, the agent's or the page's own), the raw code for support and tests, the
// operator detail folded away, and the actions that fit the code.

import { h } from "./dom.js";
import { L, bind, has, language, t } from "./i18n.js";
import { asApiError } from "./api.js";

let liveTimer = 0;

/** Says text in the page's polite live region (screen readers read it once). */
export function announce(text) {
  const live = document.getElementById("live");
  if (!live) return;
  live.textContent = "";
  clearTimeout(liveTimer);
  liveTimer = setTimeout(() => {
    live.textContent = text;
  }, 50);
}

function known(code) {
  return has(`errors.${code}.title`);
}

/** The title shown for an error: the catalogue's, else the gateway's own (Vietnamese) title. */
export function errorTitle(err) {
  if (known(err.code)) return t(`errors.${err.code}.title`);
  if (err.title && language() === "vi") return err.title;
  return t("errors.UNKNOWN.title");
}

function errorGuidance(err) {
  return known(err.code) ? t(`errors.${err.code}.guidance`) : t("errors.UNKNOWN.guidance");
}

/** The origin the agent must allow: the gateway's public origin, else this page's. */
function pageOrigin(config) {
  return (config && config.origin) || location.origin;
}

/**
 * The error panel. options: {config, onRetry, retryKey, extraActions: [Node]}.
 * Returns the element; call focusError(el) after inserting it.
 */
export function renderError(error, options = {}) {
  const err = asApiError(error);
  const titleId = `error-title-${Math.random().toString(36).slice(2, 8)}`;
  const box = h("section", {
    class: "error",
    testid: "error",
    "aria-labelledby": titleId,
    dataset: { code: err.code },
  });
  box.append(bind(h("h2", { id: titleId, class: "error-title", testid: "error-title" }), () => errorTitle(err)));
  box.append(bind(h("p", { class: "error-guidance", testid: "error-guidance" }), () => errorGuidance(err)));

  if (err.code === "PIN_INCORRECT" && err.retriesLeft !== undefined) {
    box.append(
      L("p", "errors.PIN_INCORRECT.retries_left", { n: err.retriesLeft }, { class: "error-extra", testid: "error-retries-left" }),
    );
  }
  if (err.code === "RATE_LIMITED" && err.retryAfter && /^\d+$/.test(err.retryAfter)) {
    box.append(L("p", "errors.retry_after", { seconds: err.retryAfter }, { class: "error-extra" }));
  }
  const precise = err.preciseCode;
  if (precise && known(precise)) {
    box.append(
      bind(h("p", { class: "error-extra", testid: "error-precise", dataset: { code: precise } }), () =>
        t("errors.precise", { title: t(`errors.${precise}.title`) }),
      ),
      bind(h("p", { class: "error-extra" }), () => t(`errors.${precise}.guidance`)),
    );
  }
  if (err.code === "AGENT_UNREACHABLE" || err.code === "ORIGIN_NOT_ALLOWED") {
    const cmdId = `agent-cmd-${Math.random().toString(36).slice(2, 8)}`;
    box.append(
      L("p", "errors.agent_command_label", null, { class: "error-extra", id: cmdId }),
      h(
        "pre",
        { class: "command", "aria-labelledby": cmdId },
        h("code", { testid: "agent-command", text: `kyso-shim serve --allow-origin ${pageOrigin(options.config)}` }),
      ),
    );
    if (err.code === "AGENT_UNREACHABLE") box.append(L("p", "errors.agent_install", null, { class: "error-extra" }));
  }

  const code = h("p", { class: "error-code" });
  code.append(L("span", "common.error_code"), ": ", h("code", { testid: "error-code", text: err.code }));
  box.append(code);

  if (err.detail) {
    const details = h("details", { class: "error-detail" });
    details.append(L("summary", "common.details"), h("p", { text: err.detail }));
    box.append(details);
  }

  // Where another page is the answer (log in instead, register instead), that link comes
  // first; "try again" follows.
  const actions = h("div", { class: "actions" });
  const elsewhere = { ACCOUNT_EXISTS: "login", UNAUTHENTICATED: "login", ACCOUNT_NOT_FOUND: "register" }[err.code];
  if (elsewhere === "login") {
    actions.append(L("a", "errors.login_instead", null, { href: "#/login", class: "button primary", testid: "error-login" }));
  }
  if (elsewhere === "register") {
    actions.append(L("a", "errors.register_instead", null, { href: "#/register", class: "button primary", testid: "error-register" }));
  }
  if (options.onRetry) {
    actions.append(
      L("button", options.retryKey || "common.retry", null, {
        type: "button",
        class: elsewhere ? "button" : "button primary",
        testid: "error-retry",
        on: { click: options.onRetry },
      }),
    );
  }
  for (const extra of options.extraActions || []) actions.append(extra);
  if (actions.childElementCount) box.append(actions);
  return box;
}

/** After the panel is on the page: announce it and put focus on its first action (or itself). */
export function focusError(box) {
  const title = box.querySelector(".error-title");
  const guidance = box.querySelector(".error-guidance");
  announce(`${title ? title.textContent : ""} ${guidance ? guidance.textContent : ""}`.trim());
  const target = box.querySelector(".actions .button") || box;
  if (target === box) box.setAttribute("tabindex", "-1");
  target.focus();
}

