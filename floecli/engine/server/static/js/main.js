// The single-page app: routes of floe-reference §6.8 under /app, the header, the websocket.

import { get, post, setUnauthorizedHandler } from './api.js';
import { clearNotices, notify, tick } from './dom.js';
import { Live } from './live.js';
import { currentUser } from './session.js';
import * as dash from './pages/dash.js';
import * as flow from './pages/flow.js';
import * as login from './pages/login.js';
import * as run from './pages/run.js';
import * as settings from './pages/settings.js';

const APP = '/app';
const routes = [
  [/^\/login$/, login],
  [/^\/dash$/, dash],
  [/^\/flows\/([^/]+)$/, flow],
  [/^\/flows\/([^/]+)\/runs\/([^/]+)$/, run],
  [/^\/settings$/, settings],
];

const main = document.getElementById('main');
let page = null; // {onEvent, catchUp, unmount} of the page on screen

const live = new Live({
  onEvent: (evt) => page?.onEvent?.(evt),
  onOpen: () => { page?.catchUp?.(); checkHealth(); },
  onRefused: () => get('/hosts').catch(() => {}), // a 401 here means log in again
  onState: (state) => {
    const el = document.getElementById('live');
    el.className = state === 'on' ? 'live on' : 'live';
    el.textContent = { on: 'live', connecting: 'connecting', reconnecting: 'reconnecting…', off: 'offline' }[state];
  },
});

export function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', path);
  else if (path !== location.pathname + location.search) history.pushState(null, '', path);
  render();
}

function toLogin() {
  const here = location.pathname + location.search;
  const next = here.startsWith(`${APP}/login`) ? '' : `?next=${encodeURIComponent(here)}`;
  navigate(`${APP}/login${next}`, { replace: true });
}

setUnauthorizedHandler(() => {
  live.stop();
  if (!location.pathname.startsWith(`${APP}/login`)) {
    notify('Your session has ended: log in again to carry on where you were.', { key: 'session' });
    toLogin();
  }
});

function header() {
  const user = currentUser();
  const nav = document.getElementById('nav');
  nav.hidden = !user;
  document.getElementById('who').textContent = user ? `${user.name} (${user.role})` : '';
  for (const a of nav.querySelectorAll('a')) {
    if (location.pathname.startsWith(a.getAttribute('href'))) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

function render() {
  const path = location.pathname.startsWith(APP) ? location.pathname.slice(APP.length) : '';
  if (path === '' || path === '/') { navigate(`${APP}/dash`, { replace: true }); return; }
  const found = routes.find(([re]) => re.test(path));
  page?.unmount?.();
  page = null;
  if (found && found[1] !== login && !currentUser()) { toLogin(); return; }
  header();
  if (!found) {
    main.replaceChildren();
    const p = document.createElement('p');
    p.textContent = `There is no page ${location.pathname}.`;
    main.append(p);
    return;
  }
  if (found[1] === login) live.stop(); else live.start();
  const params = found[0].exec(path).slice(1).map(decodeURIComponent);
  main.replaceChildren();
  page = found[1].mount(main, params, { navigate, live }) || null;
}

// In-app links move without a reload; modified clicks keep the browser's own behaviour.
document.addEventListener('click', (e) => {
  const a = e.target.closest?.('a[href]');
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  if (a.origin !== location.origin || !a.pathname.startsWith(`${APP}/`) || a.target) return;
  e.preventDefault();
  clearNotices();
  navigate(a.pathname + a.search);
  main.focus({ preventScroll: true });
});
window.addEventListener('popstate', render);
// Graphs lay out across or down by the screen's width: redraw when that changes.
window.matchMedia('(min-width: 760px)').addEventListener('change', () => page?.onResize?.());

document.getElementById('logout').addEventListener('click', async () => {
  try {
    await post('/logout');
  } catch (e) {
    if (e.status !== 401) { notify(`Could not log out: ${e.message}`); return; }
  }
  live.stop();
  navigate(`${APP}/login`);
});

// While the run store cannot save (a full disk), every page says so: new runs are refused
// until it can, and what runs is kept and saved once it can (GET /health: 503 meanwhile).
const HEALTH_EVERY_MS = 5000;
async function checkHealth() {
  const banner = document.getElementById('store-health');
  if (!currentUser()) { banner.hidden = true; return; }
  try {
    await get('/health');
    banner.hidden = true;
  } catch (e) {
    if (e.status !== 503) return; // offline or logged out: said elsewhere
    banner.textContent = `${e.message}. New runs are refused until it can save again; `
      + 'runs already going are kept and saved then, with every log line.';
    banner.hidden = false;
  }
}

setInterval(() => tick(main), 1000);
setInterval(checkHealth, HEALTH_EVERY_MS);
render();
checkHealth();
