// Small DOM helpers: elements without innerHTML (values from runs are never parsed as HTML),
// local times with relative durations, and the notice banner.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// Makes el show `children` while keeping every element still there (same tag, id and
// data-node). A live redraw then loses nothing the user is doing: a click whose mousedown
// landed on a replaced element and whose mouseup landed on its replacement is no click at all,
// and focus would drop to the page. Kept elements keep their listeners; an element showing a
// different node is replaced, so a listener always acts on the node its element shows.
export function morph(el, ...children) {
  patchChildren(el, h('div', {}, children));
  return el;
}

function same(a, b) {
  if (a.nodeType !== b.nodeType || a.nodeName !== b.nodeName) return false;
  return a.nodeType !== Node.ELEMENT_NODE
    || (a.id === b.id && a.getAttribute('data-node') === b.getAttribute('data-node'));
}

function patchChildren(old, next) {
  const have = [...old.childNodes];
  const want = [...next.childNodes];
  if (have.length !== want.length || want.some((c, i) => !same(have[i], c))) {
    old.replaceChildren(...want);
    return;
  }
  want.forEach((c, i) => patch(have[i], c));
}

function patch(old, next) {
  if (old.nodeType !== Node.ELEMENT_NODE) {
    if (old.data !== next.data) old.data = next.data;
    return;
  }
  for (const a of [...old.attributes]) if (!next.hasAttribute(a.name)) old.removeAttribute(a.name);
  for (const a of next.attributes) if (old.getAttribute(a.name) !== a.value) old.setAttribute(a.name, a.value);
  patchChildren(old, next);
}

// Go's zero time means "not yet".
export function parseTime(s) {
  if (!s || s.startsWith('0001-01-01')) return null;
  const d = new Date(s);
  return isNaN(d) ? null : d;
}

export function duration(ms) {
  if (ms < 0) ms = 0;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  const hr = Math.floor(m / 60);
  if (hr < 48) return `${hr} h ${m % 60} min`;
  return `${Math.floor(hr / 24)} d ${hr % 24} h`;
}

export function ago(d) {
  const ms = Date.now() - d.getTime();
  return ms < 5000 ? 'just now' : `${duration(ms).replace(/ \d+ (s|min)$/, '')} ago`;
}

// A <time> in the browser's zone: "14:03:07 (5 min ago)"; ticks with the page.
export function timeEl(s) {
  const d = parseTime(s);
  if (!d) return h('span', { class: 'muted', text: '–' });
  const sameDay = d.toDateString() === new Date().toDateString();
  const local = sameDay ? d.toLocaleTimeString() : d.toLocaleString();
  return h('time', { datetime: d.toISOString(), title: d.toLocaleString(), 'data-ago': d.getTime() },
    h('span', { class: 'clock', text: local }), h('span', { class: 'muted ago' }, ` (${ago(d)})`));
}

// How long a run or node took, or has taken so far (ticking while it runs).
export function durationEl(start, stop) {
  const a = parseTime(start);
  if (!a) return h('span', { class: 'muted', text: '–' });
  const b = parseTime(stop);
  if (b) return h('span', { text: duration(b - a) });
  return h('span', { 'data-since': a.getTime(), text: duration(Date.now() - a) });
}

export function tick(root) {
  for (const el of root.querySelectorAll('[data-since]')) {
    el.textContent = duration(Date.now() - Number(el.dataset.since));
  }
  for (const el of root.querySelectorAll('[data-ago] .ago')) {
    el.textContent = ` (${ago(new Date(Number(el.parentElement.dataset.ago)))})`;
  }
}

export function badge(status) {
  const s = status || 'idle';
  return h('span', { class: `badge s-${s.replace(/\s+/g, '-')}`, 'data-status': s, text: s });
}

// A visible message for every failure; `ok` messages fade on their own.
export function notify(text, { ok = false, key = '' } = {}) {
  const box = document.getElementById('notices');
  if (key) box.querySelector(`[data-key="${CSS.escape(key)}"]`)?.remove();
  const note = h('div', { class: ok ? 'notice ok' : 'notice', role: ok ? 'status' : 'alert', 'data-key': key || null },
    h('p', { text }),
    h('button', { type: 'button', 'aria-label': 'Dismiss', text: '×', onclick: () => note.remove() }));
  box.append(note);
  if (ok) setTimeout(() => note.remove(), 4000);
  return note;
}

export function clearNotices() {
  document.getElementById('notices').replaceChildren();
}

// Opts keys are matched case-insensitively, as the engine does.
export function opt(obj, key) {
  if (!obj || typeof obj !== 'object') return undefined;
  const want = key.toLowerCase();
  for (const [k, v] of Object.entries(obj)) if (k.toLowerCase() === want) return v;
  return undefined;
}
