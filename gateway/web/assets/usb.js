// The USB-token proof, for registration and login: the local signing agent's status and
// certificates, the person's choice of certificate, a gateway challenge signed by the
// agent (the PIN is typed into the agent, never into this page), and the gateway's
// answer: an identity preview (register) or a session (login).

import { h, clear, isAbort, uid } from "./dom.js";
import { L, bind, bindKey, formatDate, t } from "./i18n.js";
import { ApiError, callAgent, callGateway } from "./api.js";
import { announce, focusError, renderError } from "./errors.js";
import { caName, dnValue, validityState } from "./format.js";

function progress(key, testid) {
  const p = h("p", { class: "progress", testid: testid || "progress" });
  p.append(h("span", { class: "spinner", "aria-hidden": "true" }), L("span", key));
  announce(t(key));
  return p;
}

function agentInfo(status) {
  const tokens = Array.isArray(status.tokens) ? status.tokens : [];
  const box = h("div", { class: "agent-info", testid: "agent-status" });
  box.append(
    L("p", "usb.agent_version", { version: String(status.version || "?") }, { testid: "agent-version" }),
    L("p", "usb.tokens_present", { count: tokens.length }, { testid: "token-count" }),
  );
  const labels = tokens.map((tok) => tok && tok.label).filter(Boolean);
  if (labels.length > 0 && labels.length <= 3) {
    box.append(L("p", "usb.cert_token", { label: labels.join(", ") }, { class: "muted", testid: "token-labels" }));
  }
  return box;
}

function certName(c) {
  if (c.subject && c.subject.full_name) return c.subject.full_name;
  const cn = c.certificate && dnValue(c.certificate.subject, "CN");
  return cn || t("usb.cert_unknown_name");
}

function sortCertificates(list, subjectType) {
  const rank = (c) => {
    let r = 0;
    if (!c.subject) r += 4;
    else if (subjectType && c.subject.type !== subjectType) r += 2;
    if (validityState(c.certificate) !== "valid") r += 1;
    return r;
  };
  return list
    .map((c, i) => ({ c, i }))
    .sort((a, b) => rank(a.c) - rank(b.c) || a.i - b.i)
    .map((x) => x.c);
}

function certificateOption(c, { subjectType, checked }) {
  const id = uid("cert");
  const input = h("input", {
    type: "radio",
    name: "certificate",
    id,
    value: c.certificate_id,
    props: { checked: Boolean(checked) },
  });
  const label = h("label", { for: id, class: "cert-label" });
  // Bound: "(no name)" follows a language switch like every other text.
  label.append(bind(h("strong", { class: "cert-name", testid: "cert-name" }), () => certName(c)));
  if (c.subject && c.subject.identifier) {
    const ident = c.subject.identifier;
    label.append(
      bind(h("span", { class: "cert-line", testid: "cert-identifier" }), () =>
        t("usb.cert_identifier", { kind: t(`kinds.${ident.kind}`), value: ident.value }),
      ),
    );
    for (const alias of c.subject.aliases || []) {
      label.append(
        bind(h("span", { class: "cert-line" }), () =>
          t("usb.cert_identifier", { kind: t(`kinds.${alias.kind}`), value: alias.value }),
        ),
      );
    }
    if (c.subject.organization && c.subject.type === "citizen") {
      label.append(h("span", { class: "cert-line", text: c.subject.organization }));
    }
  }
  if (c.certificate) {
    const issuer = caName(c.certificate.issuer);
    label.append(L("span", "usb.cert_issuer", { issuer }, { class: "cert-line", testid: "cert-issuer" }));
    label.append(
      bind(h("span", { class: "cert-line", testid: "cert-validity" }), () =>
        t("usb.cert_validity", { from: formatDate(c.certificate.not_before), to: formatDate(c.certificate.not_after) }),
      ),
    );
  }
  if (c.token && c.token.label) {
    label.append(L("span", "usb.cert_token", { label: c.token.label }, { class: "cert-line muted" }));
  }
  const badges = h("span", { class: "badges" });
  const state = validityState(c.certificate);
  if (state === "expired") badges.append(L("span", "usb.cert_expired", null, { class: "badge warn" }));
  if (state === "not_yet_valid") badges.append(L("span", "usb.cert_not_yet_valid", null, { class: "badge warn" }));
  if (!c.subject) badges.append(L("span", "usb.cert_no_identity", null, { class: "badge warn" }));
  else if (subjectType && c.subject.type !== subjectType) {
    badges.append(L("span", `usb.cert_for_${c.subject.type}`, null, { class: "badge" }));
  }
  if (badges.childElementCount) label.append(badges);
  return h(
    "div",
    {
      class: "cert-option",
      testid: "cert-option",
      dataset: { certificateId: c.certificate_id, tokenLabel: c.token && c.token.label },
    },
    input,
    label,
  );
}

/**
 * Runs the USB proof inside root.
 * options: {purpose: "register"|"login", subjectType, config, signal, onResult(data)}.
 */
export function usbFlow(root, options) {
  const { purpose, subjectType, config, signal, onResult } = options;
  const panel = h("div", { class: "flow usb-flow", testid: "usb-flow" });
  root.append(panel);
  let lastChoice = null;

  function fail(e, onRetry) {
    if (isAbort(e) || signal.aborted) return;
    for (const el of panel.querySelectorAll(".progress, .pin-prompt")) el.remove();
    const box = renderError(e, { config, onRetry: onRetry || start });
    panel.append(box);
    focusError(box);
  }

  async function start() {
    clear(panel);
    const checking = progress("usb.checking_agent", "usb-progress");
    panel.append(checking);
    let certificates;
    try {
      const status = (await callAgent(config.agent_url, "GET", "/v1/status", { signal })).data;
      checking.replaceWith(agentInfo(status));
      if (!Array.isArray(status.tokens) || status.tokens.length === 0) {
        throw new ApiError("TOKEN_NOT_PRESENT", { source: "agent" });
      }
      const loading = progress("usb.loading_certs", "usb-progress");
      panel.append(loading);
      const listed = (await callAgent(config.agent_url, "GET", "/v1/certificates", { signal })).data;
      loading.remove();
      certificates = Array.isArray(listed.certificates) ? listed.certificates : [];
      if (certificates.length === 0) throw new ApiError("NO_CERTIFICATE", { source: "agent" });
    } catch (e) {
      fail(e);
      return;
    }
    showPicker(certificates);
  }

  function showPicker(certificates) {
    const sorted = sortCertificates(certificates, purpose === "register" ? subjectType : undefined);
    const fitting = sorted.filter(
      (c) => c.subject && (!subjectType || purpose !== "register" || c.subject.type === subjectType) && validityState(c.certificate) === "valid",
    );
    let preselect = sorted.find((c) => c.certificate_id === lastChoice);
    if (!preselect && sorted.length === 1) preselect = sorted[0];
    if (!preselect && fitting.length === 1) preselect = fitting[0];

    const form = h("form", { class: "cert-picker", testid: "cert-picker", novalidate: true });
    const fieldset = h("fieldset");
    const hintId = uid("cert-hint");
    fieldset.setAttribute("aria-describedby", hintId);
    fieldset.append(
      L("legend", sorted.length === 1 ? "usb.one_cert" : "usb.choose_cert"),
      L("p", "usb.choose_cert_hint", null, { id: hintId, class: "hint" }),
    );
    const list = h("div", { class: "cert-list" });
    for (const c of sorted) list.append(certificateOption(c, { subjectType: purpose === "register" ? subjectType : undefined, checked: c === preselect }));
    fieldset.append(list);
    const note = h("p", { class: "field-error", testid: "cert-pick-error", hidden: true });
    const signButton = L("button", purpose === "login" ? "usb.sign_login" : "usb.sign", null, {
      type: "submit",
      class: "button primary",
      testid: "usb-sign",
    });
    const reload = L("button", "usb.refresh", null, {
      type: "button",
      class: "button",
      testid: "usb-refresh",
      on: { click: start },
    });
    form.append(fieldset, note, h("div", { class: "actions" }, signButton, reload));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const chosen = form.querySelector("input[name=certificate]:checked");
      const value = chosen ? chosen.value : "";
      const certificate = sorted.find((c) => c.certificate_id === value);
      if (!certificate) {
        bindKey(note, "usb.pick_first");
        note.hidden = false;
        announce(note.textContent);
        const first = form.querySelector("input[type=radio]");
        if (first) first.focus();
        return;
      }
      lastChoice = certificate.certificate_id;
      sign(form, certificate);
    });
    panel.append(form);
  }

  async function sign(form, certificate) {
    // Keep only the chosen certificate in view while signing; a retry lists them again.
    for (const el of form.querySelectorAll("input, button")) el.disabled = true;
    for (const el of form.querySelectorAll(".cert-option, .hint, .actions")) {
      if (el.dataset.certificateId !== certificate.certificate_id) el.hidden = true;
    }
    for (const el of panel.querySelectorAll(".error")) el.remove();
    const preparing = progress("usb.preparing", "usb-progress");
    panel.append(preparing);
    try {
      const challenge = (await callGateway("POST", "/v1/challenges", { body: { purpose }, signal })).data;
      const prompt = h("section", { class: "pin-prompt", testid: "pin-prompt", role: "status" });
      prompt.append(
        h("span", { class: "spinner", "aria-hidden": "true" }),
        L("h2", "usb.pin_title", null, { testid: "pin-title" }),
        L("p", "usb.pin_text"),
      );
      preparing.replaceWith(prompt);
      // A status element inserted with its text already in it is not read out by every
      // screen reader: said through the live region like every other step.
      announce(t("usb.pin_title"));
      const token = (
        await callAgent(config.agent_url, "POST", "/v1/authenticate", {
          body: { challenge_nonce: challenge.nonce, certificate_id: certificate.certificate_id },
          signal,
          // A person types the PIN meanwhile (the agent closes its dialog after two
          // minutes); past the challenge's five minutes the signature is of no use.
          timeoutMs: 5 * 60_000,
        })
      ).data;
      const verifying = progress("usb.verifying", "usb-progress");
      prompt.replaceWith(verifying);
      const path = purpose === "login" ? "/v1/sessions/token" : "/v1/registrations/token";
      const body = { challenge_id: challenge.challenge_id, auth_token: token };
      if (purpose === "register" && subjectType) body.subject_type = subjectType;
      const answer = (await callGateway("POST", path, { body, signal })).data;
      if (signal.aborted) return;
      onResult(answer, { method: "usb" });
    } catch (e) {
      fail(e);
    }
  }

  start();
}
