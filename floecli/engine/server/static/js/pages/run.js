// /app/flows/<id>/runs/<rid>: the run's graph coloured live, node logs, merge waits, data
// forms, Stop, the result and reason, and who submitted which form when.

import { flowPath, get, post, runPath } from '../api.js';
import { badge, clear, durationEl, h, notify, timeEl } from '../dom.js';
import { drawGraph, flowEdges } from '../graph.js';
import { coalesce, eventFlow, eventRun } from '../live.js';
import { logBuffer, LogView } from '../logview.js';
import { currentUser } from '../session.js';
import { fieldInputs, formValues } from './flow.js';

const NOW = () => new Date().toISOString();

function isData(n) { return n.Class === 'task' && (Array.isArray(n.Fields) || n.Type === 'data'); }

// A node still "running" in an ended run was killed with it (stopped, interrupted): bad.
export function nodeState(n, ended = false) {
  if (n.Class === 'merge') return n.Status === 'finished' ? 'good' : n.Status === 'waiting' && !ended ? 'waiting' : 'idle';
  if (n.Enabled && !ended) return 'waiting';
  if (n.Status === 'running') return ended ? 'bad' : 'running';
  if (n.Status === 'finished') return n.Result === 'success' || n.Class !== 'task' || isData(n) ? 'good' : 'bad';
  return 'idle';
}

function stateText(n, state, ended) {
  if (ended && n.Status === 'running') return `${n.Type} · ended with the run`;
  if (n.Class === 'merge' && n.Waits) {
    const w = Object.values(n.Waits);
    return `merge ${n.Type} · ${w.filter(Boolean).length}/${w.length} in`;
  }
  if (n.Type === 'end') return 'end';
  if (state === 'bad' && n.Result && n.Result !== 'failed') return `${n.Type} · ${n.Result}`; // timed out, interrupted
  const word = { waiting: 'waiting for input', running: 'running', good: 'good', bad: 'bad', idle: 'not started' }[state];
  return `${n.Type} · ${word}`;
}

export function mount(root, [fid, rid]) {
  const user = currentUser();
  const canWrite = !!user?.canWrite;
  const els = {
    title: h('h1', { text: `${fid} ${rid}` }),
    status: h('span', { id: 'run-status' }),
    meta: h('div', { class: 'meta', id: 'run-meta' }),
    result: h('p', { id: 'run-result', 'aria-live': 'polite' }),
    stop: h('button', { type: 'button', class: 'danger', id: 'stop', text: 'Stop run', hidden: true, disabled: !canWrite }),
    graph: h('div', { class: 'graph', id: 'run-graph' }),
    nodes: h('div', { id: 'nodes' }),
    merges: h('section', { id: 'merges', hidden: true }),
    forms: h('section', { id: 'forms', hidden: true }),
    subs: h('section', { id: 'submissions' }),
    detail: h('section', { id: 'detail', 'aria-label': 'selected node' }),
  };
  root.append(h('p', {}, h('a', { href: `/app/flows/${encodeURIComponent(fid)}`, id: 'flow-link', text: `← ${fid}` })),
    h('div', { class: 'row' }, els.title, els.status, els.stop), els.meta, els.result, els.graph,
    h('div', { class: 'cols' }, h('div', {}, h('h2', { text: 'Nodes' }), els.nodes, els.merges, els.forms, els.subs),
      h('div', {}, els.detail)));

  let view = null;
  let edges = [];
  let gone = false;
  let selected = new URLSearchParams(location.search).get('node') || '';
  const logs = new Map(); // node id -> logBuffer, grown by the websocket between fetches
  const formKeys = new Map();
  const logView = new LogView();

  const allNodes = () => (view ? view.Graph.flat() : []);
  const byId = (id) => allNodes().find((n) => n.ID === id);

  els.stop.addEventListener('click', async () => {
    els.stop.disabled = true;
    try {
      await post(`${runPath(fid, rid)}/stop`);
      notify(`Run ${rid} stopped.`, { ok: true });
    } catch (e) {
      if (e.status !== 401) notify(`Could not stop run ${rid}: ${e.message}`);
    } finally {
      els.stop.disabled = !canWrite;
      refresh();
    }
  });

  function select(id) {
    selected = id;
    const q = new URLSearchParams(location.search);
    q.set('node', id);
    history.replaceState(null, '', `${location.pathname}?${q}`);
    draw();
    showDetail();
    if (window.matchMedia('(max-width: 900px)').matches) els.detail.scrollIntoView({ block: 'start' });
  }

  function drawHeader() {
    const s = view.Summary;
    els.title.textContent = view.Name;
    document.title = `${view.Name} · floe`;
    clear(els.status, badge(s.Status));
    els.stop.hidden = s.Ended;
    clear(els.meta,
      h('div', {}, h('span', { text: 'Started' }), timeEl(s.StartTime)),
      h('div', {}, h('span', { text: 'Duration' }), durationEl(s.StartTime, s.Ended ? s.EndTime : '')),
      s.Ended ? h('div', {}, h('span', { text: 'Ended' }), timeEl(s.EndTime)) : null,
      s.ExecHost ? h('div', {}, h('span', { text: 'Host' }), s.ExecHost) : null,
      h('div', {}, h('span', { text: 'Flow version' }), String(s.Ref?.FlowRef?.Ver ?? '')));
    let text;
    if (s.Status === 'pending') text = `Pending: ${s.Reason || 'waiting to be dispatched'}`;
    else if (s.Status === 'running') text = 'Running.';
    else text = `Result: ${s.Good ? 'good' : 'bad'}${s.Reason ? ` — ${s.Reason}` : ''}`;
    els.result.textContent = text;
    els.result.className = s.Status === 'bad' ? 'reason bad' : s.Status === 'pending' ? 'reason' : '';
  }

  function draw() {
    const nodes = {};
    for (const t of view.Triggers) nodes[t.ID] = { label: t.Name || t.ID, sub: `${t.Type} trigger`, state: 'trigger' };
    for (const n of allNodes()) {
      const st = nodeState(n, !!view.Summary.Ended);
      nodes[n.ID] = { label: n.Name || n.ID, sub: stateText(n, st, !!view.Summary.Ended), state: st };
    }
    clear(els.graph, drawGraph(view.Levels, edges, nodes, { selected, onSelect: select }));
    const rows = allNodes().map((n) => {
      const st = nodeState(n, !!view.Summary.Ended);
      return h('tr', { 'data-node': n.ID, 'data-status': st, class: n.ID === selected ? 'selected' : null },
        h('td', {}, h('button', { type: 'button', class: 'link', text: n.Name || n.ID,
          'aria-pressed': n.ID === selected ? 'true' : 'false', onclick: () => select(n.ID) })),
        h('td', { class: 'hide-narrow' }, n.Type),
        h('td', {}, badge(st)),
        h('td', {}, n.Class === 'merge' || isData(n) ? '' : durationEl(n.Started, n.Stopped)));
    });
    clear(els.nodes, h('div', { class: 'scroll-x' }, h('table', {}, h('thead', {}, h('tr', {},
      h('th', { text: 'Node' }), h('th', { class: 'hide-narrow', text: 'Type' }), h('th', { text: 'State' }),
      h('th', { text: 'Took' }))), h('tbody', {}, rows))));
  }

  function drawMerges() {
    const merges = allNodes().filter((n) => n.Class === 'merge');
    els.merges.hidden = !merges.length;
    clear(els.merges, h('h2', { text: 'Merges' }), merges.map((m) => h('div', { 'data-merge': m.ID },
      h('h3', {}, `${m.Name || m.ID} `, h('span', { class: 'muted', text: `(${m.Type}: ${m.Type === 'any' ? 'one of' : 'all of'})` })),
      h('ul', { class: 'waits' }, Object.entries(m.Waits || {}).map(([tag, seen]) =>
        h('li', { class: seen ? 'seen' : null, 'data-wait': tag, 'data-seen': seen ? 'true' : 'false' },
          h('code', { text: tag }), seen ? ' — arrived' : ' — waiting'))))));
  }

  function dataForm(n) {
    const enabled = !!n.Enabled && !view.Summary.Ended;
    const key = JSON.stringify([enabled, canWrite, n.Fields?.map((f) => f.id), enabled ? null : n.Fields]);
    const old = els.forms.querySelector(`form[data-form="${CSS.escape(n.ID)}"]`);
    if (old && formKeys.get(n.ID) === key) return old; // keep what the user is typing
    formKeys.set(n.ID, key);
    const error = h('p', { class: 'form-error', role: 'alert' });
    const off = !enabled || !canWrite;
    const button = h('button', { type: 'submit', class: 'primary', text: 'Submit', disabled: off });
    const form = h('form', { class: 'floe-form', 'data-form': n.ID, 'data-enabled': enabled ? 'true' : 'false' },
      h('fieldset', {}, h('legend', { text: n.Name || n.ID }),
        h('p', { class: 'muted', text: enabled ? 'The run waits for this form.'
          : n.Status === 'finished' ? 'Submitted.' : 'Not asked for yet.' }),
        fieldInputs(`data-${n.ID}`, n.Fields || [], off), error, button));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      error.textContent = '';
      button.disabled = true;
      try {
        await post('/push/data', { Ref: view.Summary.Ref.FlowRef, Run: rid,
          Form: { ID: n.ID, Values: formValues(form) } });
        notify(`Submitted ${n.Name || n.ID}.`, { ok: true });
        refresh();
      } catch (err) {
        if (err.status !== 401) error.textContent = `Could not submit: ${err.message}`;
        button.disabled = false;
      }
    });
    return form;
  }

  function drawForms() {
    const data = allNodes().filter(isData);
    els.forms.hidden = !data.length;
    const forms = data.map(dataForm);
    if (!els.forms.firstChild) els.forms.append(h('h2', { text: 'Forms' }));
    for (const f of forms) els.forms.append(f); // re-appending keeps an existing form as it is
    for (const f of els.forms.querySelectorAll('form')) if (!forms.includes(f)) f.remove();
  }

  function drawSubmissions() {
    const subs = [];
    for (const n of [...view.Triggers, ...allNodes()]) for (const s of n.Submissions || []) subs.push({ ...s, NodeName: n.Name || n.ID });
    subs.sort((a, b) => String(a.Time).localeCompare(String(b.Time)));
    clear(els.subs, h('h2', { text: 'Form submissions' }), subs.length
      ? h('div', { class: 'scroll-x' }, h('table', {}, h('thead', {}, h('tr', {}, h('th', { text: 'When' }),
        h('th', { text: 'Who' }), h('th', { text: 'Form' }), h('th', { text: 'Values' }))),
      h('tbody', {}, subs.map((s) => h('tr', { 'data-submission': s.Node || '' },
        h('td', {}, timeEl(s.Time)), h('td', { class: 'who-cell', text: s.User || '?' }),
        h('td', { text: s.NodeName }),
        h('td', { class: 'mono' }, Object.entries(s.Values || {}).map(([k, v]) => h('div', {}, `${k}: ${v}`))))))))
      : h('p', { class: 'empty', text: 'No forms submitted.' }));
  }

  const detailHead = h('div');
  const detailBody = h('div');
  els.detail.append(detailHead, detailBody);

  function showDetail() {
    const n = byId(selected);
    if (!n) {
      clear(detailHead, h('h2', { text: 'Node' }), h('p', { class: 'empty', text: 'Pick a node in the graph or the list to see its log.' }));
      detailBody.replaceChildren();
      return;
    }
    const st = nodeState(n, !!view.Summary.Ended);
    clear(detailHead, h('h2', { text: n.Name || n.ID }),
      h('div', { class: 'meta' }, badge(st), h('div', {}, h('span', { text: 'type' }), n.Type),
        h('div', {}, h('span', { text: 'started' }), timeEl(n.Started)),
        h('div', {}, h('span', { text: 'took' }), durationEl(n.Started, n.Stopped))));
    if (n.Class === 'merge') {
      clear(detailBody, h('ul', { class: 'waits' }, Object.entries(n.Waits || {}).map(([t, seen]) =>
        h('li', { class: seen ? 'seen' : null }, h('code', { text: t }), seen ? ' — arrived' : ' — waiting'))));
    } else if (isData(n)) {
      clear(detailBody, h('p', { class: 'muted', text: 'Its form is under Forms.' }));
    } else {
      // The log element stays in place between redraws so its scroll position is kept.
      if (logView.el.parentNode !== detailBody) clear(detailBody, logView.el);
      if (!logs.has(n.ID)) logs.set(n.ID, logBuffer());
      if (logView.el.dataset.node !== n.ID || logView.buf !== logs.get(n.ID)) {
        logView.show(fid, rid, n.ID, `${n.Name || n.ID} log`, logs.get(n.ID));
      }
    }
  }

  function redraw() {
    drawHeader();
    draw();
    drawMerges();
    drawForms();
    drawSubmissions();
    showDetail();
  }

  async function load() {
    let v;
    try {
      v = await get(runPath(fid, rid));
    } catch (e) {
      if (e.status === 401 || gone) return;
      const what = e.status === 404 ? `There is no run ${rid} of flow ${fid}.` : `Could not load run ${rid}: ${e.message}`;
      if (!view) clear(els.graph, h('p', { class: 'form-error', text: what }));
      notify(what, { key: 'run' });
      return;
    }
    if (gone) return;
    if (!view) {
      try { edges = flowEdges((await get(`${flowPath(fid)}?limit=1`)).Config); } catch { edges = []; }
      if (!selected) selected = (v.Graph.flat().find((n) => n.Status === 'running' && n.Logs) || {}).ID || '';
    }
    view = v;
    for (const n of allNodes()) {
      if (!n.Logs) continue;
      const have = logs.get(n.ID);
      const total = n.LogsTotal ?? n.Logs.length;
      // The websocket is usually ahead of the stored log; take the store's tail only when it
      // knows more (lines sent while the socket was down).
      if (!have || total > have.first + have.lines.length) {
        const fresh = logBuffer(n.Logs, total, n.LogsTruncated || 0);
        if (have) Object.assign(have, fresh); else logs.set(n.ID, fresh);
        if (n.ID === selected) logView.changed();
      } else {
        have.truncated = n.LogsTruncated || 0;
      }
    }
    redraw();
  }

  const refresh = coalesce(load, 150);

  function onEvent(evt) {
    if (eventFlow(evt) !== fid || eventRun(evt) !== rid) return;
    if (!view) { refresh(); return; } // the first load may predate this event: load again
    const id = evt.SourceNode?.ID;
    const n = id ? byId(id) : null;
    const tag = evt.Tag || '';
    if (tag === 'sys.node.update') {
      if (n && evt.Opts && 'update' in evt.Opts) {
        if (!logs.has(id)) logs.set(id, logBuffer());
        // one line, or several joined by newlines (a burst coalesced, output past the cap)
        logs.get(id).lines.push(...String(evt.Opts.update).split('\n'));
        if (id === selected) logView.changed();
        return;
      }
      if (n && evt.Opts?.waits) { n.Waits = { ...n.Waits, ...evt.Opts.waits }; n.Status = n.Status || 'waiting'; }
    } else if (tag === 'sys.node.start' && n) {
      Object.assign(n, { Status: 'running', Started: NOW() });
    } else if (n && (tag.startsWith('task.') || tag.startsWith('merge.'))) {
      Object.assign(n, { Status: 'finished', Stopped: NOW(), Enabled: false, Result: evt.Good ? 'success' : 'failed' });
    }
    if (n) { draw(); if (id === selected) showDetail(); }
    refresh(); // the API's view is the truth: fetch it after any change of state
  }

  load();
  return {
    onEvent,
    catchUp: refresh,
    onResize: () => view && draw(),
    unmount() { gone = true; refresh.cancel(); },
  };
}
