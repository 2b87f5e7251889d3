// The page's screens, one per route: #/ (home), #/register[/citizen|enterprise[/usb|sim]],
// #/login[/usb|sim], #/account. Each view fills `main` and stops its work when ctx.signal
// aborts (the route changed).

import { h, clear, isAbort } from "./dom.js";
import { L, bind, formatDate, t } from "./i18n.js";
import { asApiError, callGateway } from "./api.js";
import { announce, focusError, renderError } from "./errors.js";
import { icon } from "./icons.js";
import { usbFlow } from "./usb.js";
import { simFlow } from "./sim.js";
import { renderPreview, renderSuccess, row, boundRow } from "./preview.js";
import { linkedPortals } from "./portals.js";
import { currentSession, forgetSession, openBrowserSession, portalContinuation, saveSession } from "./session.js";

const TYPES = { citizen: "citizen", enterprise: "organization" };
let flash = null;

/** A message shown once by the next view (e.g. "you are logged out"). */
export function setFlash(key) {
  flash = key;
}

function showFlash(main) {
  if (!flash) return;
  main.append(L("p", flash, null, { class: "notice", testid: "flash" }));
  announce(t(flash));
  flash = null;
}

function heading(key) {
  return L("h1", key, null, { tabindex: "-1", id: "page-title" });
}

function choice(href, titleKey, hintKey, testid, iconName) {
  const a = h("a", { href, class: "choice", testid });
  const text = h("span", { class: "choice-text" }, L("span", titleKey, null, { class: "choice-title" }), L("span", hintKey, null, { class: "choice-hint" }));
  a.append(icon(iconName), text);
  return a;
}

function steps(current) {
  const names = ["type", "method", "preview", "done"];
  const list = h("ol", { class: "steps", testid: "steps" });
  const items = names.map((name, i) => {
    const li = h("li", { dataset: { step: String(i + 1) } });
    li.append(h("span", { class: "step-number", "aria-hidden": "true", text: String(i + 1) }), L("span", `steps.${name}`));
    list.append(li);
    return li;
  });
  const nav = h("nav", { class: "steps-nav" }, list);
  bind(nav, () => t("steps.label"), "aria-label");
  const set = (n) => {
    items.forEach((li, i) => {
      li.classList.toggle("done", i + 1 < n);
      li.classList.toggle("current", i + 1 === n);
      if (i + 1 === n) li.setAttribute("aria-current", "step");
      else li.removeAttribute("aria-current");
    });
  };
  set(current);
  return { el: nav, set };
}

export function homeView(main) {
  main.append(heading("home.title"));
  showFlash(main);
  main.append(L("p", "home.intro", null, { class: "lead" }));
  const grid = h("div", { class: "choices" });
  grid.append(
    choice("#/register", "home.register", "home.register_hint", "home-register", "citizen"),
    choice("#/login", "home.login", "home.login_hint", "home-login", "login"),
  );
  if (currentSession()) grid.append(choice("#/account", "home.account", "home.account_hint", "home-account", "account"));
  main.append(grid);
}

export function registerView(main, parts, ctx) {
  const [typeSlug, method] = parts;
  // Own keys only: "__proto__" is no subject type.
  const subjectType = Object.hasOwn(TYPES, typeSlug ?? "") ? TYPES[typeSlug] : undefined;
  main.append(heading("register.title"));
  const progress = steps(1);
  main.append(progress.el);

  if (!subjectType) {
    if (typeSlug) return notFoundView(main);
    const group = h("section", { class: "choose", "aria-labelledby": "choose-type" });
    group.append(
      L("h2", "register.choose_type", null, { id: "choose-type" }),
      h(
        "div",
        { class: "choices" },
        choice("#/register/citizen", "register.citizen", "register.citizen_hint", "choose-citizen", "citizen"),
        choice("#/register/enterprise", "register.enterprise", "register.enterprise_hint", "choose-enterprise", "enterprise"),
      ),
    );
    main.append(group, h("p", { class: "aside" }, L("span", "register.have_account"), " ", L("a", "nav.login", null, { href: "#/login" })));
    return undefined;
  }

  progress.set(2);
  const context = h("p", { class: "context", testid: "register-context" });
  context.append(
    L("span", typeSlug === "enterprise" ? "register.as_enterprise" : "register.as_citizen", null, { class: "context-type" }),
    " · ",
    L("a", method ? "register.change_method" : "register.change_type", null, {
      href: method ? `#/register/${typeSlug}` : "#/register",
      testid: method ? "change-method" : "change-type",
    }),
  );
  main.append(context);

  if (!method) {
    const group = h("section", { class: "choose", "aria-labelledby": "choose-method" });
    group.append(L("h2", "register.ial3", null, { id: "choose-method" }), L("p", "register.ial3_hint", null, { class: "hint" }));
    const choices = h("div", { class: "choices" }, choice(`#/register/${typeSlug}/usb`, "register.usb", "register.usb_hint", "method-usb", "usb"));
    if (ctx.config.sim_enabled) choices.append(choice(`#/register/${typeSlug}/sim`, "register.sim", "register.sim_hint", "method-sim", "sim"));
    group.append(choices);
    if (!ctx.config.sim_enabled) group.append(L("p", "register.sim_disabled", null, { class: "hint", testid: "sim-disabled" }));
    main.append(group);
    return undefined;
  }
  if (method !== "usb" && method !== "sim") return notFoundView(main);
  if (method === "sim" && !ctx.config.sim_enabled) {
    main.append(L("p", "register.sim_disabled", null, { class: "notice", testid: "sim-disabled" }));
    return undefined;
  }

  const area = h("div", { class: "flow-area" });
  main.append(area);
  const run = () => {
    clear(area);
    progress.set(2);
    area.append(L("h2", method === "usb" ? "usb.title" : "sim.title", null, { class: "flow-title" }));
    const flow = method === "usb" ? usbFlow : simFlow;
    flow(area, {
      purpose: "register",
      subjectType,
      config: ctx.config,
      signal: ctx.signal,
      onResult: (preview) => {
        clear(area);
        progress.set(3);
        renderPreview(area, preview, {
          signal: ctx.signal,
          config: ctx.config,
          onRestart: run,
          loginHref: `#/login/${method}`,
          onConfirmed: (created) => {
            clear(area);
            progress.set(4);
            renderSuccess(area, created, `#/login/${method}`);
          },
        });
      },
    });
  };
  run();
  return undefined;
}

export function loginView(main, parts, ctx, app) {
  const [method] = parts;
  main.append(heading("login.title"));
  if (portalContinuation()) main.append(L("p", "login.for_portal", null, { class: "notice", testid: "for-portal" }));
  if (!method) {
    const group = h("section", { class: "choose", "aria-labelledby": "choose-login" });
    const choices = h("div", { class: "choices" }, choice("#/login/usb", "login.usb", "login.usb_hint", "login-usb", "usb"));
    if (ctx.config.sim_enabled) choices.append(choice("#/login/sim", "login.sim", "login.sim_hint", "login-sim", "sim"));
    group.append(L("h2", "login.choose", null, { id: "choose-login" }), choices);
    main.append(group, h("p", { class: "aside" }, L("span", "login.no_account"), " ", L("a", "nav.register", null, { href: "#/register" })));
    return undefined;
  }
  if (method !== "usb" && method !== "sim") return notFoundView(main);
  if (method === "sim" && !ctx.config.sim_enabled) {
    main.append(L("p", "register.sim_disabled", null, { class: "notice", testid: "sim-disabled" }));
    return undefined;
  }
  main.append(
    h("p", { class: "context" }, L("a", "register.change_method", null, { href: "#/login", testid: "change-method" })),
    L("h2", method === "usb" ? "usb.title" : "sim.title", null, { class: "flow-title" }),
  );
  const area = h("div", { class: "flow-area" });
  main.append(area);
  (method === "usb" ? usbFlow : simFlow)(area, {
    purpose: "login",
    config: ctx.config,
    signal: ctx.signal,
    onResult: async (session) => {
      saveSession(session);
      app.sessionChanged();
      const portal = portalContinuation();
      if (!portal) {
        setFlash("login.done");
        location.hash = "#/account";
        return;
      }
      // The login is made; only handing it to the browser failed, so Retry repeats just
      // that, never the proof (another PIN, another push to the phone).
      const handOver = async () => {
        clear(area);
        area.append(h("p", { class: "progress", testid: "to-portal" }, h("span", { class: "spinner", "aria-hidden": "true" }), L("span", "login.to_portal")));
        try {
          await openBrowserSession(session.session_token);
          location.assign(portal);
        } catch (e) {
          clear(area);
          const err = asApiError(e);
          // A login the gateway no longer knows is proven again; any other refusal was
          // of the hand-over alone.
          const onRetry = err.code === "UNAUTHENTICATED" ? () => app.reload() : handOver;
          const box = renderError(err, { config: ctx.config, onRetry });
          area.append(box);
          focusError(box);
        }
      };
      await handOver();
    },
  });
  return undefined;
}

// The account page is a list of sections; each takes the account and gives a <section> or
// null. Sections the API may offer later (certificates used, channel) are added here.
const ACCOUNT_SECTIONS = [
  function identity(account) {
    const s = account.subject || {};
    const dl = h("dl", { class: "facts" });
    dl.append(...boundRow("account.type", () => t(`types.${s.type}`), "account-type"));
    dl.append(...row("account.full_name", s.full_name, "account-name"));
    if (s.identifier) {
      dl.append(
        bind(h("dt"), () => t(`kinds.${s.identifier.kind}`)),
        h("dd", { class: "identifier", testid: "account-identifier", dataset: { kind: s.identifier.kind }, text: s.identifier.value }),
      );
    }
    if (s.aliases && s.aliases.length) {
      const list = h("ul", { class: "plain" });
      for (const a of s.aliases) {
        list.append(h("li", { testid: "account-alias" }, bind(h("span"), () => `${t(`kinds.${a.kind}`)}: `), h("span", { class: "identifier", text: a.value })));
      }
      dl.append(...row("account.aliases", list, "account-aliases"));
    }
    if (s.organization && s.type !== "organization") dl.append(...row("account.organization", s.organization, "account-organization"));
    return ["account.identity", dl];
  },
  function contact(account) {
    const dl = h("dl", { class: "facts" });
    dl.append(...row("account.email", account.email, "account-email"), ...row("account.phone", account.phone, "account-phone"));
    return ["account.contact", dl];
  },
  function assurance(account) {
    const dl = h("dl", { class: "facts" });
    dl.append(
      ...boundRow("account.ial", () => t("account.ial_value", { level: account.ial }), "account-ial"),
      ...boundRow("account.created_at", () => formatDate(account.created_at, true), "account-created"),
      ...row("account.account_id", account.id, "account-id"),
    );
    return ["account.assurance", dl];
  },
];

export function accountView(main, parts, ctx, app) {
  main.append(heading("account.title"));
  showFlash(main);
  const session = currentSession();
  if (!session) {
    main.append(
      L("p", "account.not_logged_in", null, { testid: "not-logged-in" }),
      h("div", { class: "actions" }, L("a", "account.go_login", null, { href: "#/login", class: "button primary", testid: "account-login" })),
    );
    return undefined;
  }
  const loading = h("p", { class: "progress" }, h("span", { class: "spinner", "aria-hidden": "true" }), L("span", "account.loading"));
  main.append(loading);
  (async () => {
    try {
      const account = (await callGateway("GET", "/v1/accounts/me", { token: session.token, signal: ctx.signal })).data;
      loading.remove();
      const wrap = h("div", { class: "account", testid: "account" });
      for (const section of ACCOUNT_SECTIONS) {
        const made = section(account);
        if (!made) continue;
        const [titleKey, body] = made;
        wrap.append(h("section", { class: "card" }, L("h2", titleKey), body));
      }
      wrap.append(linkedPortals(session, ctx));
      if (session.expires_at) {
        wrap.append(bind(h("p", { class: "hint", testid: "session-expires" }), () => t("account.session_expires", { time: formatDate(session.expires_at, true) })));
      }
      let failed = null;
      const logout = L("button", "account.logout", null, {
        type: "button",
        class: "button",
        testid: "logout",
        on: {
          click: async () => {
            logout.disabled = true;
            if (failed) failed.remove();
            // Ends the session at the gateway too (and with it the portals' single
            // sign-on). A session already over is as good as ended; any other failure
            // is not: the gateway may still hold the session (on a shared computer, the
            // next person would be signed in at the portals), so the person is told and
            // may retry, and this tab keeps it.
            try {
              await callGateway("DELETE", "/v1/sessions/current", { token: session.token });
            } catch (e) {
              const error = asApiError(e);
              if (error.code !== "UNAUTHENTICATED") {
                logout.disabled = false;
                failed = renderError(error, { config: ctx.config, onRetry: () => logout.click() });
                logout.parentElement.after(failed);
                focusError(failed);
                return;
              }
            }
            forgetSession();
            app.sessionChanged();
            setFlash("account.logged_out");
            location.hash = "#/";
          },
        },
      });
      wrap.append(h("div", { class: "actions" }, logout));
      main.append(wrap);
    } catch (e) {
      if (isAbort(e) || ctx.signal.aborted) return;
      loading.remove();
      if (e.code === "UNAUTHENTICATED") {
        forgetSession();
        app.sessionChanged();
      }
      const box = renderError(e, { config: ctx.config, onRetry: e.code === "UNAUTHENTICATED" ? undefined : () => app.reload() });
      main.append(box);
      focusError(box);
    }
  })();
  return undefined;
}

export function notFoundView(main) {
  clear(main);
  main.append(
    heading("app.not_found_title"),
    L("p", "app.not_found_text"),
    h("div", { class: "actions" }, L("a", "app.go_home", null, { href: "#/", class: "button primary" })),
  );
  return undefined;
}
