// The login session: the gateway's bearer token, kept in sessionStorage (this tab only,
// gone when the tab closes) and never in localStorage or a cookie.

import { callGateway } from "./api.js";

const KEY = "kyso.session";

/** Keeps {session_token, expires_at} of a login. */
export function saveSession(session) {
  sessionStorage.setItem(KEY, JSON.stringify({ token: session.session_token, expires_at: session.expires_at }));
}

/** {token, expires_at} or null when not logged in (or the session has expired). */
export function currentSession() {
  let value = null;
  try {
    value = JSON.parse(sessionStorage.getItem(KEY) || "null");
  } catch {
    value = null;
  }
  if (!value || typeof value.token !== "string" || !value.token) return null;
  const end = Date.parse(value.expires_at);
  if (!Number.isNaN(end) && end <= Date.now()) {
    forgetSession();
    return null;
  }
  return value;
}

/** Logs out: forgets the token. */
export function forgetSession() {
  sessionStorage.removeItem(KEY);
}

/** Where a portal's sign-in continues after login (`?continue=/oidc/authorize?…`), or
 * null. Only the provider's own authorization endpoint: never a redirect elsewhere. */
export function portalContinuation() {
  const target = new URLSearchParams(location.search).get("continue");
  return target && target.startsWith("/oidc/authorize?") ? target : null;
}

/** Hands a fresh login to the gateway as the browser session cookie (HttpOnly: script
 * cannot read it afterwards), so a portal's sign-in can continue. */
export async function openBrowserSession(token) {
  await callGateway("POST", "/oidc/session", { token });
}
