// A flow's graph as SVG: one row per run-view level (0: triggers), edges from listen/wait tags.

const SVG = 'http://www.w3.org/2000/svg';
const W = 156, H = 46, PAD = 12;
const ACROSS = 22, BETWEEN = 46; // gaps between nodes of a level, and between levels
const TRIGGER_GOOD = 'trigger.good';

function tagsOf(task) {
  const tags = task.Listen ? [task.Listen] : [];
  if (task.Class === 'merge') tags.push(...(task.Wait || []));
  return tags;
}

// The levels of `GET flows/:id/runs/:rid` computed from a flow's config, for pages that have
// no run to ask (the same rule as engine/server/runview.py: longest path from the triggers).
export function flowLevels(flow) {
  const triggers = (flow.Triggers || []).map((t) => t.ID);
  const tasks = flow.Tasks || [];
  const ids = new Set([...triggers, ...tasks.map((t) => t.ID)]);
  const first = [];
  const children = new Map();
  for (const t of tasks) {
    for (const tag of tagsOf(t)) {
      if (tag === TRIGGER_GOOD) { if (!first.includes(t.ID)) first.push(t.ID); continue; }
      const parts = tag.split('.');
      if (parts.length === 3 && ids.has(parts[1])) {
        if (!children.has(parts[1])) children.set(parts[1], []);
        children.get(parts[1]).push(t.ID);
      }
    }
  }
  const level = new Map(first.map((id) => [id, 1]));
  for (let i = 0; i < ids.size; i++) {
    let changed = false;
    for (const [parent, lv] of [...level]) {
      for (const child of children.get(parent) || []) {
        if ((level.get(child) || 0) < lv + 1) { level.set(child, lv + 1); changed = true; }
      }
    }
    if (!changed) break;
  }
  const depth = Math.max(0, ...level.values());
  const out = [triggers, first.filter((id) => level.get(id) === 1)];
  for (let d = 2; d <= depth; d++) {
    out.push([...level].filter(([, lv]) => lv === d).map(([id]) => id).sort());
  }
  return out;
}

// [from, to] node id pairs: a `trigger.good` listener hangs from every trigger.
export function flowEdges(flow) {
  const triggers = (flow.Triggers || []).map((t) => t.ID);
  const out = [];
  for (const t of flow.Tasks || []) {
    for (const tag of tagsOf(t)) {
      if (tag === TRIGGER_GOOD) triggers.forEach((tr) => out.push([tr, t.ID]));
      else if (tag.split('.').length === 3) out.push([tag.split('.')[1], t.ID]);
    }
  }
  return out;
}

function s(tag, attrs, ...kids) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) el.setAttribute(k, v);
  for (const k of kids) el.append(k);
  return el;
}

function clip(text, n) {
  return text.length > n ? text.slice(0, n - 1) + '…' : text;
}

// `nodes`: id → {label, sub, state}; `state` picks the colour (idle, trigger, running, good,
// bad, waiting) and is also written out as text, so colour is never the only signal.
// Levels run top to bottom on narrow screens, left to right where there is room (the
// width in main.js's resize listener).
export function drawGraph(levels, edges, nodes, { selected = '', onSelect = null, wide = null } = {}) {
  const across = wide ?? window.matchMedia('(min-width: 760px)').matches;
  const rows = levels.filter((l) => l.length);
  const widest = Math.max(1, ...rows.map((l) => l.length));
  const [stepIn, stepOut] = across ? [H + ACROSS / 2, W + BETWEEN] : [W + ACROSS, H + BETWEEN];
  const size = (n, box, step) => PAD * 2 + n * box + Math.max(0, n - 1) * (step - box);
  const width = across ? size(rows.length, W, stepOut) : size(widest, W, stepIn);
  const height = across ? size(widest, H, stepIn) : size(rows.length, H, stepOut);
  const pos = new Map();
  rows.forEach((row, r) => {
    const span = row.length * stepIn - (stepIn - (across ? H : W));
    const start = ((across ? height : width) - span) / 2;
    row.forEach((id, i) => pos.set(id, across
      ? { x: PAD + r * stepOut, y: start + i * stepIn }
      : { x: start + i * stepIn, y: PAD + r * stepOut }));
  });
  const svg = s('svg', { width, height, viewBox: `0 0 ${width} ${height}`, role: 'group',
    'aria-label': 'flow graph' });
  const edgeLayer = s('g', { class: 'edges', 'aria-hidden': 'true' });
  svg.append(edgeLayer);
  for (const [a, b] of edges) {
    const p = pos.get(a), q = pos.get(b);
    if (!p || !q) continue;
    let d;
    if (across) {
      const x1 = p.x + W, y1 = p.y + H / 2, x2 = q.x, y2 = q.y + H / 2, mx = (x1 + x2) / 2;
      d = `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`;
    } else {
      const x1 = p.x + W / 2, y1 = p.y + H, x2 = q.x + W / 2, y2 = q.y, my = (y1 + y2) / 2;
      d = `M${x1},${y1} C${x1},${my} ${x2},${my} ${x2},${y2}`;
    }
    edgeLayer.append(s('path', { class: 'edge', d }));
  }
  for (const [id, p] of pos) {
    const n = nodes[id] || { label: id, sub: '', state: 'idle' };
    const g = s('g', {
      class: `node n-${String(n.state).replace(/\s+/g, '-')}${id === selected ? ' selected' : ''}`, 'data-node': id,
      'data-status': n.state, transform: `translate(${p.x},${p.y})`,
      tabindex: onSelect ? '0' : null, role: onSelect ? 'button' : 'img',
      'aria-label': `${n.label}: ${n.sub}`,
    }, s('title', {}, `${n.label} — ${n.sub}`), s('rect', { width: W, height: H }),
    s('text', { x: 10, y: 19 }, clip(n.label, 21)),
    s('text', { x: 10, y: 36, class: 'sub' }, clip(n.sub, 26)));
    if (onSelect) {
      g.addEventListener('click', () => onSelect(id));
      g.addEventListener('keydown', (e) => {
        if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); onSelect(id); }
      });
    }
    svg.append(g);
  }
  return svg;
}
