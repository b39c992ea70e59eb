// The public REST API: JSON envelopes, a timeout, and 401 handing the user to the login page.

export const API_BASE = (() => {
  const v = document.querySelector('meta[name="floe-api-base"]')?.content || '';
  return v && !v.startsWith('__') ? v.replace(/\/$/, '') : '/build/api';
})();
const TIMEOUT_MS = 10000;

export class ApiError extends Error {
  constructor(status, message, payload) {
    super(message);
    this.status = status;
    this.payload = payload;
  }
}

let onUnauthorized = () => {};
export function setUnauthorizedHandler(fn) { onUnauthorized = fn; }

export async function call(method, path, body) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), TIMEOUT_MS);
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let r;
  try {
    r = await fetch(API_BASE + path, {
      method, headers, credentials: 'same-origin', signal: ctl.signal,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, e.name === 'AbortError'
      ? `the engine did not answer within ${TIMEOUT_MS / 1000} s`
      : 'cannot reach the engine (is it running?)');
  } finally {
    clearTimeout(timer);
  }
  let doc = null;
  try { doc = await r.json(); } catch { /* not JSON: described by the status below */ }
  if (r.status === 401 && path !== '/login') {
    onUnauthorized(doc?.Message || 'session ended');
    throw new ApiError(401, 'you are not logged in', null);
  }
  if (!r.ok) {
    const detail = typeof doc?.Payload === 'string' && doc.Payload ? `: ${doc.Payload}` : '';
    throw new ApiError(r.status, (doc?.Message || r.statusText || 'request failed') + detail, doc?.Payload);
  }
  return doc || { Message: 'OK', Payload: null };
}

export const get = async (path) => (await call('GET', path)).Payload;
export const post = (path, body) => call('POST', path, body ?? {});

export const enc = encodeURIComponent;
export const flowPath = (fid) => `/flows/${enc(fid)}`;
export const runPath = (fid, rid) => `/flows/${enc(fid)}/runs/${enc(rid)}`;
export const runId = (ref) => `${ref.Run.HostID}-${ref.Run.ID}`;
