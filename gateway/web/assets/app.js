// kyso registration page: start-up (messages, /config.json), the header (navigation,
// language switch) and the hash router. Routes: #/ #/register… #/login… #/account.

import { clear, h } from "./dom.js";
import { L, bindKey, initI18n, language, prune, setLanguage, t } from "./i18n.js";
import { callGateway } from "./api.js";
import { announce, focusError, renderError } from "./errors.js";
import { accountView, homeView, loginView, notFoundView, registerView } from "./views.js";
import { currentSession } from "./session.js";

const VIEWS = {
  "": homeView,
  register: registerView,
  login: loginView,
  account: accountView,
};

let config = null;
let routeController = null;
let firstRoute = true;

const app = {
  sessionChanged() {
    const link = document.getElementById("nav-account");
    if (link) link.hidden = !currentSession();
  },
  reload() {
    route();
  },
};

/** The route's parts ("#/register/citizen" → ["register", "citizen"]), or null when the
 * hash is an in-page anchor (such as the skip link's #main), which is not a route. */
function routeParts() {
  const hash = location.hash;
  if (hash && hash !== "#" && !hash.startsWith("#/")) return null;
  return hash
    .replace(/^#\/?/, "")
    .split("/")
    .filter(Boolean)
    .map((p) => {
      try {
        return decodeURIComponent(p);
      } catch {
        return p;
      }
    });
}

function markNav(section) {
  for (const a of document.querySelectorAll("#nav a[data-route]")) {
    if (a.dataset.route === section) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

function route() {
  const parts = routeParts();
  if (parts === null && !firstRoute) return;
  if (routeController) routeController.abort();
  routeController = new AbortController();
  const main = document.getElementById("main");
  clear(main);
  prune();
  const [section = "", ...rest] = parts || [];
  // Own keys only: "#/constructor" or "#/hasOwnProperty" is no view.
  const view = Object.hasOwn(VIEWS, section) ? VIEWS[section] : notFoundView;
  view(main, rest, { config, signal: routeController.signal }, app);
  markNav(section);
  app.sessionChanged();
  if (!firstRoute) {
    const title = document.getElementById("page-title");
    if (title) title.focus();
  }
  firstRoute = false;
}

async function loadConfig() {
  // Through callGateway for its deadline: a half-open connection ends in Retry, not a
  // page that waits for ever.
  const { data } = await callGateway("GET", "/config.json");
  const body = data || {};
  return {
    agent_url: typeof body.agent_url === "string" && body.agent_url ? body.agent_url : "http://127.0.0.1:18765",
    sim_enabled: body.sim_enabled !== false,
    origin: typeof body.origin === "string" && body.origin ? body.origin : location.origin,
  };
}

function setupHeader() {
  // The skip link moves focus to the content without touching the route.
  const skip = document.querySelector(".skip-link");
  skip.addEventListener("click", (event) => {
    event.preventDefault();
    const target = document.getElementById("page-title") || document.getElementById("main");
    target.focus();
    target.scrollIntoView();
  });
  for (const el of document.querySelectorAll("[data-i18n]")) bindKey(el, el.dataset.i18n);
  for (const el of document.querySelectorAll("[data-i18n-label]")) bindKey(el, el.dataset.i18nLabel, null, "aria-label");
  const buttons = document.querySelectorAll("#lang button[data-lang]");
  const mark = () => {
    for (const b of buttons) b.setAttribute("aria-pressed", String(b.dataset.lang === language()));
  };
  for (const b of buttons) {
    b.addEventListener("click", async () => {
      if (b.dataset.lang === language()) return;
      await setLanguage(b.dataset.lang);
      mark();
      announce(t("lang.changed"));
    });
  }
  mark();
}

async function main() {
  try {
    await initI18n();
  } catch {
    // Without the messages nothing can be said properly; this line is the only text the
    // page writes itself, in both languages.
    const m = document.getElementById("main");
    m.textContent = "Không tải được trang. Vui lòng tải lại. / The page could not be loaded. Please reload.";
    return;
  }
  setupHeader();
  document.body.classList.add("ready");
  const mainEl = document.getElementById("main");
  try {
    config = await loadConfig();
  } catch (e) {
    clear(mainEl);
    mainEl.append(L("h1", "app.start_failed", null, { id: "page-title", tabindex: "-1" }));
    const box = renderError(e, { onRetry: () => location.reload() });
    mainEl.append(box);
    focusError(box);
    return;
  }
  warnIfElsewhere(config.origin);
  window.addEventListener("hashchange", route);
  route();
}

/**
 * A page opened at another address than the gateway's public origin (its IP address, an
 * internal name) cannot succeed: the agent signs for this page's origin, and the gateway
 * accepts only its own. Say so above every view, with the way to the right address.
 */
function warnIfElsewhere(origin) {
  if (!origin || origin.toLowerCase() === location.origin.toLowerCase()) return;
  const notice = h("div", { class: "notice wrong-origin", role: "alert", testid: "wrong-origin" });
  notice.append(
    L("p", "app.wrong_origin", { origin }),
    L("a", "app.wrong_origin_link", { origin }, { href: `${origin}/`, testid: "wrong-origin-link" }),
  );
  document.querySelector(".site-header").after(notice);
}

main();

