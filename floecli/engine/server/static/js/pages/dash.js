// /app/dash: every flow with its latest runs (pending with why, running, good, bad), live.

import { flowPath, get, runId } from '../api.js';
import { badge, clear, durationEl, h, notify, timeEl } from '../dom.js';
import { coalesce, eventFlow } from '../live.js';

const LATEST = 5; // archived runs shown per flow

// Flows by id, latest version of each, in config order.
export function latestFlows(config) {
  const byId = new Map();
  for (const f of config.Flows || []) {
    const have = byId.get(f.ID);
    if (!have || f.Ver > have.Ver) byId.set(f.ID, f);
  }
  return [...byId.values()];
}

export function runRows(fid, runs, archived = LATEST) {
  const rows = [...(runs.Pending || []), ...(runs.Active || []), ...(runs.Archive || []).slice(0, archived)];
  return rows.map((r) => runRow(fid, r));
}

// The run's state in one word: good, bad, stopped, interrupted, host lost (or its status).
export function runState(r) { return r.Ended ? (r.State || r.Status) : r.Status; }

// "ref: main, env: prod": what was pushed into the run when it started.
export function inputsText(inputs) {
  return Object.entries(inputs || {}).map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : v}`).join(', ');
}

export const runHref = (fid, rid) => `/app/flows/${encodeURIComponent(fid)}/runs/${encodeURIComponent(rid)}`;

// "Waiting for input: <form title>" banners of the runs that wait for a form, each a link to it.
export function waitingBanners(fid, runs) {
  const out = [];
  for (const r of runs || []) {
    for (const w of r.Waiting || []) {
      const rid = runId(r.Ref);
      out.push(h('div', { class: 'banner', role: 'status', 'data-waiting': `${rid}/${w.Node}` },
        'Waiting for input: ', h('a', { href: `${runHref(fid, rid)}?node=${encodeURIComponent(w.Node)}`, text: w.Title }),
        h('span', { class: 'muted', text: ` (${fid} ${rid})` })));
    }
  }
  return out;
}

// One run as its own <tbody>: its row, and under it, across the table, why it waits or failed.
export function runRow(fid, r) {
  const rid = runId(r.Ref);
  const start = r.Status === 'pending' ? r.Created : r.StartTime;
  const state = runState(r);
  const why = r.Why || r.Reason;
  const inputs = inputsText(r.Inputs);
  const reasonClass = { bad: 'reason bad', stopped: 'reason stopped', interrupted: 'reason interrupted', 'host lost': 'reason host-lost' }[state] || 'reason';
  const reason = why || inputs || r.Rerun
    ? h('tr', {}, h('td', { colspan: '5', class: 'reason-cell' },
      why ? h('div', { class: reasonClass, title: r.Reason && r.Reason !== why ? r.Reason : null },
        r.Status === 'pending' ? `waits: ${why}` : why) : null,
      r.Rerun ? h('div', { class: 'muted', text: `re-run of ${r.Rerun.Of}${r.Rerun.From ? ` from ${r.Rerun.From}` : ''}` }) : null,
      inputs ? h('div', { class: 'inputs', 'data-inputs': '', text: inputs }) : null))
    : null;
  return h('tbody', { 'data-run': rid, 'data-status': r.Status, 'data-state': state },
    h('tr', {},
      h('td', {}, badge(state)),
      h('td', {}, h('a', { href: runHref(fid, rid), text: rid })),
      // which host ran it (or runs it): in a cluster, not always the one that adopted it
      h('td', { class: 'hide-narrow', 'data-exec-host': r.ExecHost || '', text: r.ExecHost || '' }),
      h('td', {}, timeEl(start)),
      h('td', { class: 'hide-narrow' }, r.Status === 'pending' ? '' : durationEl(r.StartTime, r.Ended ? r.EndTime : ''))),
    reason);
}

export function runTable(rows, empty) {
  if (!rows.length) return h('p', { class: 'empty', text: empty });
  return h('div', { class: 'scroll-x' }, h('table', {},
    h('thead', {}, h('tr', {}, h('th', { text: 'Status' }), h('th', { text: 'Run' }),
      h('th', { class: 'hide-narrow', text: 'Host' }), h('th', { text: 'Started' }), h('th', { class: 'hide-narrow', text: 'Took' }))),
    rows));
}

export function mount(root) {
  const cards = h('div', { class: 'cards', id: 'flows' });
  const banners = h('div', { id: 'waiting' });
  const waiting = new Map(); // flow id -> its banners
  root.append(h('h1', { text: 'Flows' }), banners, cards);
  const drawBanners = () => clear(banners, [...waiting.values()].flat());
  const shown = new Map(); // flow id -> card element
  let flows = [];
  let gone = false;

  async function loadFlow(f) {
    let card = shown.get(f.ID);
    if (!card) {
      card = h('section', { class: 'card', 'data-flow': f.ID, 'aria-label': f.Name });
      shown.set(f.ID, card);
      cards.append(card);
    }
    try {
      const payload = await get(`${flowPath(f.ID)}?limit=${LATEST}`); // only what is shown
      if (gone) return;
      const runs = payload.Runs || {};
      waiting.set(f.ID, waitingBanners(f.ID, runs.Active));
      drawBanners();
      const active = (runs.Active || []).length, pending = (runs.Pending || []).length;
      clear(card,
        h('h2', {}, h('a', { href: `/app/flows/${encodeURIComponent(f.ID)}`, text: f.Name || f.ID })),
        h('div', { class: 'meta muted' }, h('div', {}, `${active} running`), h('div', {}, `${pending} pending`),
          h('div', {}, `${runs.ArchiveTotal ?? (runs.Archive || []).length} finished`)),
        runTable(runRows(f.ID, runs), 'No runs yet.'));
    } catch (e) {
      if (e.status === 401 || gone) return;
      clear(card, h('h2', {}, f.Name || f.ID), h('p', { class: 'form-error', text: `Could not load its runs: ${e.message}` }));
      notify(`Could not load the runs of ${f.ID}: ${e.message}`, { key: `flow-${f.ID}` });
    }
  }

  async function loadAll() {
    try {
      flows = latestFlows(await get('/flows'));
    } catch (e) {
      if (e.status !== 401 && !gone) {
        clear(cards, h('p', { class: 'form-error', text: `Could not load the flows: ${e.message}` }));
        notify(`Could not load the flows: ${e.message}`, { key: 'flows' });
      }
      return;
    }
    if (gone) return;
    if (!flows.length) clear(cards, h('p', { class: 'empty', text: 'This engine has no flows configured.' }));
    await Promise.all(flows.map(loadFlow));
  }

  // A run ending can unblock pends of other flows, so any state change refreshes every card.
  const refresh = coalesce(loadAll, 250);
  loadAll();
  return {
    onEvent(evt) {
      // Runs start, end, and ask for or get a form's values: anything but log lines.
      if (evt.Tag && evt.Tag !== 'sys.node.update' && evt.Tag !== 'sys.node.start') {
        if (flows.some((f) => f.ID === eventFlow(evt)) || evt.Tag === 'sys.end.all') refresh();
      }
    },
    catchUp: refresh,
    unmount() { gone = true; refresh.cancel(); },
  };
}
