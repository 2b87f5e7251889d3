// The identity preview the gateway read from the certificate, the contact details, the
// confirmation (POST /v1/registrations/{ticket}/confirm) and the success screen.

import { h, isAbort, uid } from "./dom.js";
import { L, bind, formatDate, t } from "./i18n.js";
import { callGateway } from "./api.js";
import { announce, focusError, renderError } from "./errors.js";
import { caName } from "./format.js";

/** One <dt>/<dd> pair; value is a string or a Node; labelKey a message key. */
export function row(labelKey, value, testid) {
  const dd = h("dd", { testid });
  if (value instanceof Node) dd.append(value);
  else dd.textContent = value === undefined || value === null || value === "" ? "—" : String(value);
  return [L("dt", labelKey), dd];
}

/** A <dd> whose text follows the language (dates, labels). */
export function boundRow(labelKey, fn, testid) {
  return [L("dt", labelKey), bind(h("dd", { testid }), fn)];
}

function identifierRows(subject, prefix) {
  const out = [];
  const id = subject.identifier;
  if (id) {
    out.push([
      bind(h("dt"), () => t(`kinds.${id.kind}`)),
      h("dd", { testid: `${prefix}-${id.kind.toLowerCase()}`, class: "identifier", text: id.value }),
    ]);
  }
  const aliases = subject.aliases || [];
  if (aliases.length) {
    const list = h("ul", { class: "plain" });
    for (const alias of aliases) {
      const li = h("li", { testid: `${prefix}-alias-${alias.kind.toLowerCase()}` });
      li.append(bind(h("span"), () => `${t(`kinds.${alias.kind}`)}: `), h("span", { class: "identifier", text: alias.value }));
      list.append(li);
    }
    out.push(row("preview.aliases", list, `${prefix}-aliases`));
  }
  return out;
}

/**
 * Shows the preview and the contact form in root.
 * options: {signal, config, method, onConfirmed(account), onRestart()}.
 */
export function renderPreview(root, preview, options) {
  const { signal, config, onConfirmed, onRestart, loginHref } = options;
  const subject = preview.subject || {};
  const certificate = preview.certificate || {};
  const isOrg = subject.type === "organization";

  const section = h("section", { class: "preview", testid: "preview", "aria-labelledby": "preview-title" });
  section.append(L("h2", "preview.title", null, { id: "preview-title", tabindex: "-1" }), L("p", "preview.intro", null, { class: "hint" }));

  const identity = h("dl", { class: "facts", testid: "preview-identity" });
  identity.append(...boundRow("preview.type", () => t(`types.${subject.type}`), "preview-type"));
  if (isOrg) {
    identity.append(...row("preview.org_name", subject.organization || subject.full_name, "preview-org-name"));
  } else {
    identity.append(...row("preview.full_name", subject.full_name, "preview-name"));
  }
  for (const pair of identifierRows(subject, "preview")) identity.append(...pair);
  if (!isOrg && subject.organization) identity.append(...row("preview.organization", subject.organization, "preview-organization"));
  identity.append(...boundRow("preview.ial", () => t("preview.ial3"), "preview-ial"));
  section.append(L("h3", "preview.identity"), identity);

  const cert = h("dl", { class: "facts", testid: "preview-certificate" });
  cert.append(
    ...row("preview.ca", caName(certificate.issuer), "preview-ca"),
    ...boundRow("preview.not_before", () => formatDate(certificate.not_before), "preview-not-before"),
    ...boundRow("preview.not_after", () => formatDate(certificate.not_after), "preview-not-after"),
    ...row("preview.serial", certificate.serial, "preview-serial"),
  );
  section.append(L("h3", "preview.certificate"), cert);
  if (preview.expires_at) {
    section.append(
      bind(h("p", { class: "hint", testid: "preview-ticket-expires" }), () =>
        t("preview.ticket_expires", { time: formatDate(preview.expires_at, true) }),
      ),
    );
  }

  // Contact details and the confirmation.
  const form = h("form", { class: "confirm-form", testid: "confirm-form", novalidate: true });
  const emailId = uid("email");
  const emailHint = uid("email-hint");
  const email = h("input", {
    id: emailId,
    type: "email",
    name: "email",
    autocomplete: "email",
    inputmode: "email",
    testid: "email",
    "aria-describedby": emailHint,
    "aria-required": isOrg ? "true" : "false",
  });
  const emailLabel = h("label", { for: emailId });
  emailLabel.append(
    L("span", "confirm.email"),
    " ",
    L("span", isOrg ? "common.required" : "common.optional", null, { class: isOrg ? "tag required" : "tag" }),
  );
  const emailField = h("div", { class: "field" }, emailLabel, L("p", isOrg ? "confirm.email_hint_org" : "confirm.email_hint_citizen", null, { id: emailHint, class: "hint" }), email);
  if (subject.email_in_cert) {
    emailField.append(
      L("button", "confirm.use_cert_email", { email: subject.email_in_cert }, {
        type: "button",
        class: "link-button",
        testid: "use-cert-email",
        on: {
          click: () => {
            email.value = subject.email_in_cert;
            email.focus();
          },
        },
      }),
    );
  }
  const phoneId = uid("phone");
  const phoneHint = uid("phone-hint");
  const phone = h("input", {
    id: phoneId,
    type: "tel",
    name: "phone",
    autocomplete: "tel",
    inputmode: "tel",
    testid: "confirm-phone",
    "aria-describedby": phoneHint,
  });
  const phoneLabel = h("label", { for: phoneId });
  phoneLabel.append(L("span", "confirm.phone"), " ", L("span", "common.optional", null, { class: "tag" }));
  const phoneField = h("div", { class: "field" }, phoneLabel, L("p", "confirm.phone_hint", null, { id: phoneHint, class: "hint" }), phone);
  const submit = L("button", "confirm.submit", null, { type: "submit", class: "button primary", testid: "register-submit" });
  const restart = L("button", "common.start_over", null, { type: "button", class: "button", testid: "start-over", on: { click: onRestart } });
  form.append(L("h3", "confirm.contact"), emailField, phoneField, h("div", { class: "actions" }, submit, restart));
  section.append(form);
  root.append(section);

  let busy = false;
  // Whether a confirmation went out and no answer came back: it may have created the
  // account, and the ticket it used is then gone.
  let unanswered = false;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (busy) return;
    busy = true;
    for (const el of form.querySelectorAll(".error, .progress")) el.remove();
    email.removeAttribute("aria-invalid");
    phone.removeAttribute("aria-invalid");
    const body = {};
    if (email.value.trim()) body.email = email.value.trim();
    if (phone.value.trim()) body.phone = phone.value.trim();
    submit.disabled = true;
    const working = h("p", { class: "progress", testid: "confirm-progress" }, h("span", { class: "spinner", "aria-hidden": "true" }), L("span", "confirm.submitting"));
    form.append(working);
    try {
      const created = (
        await callGateway("POST", `/v1/registrations/${encodeURIComponent(preview.ticket)}/confirm`, { body, signal })
      ).data;
      onConfirmed(created);
    } catch (e) {
      if (isAbort(e) || signal.aborted) return;
      working.remove();
      submit.disabled = false;
      busy = false;
      const field = e.code === "EMAIL_REQUIRED" || e.code === "INVALID_EMAIL" ? email : e.code === "INVALID_PHONE" ? phone : null;
      const expired = e.code === "TICKET_NOT_FOUND";
      const perhapsCreated = expired && unanswered && loginHref;
      if (e.code === "NETWORK_ERROR") unanswered = true;
      const box = renderError(e, {
        config,
        onRetry: expired ? onRestart : undefined,
        retryKey: expired ? "common.start_over" : undefined,
        extraActions: perhapsCreated
          ? [L("a", "success.login", null, { href: loginHref, class: "button", testid: "go-login" })]
          : undefined,
      });
      if (perhapsCreated) {
        box
          .querySelector(".error-guidance")
          .after(L("p", "confirm.perhaps_created", null, { class: "error-extra", testid: "confirm-perhaps-created" }));
      }
      if (field) {
        field.setAttribute("aria-invalid", "true");
        const errId = uid("field-error");
        box.id = errId;
        field.setAttribute("aria-describedby", `${field.getAttribute("aria-describedby")} ${errId}`);
        box.classList.add("field-problem");
        field.after(box);
        announce(`${box.querySelector(".error-title").textContent} ${box.querySelector(".error-guidance").textContent}`);
        field.focus();
      } else {
        form.append(box);
        focusError(box);
      }
    }
  });
  section.querySelector("h2").focus();
  return section;
}

/** The success screen after a confirmation; loginHref leads to the login with the same method. */
export function renderSuccess(root, created, loginHref) {
  const subject = created.subject || {};
  const section = h("section", { class: "success", testid: "register-success", "aria-labelledby": "success-title" });
  section.append(
    L("h2", "success.title", null, { id: "success-title", tabindex: "-1" }),
    L("p", "success.text"),
  );
  const facts = h("dl", { class: "facts" });
  facts.append(...row("success.account_id", created.account_id, "account-id"));
  facts.append(...row(subject.type === "organization" ? "preview.org_name" : "preview.full_name", subject.organization || subject.full_name, "success-name"));
  for (const pair of identifierRows(subject, "success")) facts.append(...pair);
  facts.append(...boundRow("success.created_at", () => formatDate(created.created_at, true), "success-created-at"));
  section.append(facts);
  section.append(h("div", { class: "actions" }, L("a", "success.login", null, { href: loginHref, class: "button primary", testid: "go-login" })));
  root.append(section);
  announce(t("success.announce"));
  section.querySelector("h2").focus();
  return section;
}
