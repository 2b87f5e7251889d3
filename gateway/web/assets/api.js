// Calls to the gateway (same origin, JSON API) and to the local signing agent
// (kyso-shim serve, cross-origin with CORS). Every failure becomes an ApiError carrying a
// stable code: the gateway's and the agent's own codes, or the page's AGENT_UNREACHABLE
// and NETWORK_ERROR when nothing usable came back.

const CODE = /^[A-Z][A-Z0-9_]{1,63}$/;

/**
 * How long a gateway call may take unless its caller says otherwise (a long poll does):
 * past a revocation check's whole budget (three calls of at most 15 s each).
 */
export const GATEWAY_TIMEOUT_MS = 60_000;

/** How long an agent call may take unless its caller says otherwise (a PIN dialog does). */
export const AGENT_TIMEOUT_MS = 15_000;

/**
 * The caller's signal, if any, combined with a deadline: a call on a half-open connection
 * ends as a failure the person can retry instead of a page that waits for ever. Made by
 * hand rather than with AbortSignal.any, which browsers before 2024 lack.
 */
export function withDeadline(signal, timeoutMs) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  const stop = () => {
    clearTimeout(timer);
    controller.abort();
  };
  if (signal) {
    if (signal.aborted) stop();
    else signal.addEventListener("abort", stop, { once: true });
  }
  return controller.signal;
}

/** Whether the caller's own signal (a navigation) ended the call, not the deadline. */
function abortedByCaller(signal) {
  return Boolean(signal && signal.aborted);
}

export class ApiError extends Error {
  constructor(code, { status, title, detail, retriesLeft, retryAfter, source } = {}) {
    super(`${code}${detail ? `: ${detail}` : ""}`);
    this.name = "ApiError";
    this.code = code;
    this.status = status;
    this.title = typeof title === "string" ? title : undefined;
    this.detail = typeof detail === "string" ? detail : undefined;
    this.retriesLeft = Number.isInteger(retriesLeft) ? retriesLeft : undefined;
    this.retryAfter = retryAfter || undefined;
    this.source = source;
  }

  /** For VERIFICATION_FAILED: the precise code the detail starts with ("CERT_REVOKED: …"). */
  get preciseCode() {
    const m = this.detail && /^([A-Z][A-Z0-9_]+):/.exec(this.detail);
    return m && m[1] !== this.code ? m[1] : undefined;
  }
}

/** The ApiError a refusal from the gateway ("gateway") or the agent ("agent") stands for. */
export async function problemOf(response, source) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  let code = body && typeof body.code === "string" && CODE.test(body.code) ? body.code : undefined;
  if (!code) code = response.status === 429 ? "RATE_LIMITED" : source === "agent" ? "TOKEN_ERROR" : "NETWORK_ERROR";
  return new ApiError(code, {
    status: response.status,
    title: body && body.title,
    detail: body && body.detail,
    retriesLeft: body && body.retries_left,
    retryAfter: response.headers.get("retry-after"),
    source,
  });
}

async function jsonOf(response, source, failCode) {
  try {
    return await response.json();
  } catch {
    throw new ApiError(failCode, { status: response.status, detail: "the answer is not JSON", source });
  }
}

/**
 * A gateway call: callGateway("POST", "/v1/challenges", {body, token, signal, timeoutMs}).
 * Resolves to {status, data}; rejects with ApiError (NETWORK_ERROR past the deadline) or,
 * when the caller's signal aborted it, an AbortError.
 */
export async function callGateway(method, path, { body, token, signal, timeoutMs = GATEWAY_TIMEOUT_MS } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: withDeadline(signal, timeoutMs),
      cache: "no-store",
      credentials: "same-origin",
      redirect: "error",
    });
  } catch (e) {
    if (abortedByCaller(signal)) throw e;
    throw new ApiError("NETWORK_ERROR", { detail: String(e && e.message), source: "gateway" });
  }
  if (!response.ok) throw await problemOf(response, "gateway");
  if (response.status === 204) return { status: 204, data: null };
  return { status: response.status, data: await jsonOf(response, "gateway", "NETWORK_ERROR") };
}

/**
 * A call to the signing agent at agentUrl. Only Content-Type is sent (the agent's CORS
 * preflight allows no other header); no credentials. A failed fetch means the agent is not
 * running, or does not allow this origin (its ORIGIN_NOT_ALLOWED carries no CORS headers, so
 * the browser cannot tell the two apart): AGENT_UNREACHABLE. (A CALLER_NOT_ALLOWED, from
 * another user's agent on the port, carries them and is read.)
 */
export async function callAgent(agentUrl, method, path, { body, signal, timeoutMs = AGENT_TIMEOUT_MS } = {}) {
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(agentUrl.replace(/\/+$/, "") + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: withDeadline(signal, timeoutMs),
      mode: "cors",
      credentials: "omit",
      cache: "no-store",
      redirect: "error",
    });
  } catch (e) {
    if (abortedByCaller(signal)) throw e;
    throw new ApiError("AGENT_UNREACHABLE", { detail: String(e && e.message), source: "agent" });
  }
  if (!response.ok) throw await problemOf(response, "agent");
  return { status: response.status, data: await jsonOf(response, "agent", "TOKEN_ERROR") };
}

/** Any thrown value as an ApiError (programming errors become UNKNOWN). */
export function asApiError(e) {
  if (e instanceof ApiError) return e;
  return new ApiError("UNKNOWN", { detail: String((e && e.message) || e), source: "page" });
}
