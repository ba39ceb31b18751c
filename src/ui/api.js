// api.js — calls to idflow's HTTP API (docs/api.md).
//
// The API token lives in sessionStorage only (never localStorage, never a
// cookie): it is gone when the tab closes, and no other site can make the
// browser send it. Every call carries it as "Authorization: Bearer ...".
// An error answer becomes an ApiError whose message is the API's own
// "error" field, shown to the user verbatim. A 401 on any call (the token
// was revoked or expired, or the first token closed an open install) is
// reported to the handler set with onUnauthorized, which signs out.

const TOKEN_KEY = 'idflow.token';

export function getToken() {
  try { return sessionStorage.getItem(TOKEN_KEY); } catch { return null; }
}

export function setToken(t) {
  sessionStorage.setItem(TOKEN_KEY, t);
}

export function clearToken() {
  try { sessionStorage.removeItem(TOKEN_KEY); } catch { /* storage disabled: nothing kept */ }
}

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.name = 'ApiError';
    this.status = status; // HTTP status, 0 when idflow could not be reached
    this.body = body;     // the parsed answer, when it was JSON
  }
}

let unauthorized = null;

// fn(message) is called on a 401 answer to any call made with api().
export function onUnauthorized(fn) {
  unauthorized = fn;
}

// One call. opts.token: use this token instead of the stored one (the
// sign-in form's check); opts.noToken: send none; opts.quiet: do not call
// the 401 handler. Resolves to the parsed JSON answer (null when empty).
export async function api(method, path, body, opts = {}) {
  const headers = { Accept: 'application/json' };
  const token = opts.noToken ? null : (opts.token ?? getToken());
  if (token) headers.Authorization = `Bearer ${token}`;
  const init = { method, headers, credentials: 'omit', cache: 'no-store', redirect: 'error' };
  // idflow refuses a request that changes state unless it says JSON (a
  // cross-origin page cannot send that without a preflight): always say it.
  if (method !== 'GET') headers['Content-Type'] = 'application/json';
  if (body !== undefined) init.body = JSON.stringify(body);
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, `cannot reach idflow: ${e.message}`);
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!res.ok) {
    const msg = data && typeof data.error === 'string' ? data.error : `HTTP ${res.status} ${res.statusText}`.trim();
    if (res.status === 401 && !opts.quiet && unauthorized) unauthorized(msg);
    throw new ApiError(res.status, msg, data);
  }
  return data;
}

// "/api/v1/runs?status=failed" from a path and an object of parameters
// (empty values left out).
export function withQuery(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

export const enc = encodeURIComponent;
