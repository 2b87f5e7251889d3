// The signing-SIM proof, for registration and login: the phone number, the operator's push
// to the phone, the 4-digit verification code shown large with a countdown (the person
// compares it with the code on the phone and confirms with the SIM PIN there), and long
// polling of the gateway until the result: a preview (register) or a session (login).

import { h, clear, isAbort, sleep, uid } from "./dom.js";
import { L, bind, formatDuration, t } from "./i18n.js";
import { ApiError, callGateway } from "./api.js";
import { announce, focusError, renderError } from "./errors.js";

const POLL_WAIT_SECONDS = 25;
// A poll refused for a moment is asked again, for the same session: the person may be
// confirming on the phone right now, and a new request would meet BUSY.
const TRANSIENT = new Set(["NETWORK_ERROR", "RATE_LIMITED", "OVERLOADED", "STORAGE_UNAVAILABLE"]);
const TRANSIENT_RETRIES = 8;

/** Seconds to wait before asking again after the failures-th transient refusal `e`. */
function backoff(e, failures) {
  const said = /^\d+$/.test(e.retryAfter || "") ? Number(e.retryAfter) : 2 * failures;
  return Math.min(30, Math.max(1, said));
}

/**
 * Runs the SIM proof inside root.
 * options: {purpose: "register"|"login", subjectType, config, signal, onResult(data)}.
 */
export function simFlow(root, options) {
  const { purpose, subjectType, config, signal, onResult } = options;
  const base = purpose === "login" ? "/v1/sessions/sim" : "/v1/registrations/sim";
  const panel = h("div", { class: "flow sim-flow", testid: "sim-flow" });
  root.append(panel);
  let phone = "";

  function showForm(notice) {
    clear(panel);
    const form = h("form", { class: "sim-form", testid: "sim-form", novalidate: true });
    const inputId = uid("sim-phone");
    const hintId = uid("sim-phone-hint");
    const input = h("input", {
      id: inputId,
      type: "tel",
      name: "phone",
      inputmode: "tel",
      autocomplete: "tel",
      required: true,
      "aria-describedby": hintId,
      testid: "sim-phone",
      props: { value: phone },
    });
    form.append(
      h("div", { class: "field" }, L("label", "sim.phone_label", null, { for: inputId }), L("p", "sim.phone_hint", null, { id: hintId, class: "hint" }), input),
      h("div", { class: "actions" }, L("button", "sim.submit", null, { type: "submit", class: "button primary", testid: "sim-submit" })),
    );
    if (notice) form.prepend(L("p", notice, null, { class: "notice", testid: "sim-notice" }));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      phone = input.value.trim();
      start(form, input);
    });
    panel.append(form);
    return input;
  }

  function fail(e, input) {
    if (isAbort(e) || signal.aborted) return;
    for (const el of panel.querySelectorAll(".progress, .error")) el.remove();
    if (input && (e.code === "INVALID_PHONE" || e.code === "NOT_ENROLLED")) {
      input.setAttribute("aria-invalid", "true");
    }
    const box = renderError(e, {
      config,
      onRetry: () => {
        const field = showForm();
        field.focus();
      },
    });
    panel.append(box);
    focusError(box);
  }

  async function start(form, input) {
    for (const el of panel.querySelectorAll(".error")) el.remove();
    input.removeAttribute("aria-invalid");
    if (!phone) {
      fail(new ApiError("INVALID_PHONE", { source: "page" }), input);
      return;
    }
    for (const el of form.querySelectorAll("input, button")) el.disabled = true;
    const sending = h("p", { class: "progress", testid: "sim-progress" }, h("span", { class: "spinner", "aria-hidden": "true" }), L("span", "sim.sending"));
    form.append(sending);
    announce(t("sim.sending"));
    const body = { phone };
    if (purpose === "register" && subjectType) body.subject_type = subjectType;
    let started;
    try {
      started = (await callGateway("POST", base, { body, signal })).data;
    } catch (e) {
      for (const el of form.querySelectorAll("input, button")) el.disabled = false;
      fail(e, input);
      return;
    }
    waitForPhone(started);
  }

  function waitForPhone(started) {
    clear(panel);
    const local = new AbortController();
    let timer = 0;
    const stop = () => {
      clearInterval(timer);
      local.abort();
      signal.removeEventListener("abort", stop);
    };
    // Leaving the page (another route) stops the countdown and the polling too.
    signal.addEventListener("abort", stop, { once: true });

    const labelId = uid("sim-code-label");
    const box = h("section", { class: "sim-wait", testid: "sim-wait", "aria-labelledby": labelId });
    const code = String(started.verification_code || "");
    box.append(
      L("h2", "sim.code_label", null, { id: labelId, class: "sim-code-label" }),
      h("p", { class: "sim-code", testid: "sim-code", text: code }),
      L("p", "sim.instruction", null, { class: "sim-instruction", testid: "sim-instruction" }),
      L("p", "sim.instruction_pin", null, { class: "sim-instruction strong" }),
    );
    const countdown = h("p", { class: "countdown", role: "timer", "aria-live": "off", testid: "sim-countdown" });
    const end = Date.parse(started.expires_at);
    const total = Math.max(1, Math.round((end - Date.now()) / 1000));
    const bar = h("progress", { class: "countdown-bar", max: String(total), value: String(total), "aria-hidden": "true" });
    const tick = () => {
      const left = Math.round((end - Date.now()) / 1000);
      bar.value = Math.max(0, left);
      bind(countdown, () => (left > 0 ? t("sim.time_left", { time: formatDuration(left) }) : t("sim.time_up")));
    };
    tick();
    if (!Number.isNaN(end)) timer = setInterval(tick, 1000);
    const waiting = h("p", { class: "progress" }, h("span", { class: "spinner", "aria-hidden": "true" }), L("span", "sim.waiting"));
    const cancel = L("button", "sim.cancel", null, {
      type: "button",
      class: "button",
      testid: "sim-cancel",
      on: {
        click: () => {
          stop();
          const field = showForm("sim.cancelled");
          announce(t("sim.cancelled"));
          field.focus();
        },
      },
    });
    box.append(countdown, bar, waiting, h("div", { class: "actions" }, cancel));
    panel.append(box);
    announce(t("sim.code_announce", { code: code.split("").join(" ") }));
    cancel.focus();

    const showFailure = (e) => {
      stop();
      if (isAbort(e) || signal.aborted) return;
      box.remove();
      const errorBox = renderError(e, {
        config,
        // A refusal of the polling, not of the session: go on waiting for the same one
        // while the person may still answer on the phone; after that, start again (a
        // session that cannot be read at all must not hold the person there).
        onRetry: () => {
          if (TRANSIENT.has(e.code) && Date.now() < end) {
            waitForPhone(started);
            return;
          }
          const field = showForm();
          field.focus();
        },
      });
      panel.append(errorBox);
      focusError(errorBox);
    };

    (async () => {
      let failures = 0;
      for (;;) {
        const asked = Date.now();
        let answer;
        try {
          answer = (
            await callGateway("GET", `${base}/${encodeURIComponent(started.session_id)}?wait=${POLL_WAIT_SECONDS}`, {
              signal: local.signal,
              // The gateway holds the read for the wait: the deadline is past it.
              timeoutMs: (POLL_WAIT_SECONDS + 15) * 1000,
            })
          ).data;
          failures = 0;
        } catch (e) {
          if (isAbort(e) || local.signal.aborted) return;
          if (TRANSIENT.has(e.code) && failures < TRANSIENT_RETRIES) {
            failures += 1;
            try {
              await sleep(1000 * backoff(e, failures), local.signal);
            } catch {
              return;
            }
            continue;
          }
          showFailure(e);
          return;
        }
        if (local.signal.aborted) return;
        if (answer.state === "complete") {
          stop();
          onResult(answer, { method: "sim" });
          return;
        }
        if (answer.state !== "pending") {
          showFailure(new ApiError("UNKNOWN", { detail: `unexpected state ${answer.state}`, source: "gateway" }));
          return;
        }
        if (Date.now() - asked < 1000) {
          try {
            await sleep(1000, local.signal);
          } catch {
            return;
          }
        }
      }
    })();
  }

  showForm();
}
