// A node's log: renders only the tail (long logs stay responsive), follows new lines while
// scrolled to the bottom, and fetches earlier lines from the API on demand.

import { API_BASE, enc, get, runPath } from './api.js';
import { h, notify } from './dom.js';

const TAIL = 1000;
const MORE = 5000;

// What the page knows of one node's log: `lines` are lines first.. of the stored log (the run
// view brings the tail, the websocket appends, "Show earlier" prepends).
export function logBuffer(lines = [], total = lines.length, truncated = 0) {
  return { lines: [...lines], first: Math.max(0, total - lines.length), truncated };
}

export class LogView {
  constructor() {
    this.buf = logBuffer();
    this.shown = TAIL;
    this.pending = false;
    this.where = null;
    this.pre = h('pre', { tabindex: '0', 'aria-label': 'log output', 'data-log': '' });
    this.count = h('span', { 'aria-live': 'off' });
    this.earlier = h('button', { type: 'button', hidden: true, onclick: () => this.showMore() });
    this.jump = h('button', { type: 'button', hidden: true, text: 'Follow ↓', onclick: () => this.toEnd() });
    this.raw = h('a', { target: '_blank', rel: 'noopener', text: 'whole log (JSON)' });
    this.title = h('strong');
    this.el = h('div', { class: 'log', id: 'log' },
      h('div', { class: 'log-bar' }, this.title, this.count, h('span', { class: 'spacer' }),
        this.earlier, this.jump, this.raw),
      this.pre);
    this.pre.addEventListener('scroll', () => { this.jump.hidden = this.atEnd(); });
  }

  // `buf` is live: the page appends to buf.lines and calls changed().
  show(fid, rid, node, label, buf) {
    this.buf = buf;
    this.where = { fid, rid, node };
    this.shown = TAIL;
    this.title.textContent = label;
    this.raw.href = `${API_BASE}${runPath(fid, rid)}/logs?node=${enc(node)}&offset=0&limit=0`;
    this.el.dataset.node = node;
    this.render(true);
  }

  atEnd() {
    const p = this.pre;
    return p.scrollHeight - p.scrollTop - p.clientHeight < 24;
  }

  toEnd() {
    this.pre.scrollTop = this.pre.scrollHeight;
    this.jump.hidden = true;
  }

  async showMore() {
    const buf = this.buf;
    const inMemory = buf.lines.length - this.shown;
    if (inMemory < MORE && buf.first > 0) {
      const { fid, rid, node } = this.where;
      const offset = Math.max(0, buf.first - (MORE - Math.max(0, inMemory)));
      this.earlier.disabled = true;
      try {
        const got = await get(`${runPath(fid, rid)}/logs?node=${enc(node)}&offset=${offset}&limit=${buf.first - offset}`);
        if (buf !== this.buf) return; // another node was picked meanwhile
        const older = got?.[node] || [];
        buf.lines = [...older, ...buf.lines];
        buf.first = offset;
      } catch (e) {
        if (e.status !== 401) notify(`Could not fetch earlier lines: ${e.message}`);
        return;
      } finally {
        this.earlier.disabled = false;
      }
    }
    const before = this.pre.scrollHeight;
    const top = this.pre.scrollTop;
    this.shown += MORE;
    this.render(false, true);
    // The lines in view stay in view, the revealed ones just above them.
    this.pre.scrollTop = top + this.pre.scrollHeight - before;
    this.jump.hidden = this.atEnd();
  }

  changed() {
    if (this.pending) return;
    this.pending = true; // one render per frame however fast lines arrive
    requestAnimationFrame(() => { this.pending = false; this.render(false); });
  }

  render(follow, hold = false) {
    const follows = !hold && (follow || this.atEnd());
    const { lines, first, truncated } = this.buf;
    const n = lines.length;
    const from = Math.max(0, n - this.shown);
    this.pre.textContent = n ? lines.slice(from).join('\n') : '';
    if (!n) this.pre.append(h('span', { class: 'muted', text: 'no output yet' }));
    const total = first + n;
    this.count.textContent = `${total} line${total === 1 ? '' : 's'}` +
      (truncated ? ` (${truncated} more past the log cap, in the engine's log file)` : '');
    const hidden = from + first;
    this.earlier.hidden = hidden === 0;
    this.earlier.textContent = `Show ${Math.min(MORE, hidden)} earlier of ${hidden} hidden`;
    if (follows) this.toEnd();
    else this.jump.hidden = this.atEnd();
  }
}
