// Who is logged in, read from the engine's script-visible marker cookie (floe-sesh under
// /app: user and role, no token). The session token itself is HttpOnly and never seen here.

export function currentUser() {
  for (const part of document.cookie.split(';')) {
    const [k, ...rest] = part.trim().split('=');
    if (k !== 'floe-sesh') continue;
    const [name, role] = rest.join('=').split(':').map((x) => decodeURIComponent(x || ''));
    if (name) return { name, role: role || 'admin', canWrite: (role || 'admin') === 'admin' };
  }
  return null;
}
