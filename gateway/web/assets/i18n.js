// UI strings from /messages/{lang}.json. Vietnamese is the default; the choice is kept in
// localStorage and ?lang=en (or vi) in the address sets it. Texts are bound to their
// elements so a language switch updates the page in place, without losing the state of a
// registration that is under way.

import { GATEWAY_TIMEOUT_MS, withDeadline } from "./api.js";
import { h } from "./dom.js";

export const LANGUAGES = ["vi", "en"];
const STORAGE_KEY = "kyso.lang";
const LOCALES = { vi: "vi-VN", en: "en-GB" };

const catalogs = {};
let current = "vi";
/** element -> Map(attribute name or "" for text -> function giving the text) */
const bindings = new Map();
const listeners = new Set();

function stored() {
  try {
    return localStorage.getItem(STORAGE_KEY);
  } catch {
    return null;
  }
}

function store(lang) {
  try {
    localStorage.setItem(STORAGE_KEY, lang);
  } catch {
    // Private mode: the choice lasts for this page only.
  }
}

/** The language to start with: ?lang=, else the stored choice, else Vietnamese. */
export function initialLanguage() {
  const asked = new URLSearchParams(location.search).get("lang");
  if (LANGUAGES.includes(asked)) {
    store(asked);
    return asked;
  }
  const saved = stored();
  return LANGUAGES.includes(saved) ? saved : "vi";
}

async function load(lang) {
  if (!catalogs[lang]) {
    const response = await fetch(`/messages/${lang}.json`, {
      cache: "no-cache",
      signal: withDeadline(undefined, GATEWAY_TIMEOUT_MS),
    });
    if (!response.ok) throw new Error(`messages/${lang}.json: HTTP ${response.status}`);
    catalogs[lang] = await response.json();
  }
  return catalogs[lang];
}

/** Loads the starting language (and Vietnamese, the fallback). */
export async function initI18n() {
  current = initialLanguage();
  await load("vi");
  if (current !== "vi") {
    try {
      await load(current);
    } catch {
      current = "vi";
    }
  }
  document.documentElement.lang = current;
}

export function language() {
  return current;
}

export function locale() {
  return LOCALES[current] || "vi-VN";
}

function lookup(catalog, key) {
  let node = catalog;
  for (const part of key.split(".")) {
    if (!node || typeof node !== "object") return undefined;
    node = node[part];
  }
  return node;
}

/** Whether the catalogues have a string for key. */
export function has(key) {
  return typeof lookup(catalogs[current], key) === "string" || typeof lookup(catalogs.vi, key) === "string";
}

/** The string for key in the current language ({name} replaced from params). */
export function t(key, params) {
  let text = lookup(catalogs[current], key);
  if (typeof text !== "string") text = lookup(catalogs.vi, key);
  if (typeof text !== "string") return key;
  if (!params) return text;
  return text.replace(/\{(\w+)\}/g, (whole, name) =>
    Object.prototype.hasOwnProperty.call(params, name) ? String(params[name]) : whole,
  );
}

function apply(el, attr, fn) {
  const value = fn();
  if (attr) el.setAttribute(attr, value);
  else el.textContent = value;
}

/** Sets el's text (or attribute attr) from fn now and after every language switch. */
export function bind(el, fn, attr = "") {
  apply(el, attr, fn);
  let m = bindings.get(el);
  if (!m) {
    m = new Map();
    bindings.set(el, m);
  }
  m.set(attr, fn);
  return el;
}

/** Binds el's text to a message key. */
export function bindKey(el, key, params, attr = "") {
  return bind(el, () => t(key, params), attr);
}

/** A new element whose text is the message key (props as for h()). */
export function L(tag, key, params, props) {
  return bindKey(h(tag, props), key, params);
}

/** Forgets bindings of elements that left the page. */
export function prune() {
  for (const el of bindings.keys()) {
    if (!el.isConnected) bindings.delete(el);
  }
}

/** Switches language, updating every bound text in place. */
export async function setLanguage(lang) {
  if (!LANGUAGES.includes(lang)) return;
  await load(lang);
  current = lang;
  store(lang);
  document.documentElement.lang = lang;
  for (const [el, m] of bindings) {
    for (const [attr, fn] of m) apply(el, attr, fn);
  }
  for (const fn of listeners) fn(lang);
}

export function onLanguageChange(fn) {
  listeners.add(fn);
}

/** A date (ISO 8601 text) as the current language writes it; with time when asked. */
export function formatDate(iso, withTime = false) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  const options = { day: "2-digit", month: "2-digit", year: "numeric" };
  if (withTime) Object.assign(options, { hour: "2-digit", minute: "2-digit" });
  return new Intl.DateTimeFormat(locale(), options).format(date);
}

/** Seconds as "1 phút 05 giây" / "1 min 05 s". */
export function formatDuration(totalSeconds) {
  const s = Math.max(0, Math.floor(totalSeconds));
  const m = Math.floor(s / 60);
  const rest = String(s % 60).padStart(2, "0");
  return m > 0 ? t("time.minutes_seconds", { m, s: rest }) : t("time.seconds", { s });
}
