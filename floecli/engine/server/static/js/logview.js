// A node's log: renders only the tail (long logs stay responsive), follows new lines while
// scrolled to the bottom, and shows earlier lines on demand.

import { API_BASE, enc } from './api.js';
import { h } from './dom.js';

const TAIL = 1000;
const MORE = 5000;

export class LogView {
  constructor() {
    this.lines = [];
    this.shown = TAIL;
    this.pending = false;
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

  // `lines` is the live array: the page appends to it and calls changed().
  show(fid, rid, node, label, lines) {
    this.lines = lines;
    this.shown = TAIL;
    this.title.textContent = label;
    this.raw.href = `${API_BASE}/flows/${enc(fid)}/runs/${enc(rid)}/logs?node=${enc(node)}`;
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

  showMore() {
    const before = this.pre.scrollHeight;
    const top = this.pre.scrollTop;
    this.shown += MORE;
    this.render(false, true);
    // The line that was at the top stays there, the revealed ones just above it; it stops
    // following new lines until the user scrolls back to the end.
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
    const n = this.lines.length;
    const from = Math.max(0, n - this.shown);
    this.pre.textContent = n ? this.lines.slice(from).join('\n') : '';
    if (!n) this.pre.append(h('span', { class: 'muted', text: 'no output yet' }));
    this.count.textContent = `${n} line${n === 1 ? '' : 's'}`;
    this.earlier.hidden = from === 0;
    this.earlier.textContent = `Show ${Math.min(MORE, from)} earlier of ${from} hidden`;
    if (follows) this.toEnd();
    else this.jump.hidden = this.atEnd();
  }
}
