// /app/flows/<id>/runs/<rid>: the run's graph coloured live, node logs, merge waits, data
// forms, Stop (confirmed), Re-run and Re-run from here, the result and its reason in words,
// the inputs, a banner while it waits for a form, the workspace's files and artifacts, and
// who submitted which form when.

import { API_BASE, call, enc, flowPath, get, post, runPath } from '../api.js';
import { badge, clear, durationEl, h, notify, morph, timeEl } from '../dom.js';
import { drawGraph, flowEdges } from '../graph.js';
import { coalesce, eventFlow, eventRun } from '../live.js';
import { logBuffer, LogView } from '../logview.js';
import { currentUser } from '../session.js';
import { inputsText, runHref, runState, waitingBanners } from './dash.js';
import { fieldInputs, formValues } from './flow.js';

const NOW = () => new Date().toISOString();

function isData(n) { return n.Class === 'task' && (Array.isArray(n.Fields) || n.Type === 'data'); }

// A task cut off rather than failed keeps the word for what cut it off (its Result): a stop,
// an engine that died under it, a host lost. Never the red "bad" of a failure.
const CUT_OFF = new Set(['stopped', 'interrupted', 'host lost']);

// A node still "running" in an ended run, or "ended with the run", was killed with it: it
// reads as the run does when the run was cut off (`runWord`), else bad.
export function nodeState(n, ended = false, runWord = '') {
  const killed = CUT_OFF.has(runWord) ? runWord : 'bad';
  if (n.Class === 'merge') return n.Status === 'finished' ? 'good' : n.Status === 'waiting' && !ended ? 'waiting' : 'idle';
  if (n.Enabled && !ended) return 'waiting';
  if (n.Status === 'running') return ended ? killed : 'running';
  if (n.Status === 'finished') {
    if (n.Result === 'success' || n.Class !== 'task' || isData(n)) return 'good';
    if (n.Result === 'ended with the run') return killed;
    return CUT_OFF.has(n.Result) ? n.Result : 'bad';
  }
  return 'idle';
}

// A node a re-run took over from the run it re-runs: not run again.
const carried = (n) => !!n.CarriedFrom;

// A task that ran (and so can be re-run from) in an ended run.
const rerunnable = (n) => n.Class === 'task' && !isData(n) && n.Type !== 'end' && n.Status === 'finished';

function stateText(n, state, ended) {
  if (carried(n)) return `${n.Type} · carried over`;
  if (ended && n.Status === 'running') return `${n.Type} · ended with the run`;
  if (n.Class === 'merge' && n.Waits) {
    const w = Object.values(n.Waits);
    return `merge ${n.Type} · ${w.filter(Boolean).length}/${w.length} in`;
  }
  if (n.Type === 'end') return 'end';
  if (state === 'bad' && n.Result && n.Result !== 'failed') return `${n.Type} · ${n.Result}`; // timed out, interrupted
  const word = { waiting: 'waiting for input', running: 'running', good: 'good', bad: 'bad', idle: 'not started' }[state] || state;
  return `${n.Type} · ${word}`;
}

export function mount(root, [fid, rid], { navigate } = {}) {
  const user = currentUser();
  const canWrite = !!user?.canWrite;
  const els = {
    title: h('h1', { text: `${fid} ${rid}` }),
    status: h('span', { id: 'run-status' }),
    meta: h('div', { class: 'meta', id: 'run-meta' }),
    result: h('p', { id: 'run-result', 'aria-live': 'polite' }),
    stop: h('button', { type: 'button', class: 'danger', id: 'stop', text: 'Stop run', hidden: true, disabled: !canWrite }),
    confirm: h('span', { class: 'confirm', id: 'stop-confirm', role: 'alertdialog', 'aria-label': 'confirm stop', hidden: true }),
    rerun: h('button', { type: 'button', class: 'plain', id: 'rerun', text: 'Re-run', hidden: true, disabled: !canWrite,
      title: 'a new run with the same inputs' }),
    rerunError: h('p', { class: 'form-error', id: 'rerun-error', role: 'alert' }),
    keep: h('button', { type: 'button', class: 'plain', id: 'keep', hidden: true, disabled: !canWrite,
      title: 'retention never removes a kept run' }),
    banner: h('div', { id: 'run-waiting' }),
    details: h('details', { id: 'run-details', hidden: true }),
    files: h('section', { id: 'files', 'aria-label': 'workspace files' }),
    graph: h('div', { class: 'graph', id: 'run-graph' }),
    nodes: h('div', { id: 'nodes' }),
    merges: h('section', { id: 'merges', hidden: true }),
    forms: h('section', { id: 'forms', hidden: true }),
    subs: h('section', { id: 'submissions' }),
    detail: h('section', { id: 'detail', 'aria-label': 'selected node' }),
  };
  const page = h('div', {}, h('p', {}, h('a', { href: `/app/flows/${encodeURIComponent(fid)}`, id: 'flow-link', text: `← ${fid}` })),
    els.banner,
    h('div', { class: 'row' }, els.title, els.status, els.stop, els.confirm, els.rerun, els.keep), els.rerunError,
    els.meta, els.result, els.details, els.graph,
    h('div', { class: 'cols' }, h('div', {}, h('h2', { text: 'Nodes' }), els.nodes, els.merges, els.forms, els.files, els.subs),
      h('div', {}, els.detail)));
  root.append(page);

  let view = null;
  let edges = [];
  let gone = false;
  let selected = new URLSearchParams(location.search).get('node') || '';
  const logs = new Map(); // node id -> logBuffer, grown by the websocket between fetches
  const formKeys = new Map();
  const logView = new LogView();

  const allNodes = () => (view ? view.Graph.flat() : []);
  const byId = (id) => allNodes().find((n) => n.ID === id);

  // Stopping kills the run's processes: it is asked for twice, and the engine records who.
  async function stopRun() {
    els.confirm.hidden = true;
    els.stop.hidden = false;
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
  }
  els.stop.addEventListener('click', () => {
    const no = h('button', { type: 'button', class: 'plain', id: 'stop-cancel', text: 'Keep it running' });
    clear(els.confirm, h('span', { text: `Stop run ${rid}? Its processes are killed.` }),
      h('button', { type: 'button', class: 'danger', id: 'stop-yes', text: 'Yes, stop it', onclick: stopRun }), no);
    no.addEventListener('click', () => { els.confirm.hidden = true; els.stop.hidden = false; els.stop.focus(); });
    els.stop.hidden = true;
    els.confirm.hidden = false;
    no.focus();
  });

  async function rerun(from = '') {
    els.rerunError.textContent = '';
    try {
      const got = await post(`${runPath(fid, rid)}/rerun`, from ? { From: from } : {});
      notify(`Run ${got.Payload.Run} re-runs ${rid}${from ? ` from ${from}` : ''}.`, { ok: true });
      if (navigate) navigate(runHref(fid, got.Payload.Run));
    } catch (e) {
      if (e.status !== 401) els.rerunError.textContent = `Could not re-run ${rid}${from ? ` from ${from}` : ''}: ${e.message}`;
    }
  }
  els.rerun.addEventListener('click', () => rerun());

  // Keep: retention (common.retention) never removes a kept run; the button says which it is.
  els.keep.addEventListener('click', async () => {
    const kept = !!view?.Kept;
    edits += 1;
    try {
      await call(kept ? 'DELETE' : 'POST', `${runPath(fid, rid)}/keep`);
      edits += 1; // a read begun while the change was on its way predates it too
      view.Kept = !kept;
      drawHeader();
      notify(kept ? `Run ${rid} is no longer kept.` : `Run ${rid} is kept: retention leaves it.`, { ok: true });
    } catch (e) {
      if (e.status !== 401) notify(`Could not change whether run ${rid} is kept: ${e.message}`);
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
    const state = runState(s);
    els.title.textContent = view.Name;
    document.title = `${view.Name} · floe`;
    clear(els.status, badge(state));
    if (s.Ended) els.confirm.hidden = true;
    els.stop.hidden = s.Ended || !els.confirm.hidden;
    els.rerun.hidden = !s.Ended || !canWrite;
    els.keep.hidden = !s.Ended || !canWrite;
    els.keep.textContent = view.Kept ? 'Kept · unkeep' : 'Keep';
    els.keep.setAttribute('aria-pressed', view.Kept ? 'true' : 'false');
    clear(els.banner, s.Ended ? [] : waitingBanners(fid, [s]));
    const inputs = inputsText(s.Inputs);
    const from = s.Rerun;
    clear(els.meta,
      inputs ? h('div', { id: 'run-inputs' }, h('span', { text: 'Inputs' }), h('span', { class: 'inputs', text: inputs })) : null,
      from ? h('div', { id: 'run-rerun-of' }, h('span', { text: 'Re-run of' }),
        h('a', { href: runHref(fid, from.Of), text: from.Of }),
        from.From ? ` from ${from.From}` : ' with the same inputs', from.User ? ` by ${from.User}` : '') : null,
      h('div', {}, h('span', { text: 'Started' }), timeEl(s.StartTime)),
      h('div', {}, h('span', { text: 'Duration' }), durationEl(s.StartTime, s.Ended ? s.EndTime : '')),
      s.Ended ? h('div', {}, h('span', { text: 'Ended' }), timeEl(s.EndTime)) : null,
      s.ExecHost ? h('div', {}, h('span', { text: 'Host' }), s.ExecHost) : null,
      h('div', {}, h('span', { text: 'Flow version' }), String(s.Ref?.FlowRef?.Ver ?? '')));
    let text;
    if (s.Status === 'pending') text = `Pending: ${s.Reason || 'waiting to be dispatched'}`;
    else if (s.Status === 'running') text = 'Running.';
    else text = `Result: ${state}${s.Why ? ` — ${s.Why}` : ''}`;
    els.result.textContent = text;
    els.result.className = s.Status === 'pending' ? 'reason'
      : ({ bad: 'reason bad', stopped: 'reason stopped', interrupted: 'reason interrupted', 'host lost': 'reason host-lost' }[state] || '');
    els.result.dataset.state = state;
    // The engine's own words stay one click away, for scripts and bug reports.
    const detail = s.Ended && s.Reason && s.Reason !== s.Why;
    els.details.hidden = !detail;
    if (detail) clear(els.details, h('summary', { text: 'Details' }), h('p', {}, 'Engine reason: ', h('code', { id: 'engine-reason', text: s.Reason })),
      s.StoppedBy ? h('p', {}, `Stopped by ${s.StoppedBy} at `, timeEl(s.EndTime)) : null);
  }

  function draw() {
    const nodes = {};
    // The trigger that started the run is drawn fired (good); the others idle.
    for (const t of view.Triggers) {
      const fired = t.Status === 'finished';
      nodes[t.ID] = { label: t.Name || t.ID, sub: `${t.Type} trigger${fired ? ' · fired' : ''}`, state: fired ? 'good' : 'trigger' };
    }
    for (const n of allNodes()) {
      const st = nodeState(n, !!view.Summary.Ended, runState(view.Summary));
      nodes[n.ID] = { label: n.Name || n.ID, sub: stateText(n, st, !!view.Summary.Ended), state: carried(n) && st === 'good' ? 'carried' : st };
    }
    const ended = !!view.Summary.Ended;
    morph(els.graph, drawGraph(view.Levels, edges, nodes, { selected, onSelect: select }));
    morph(els.nodes, nodeTable(ended));
  }

  function nodeTable(ended) {
    const rows = allNodes().map((n) => {
      const st = nodeState(n, ended, runState(view.Summary));
      return h('tr', { 'data-node': n.ID, 'data-status': st, 'data-carried': n.CarriedFrom || null, class: n.ID === selected ? 'selected' : null },
        h('td', {}, h('button', { type: 'button', class: 'link', text: n.Name || n.ID,
          'aria-pressed': n.ID === selected ? 'true' : 'false', onclick: () => select(n.ID) })),
        h('td', { class: 'hide-narrow' }, n.Type),
        h('td', {}, badge(st), carried(n) ? h('span', { class: 'carried-note', text: ` carried over from ${n.CarriedFrom}` }) : null,
          st === 'bad' && n.ExitStatus != null && n.Result === 'failed' ? h('span', { class: 'muted', text: ` exit ${n.ExitStatus}` }) : null),
        h('td', {}, n.Class === 'merge' || isData(n) ? '' : durationEl(n.Started, n.Stopped)),
        h('td', {}, ended && canWrite && rerunnable(n)
          ? h('button', { type: 'button', class: 'plain small', 'data-rerun-from': n.ID, 'aria-label': `Re-run from ${n.ID}`,
            text: 're-run from here', onclick: () => rerun(n.ID) }) : ''));
    });
    return h('div', { class: 'scroll-x' }, h('table', {}, h('thead', {}, h('tr', {},
      h('th', { text: 'Node' }), h('th', { class: 'hide-narrow', text: 'Type' }), h('th', { text: 'State' }),
      h('th', { text: 'Took' }), h('th', { 'aria-label': 'actions' }))), h('tbody', {}, rows)));
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
    const form = h('form', { class: 'floe-form', id: `form-${n.ID}`, 'data-form': n.ID, 'data-enabled': enabled ? 'true' : 'false' },
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
      morph(detailHead, h('h2', { text: 'Node' }), h('p', { class: 'empty', text: 'Pick a node in the graph or the list to see its log.' }));
      detailBody.replaceChildren();
      return;
    }
    const st = nodeState(n, !!view.Summary.Ended, runState(view.Summary));
    morph(detailHead, nodeHead(n, st));
    if (n.Class === 'merge') {
      clear(detailBody, h('ul', { class: 'waits' }, Object.entries(n.Waits || {}).map(([t, seen]) =>
        h('li', { class: seen ? 'seen' : null }, h('code', { text: t }), seen ? ' — arrived' : ' — waiting'))));
    } else if (isData(n)) {
      clear(detailBody, h('p', { class: 'muted', text: 'Its form is under Forms.' }));
    } else {
      // The log element stays in place between redraws so its scroll position is kept.
      if (logView.el.parentNode !== detailBody) clear(detailBody, logView.el);
      if (!logs.has(n.ID)) {
        logs.set(n.ID, logBuffer());
        if (carried(n)) loadCarriedLog(n);
      }
      if (logView.el.dataset.node !== n.ID || logView.buf !== logs.get(n.ID)) {
        logView.show(fid, n.CarriedFrom || rid, n.ID, `${n.Name || n.ID} log${carried(n) ? ` (run ${n.CarriedFrom})` : ''}`, logs.get(n.ID));
      }
    }
  }

  function nodeHead(n, st) {
    return [h('h2', { text: n.Name || n.ID }),
      h('div', { class: 'meta' }, badge(st), h('div', {}, h('span', { text: 'type' }), n.Type),
        h('div', {}, h('span', { text: 'started' }), timeEl(n.Started)),
        h('div', {}, h('span', { text: 'took' }), durationEl(n.Started, n.Stopped))),
      carried(n) ? h('p', { class: 'carried-note', id: 'carried-note' }, 'Carried over from run ',
        h('a', { href: `${runHref(fid, n.CarriedFrom)}?node=${encodeURIComponent(n.ID)}`, text: n.CarriedFrom }),
        ': not run again. Its log is that run\'s.') : null,
      view.Summary.Ended && canWrite && rerunnable(n)
        ? h('button', { type: 'button', class: 'plain small', id: 'rerun-from', 'data-node': n.ID, text: `Re-run from ${n.Name || n.ID}`, onclick: () => rerun(n.ID) }) : null];
  }

  // A carried node's log is the original run's: asked for once, by reference.
  async function loadCarriedLog(n) {
    try {
      const got = await get(`${runPath(fid, rid)}/logs?node=${enc(n.ID)}`);
      const lines = got[n.ID] || [];
      Object.assign(logs.get(n.ID), logBuffer(lines, lines.length));
      if (selected === n.ID) logView.changed();
    } catch { /* the original is gone: the log stays empty */ }
  }

  // The workspace: the flow's artifacts first, then a directory at a time; files download.
  let dir = '';
  let filesKey = '';
  const fileHref = (path) => `${API_BASE}${runPath(fid, rid)}/files/${path.split('/').map(enc).join('/')}`;
  const size = (n) => (n < 1024 ? `${n} B` : n < 1048576 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1048576).toFixed(1)} MiB`);
  async function loadFiles(force = false) {
    const key = `${dir}|${view.Summary.Status}`;
    if (!force && key === filesKey) return;
    filesKey = key;
    let listing;
    try {
      listing = await get(`${runPath(fid, rid)}/files/${dir.split('/').map(enc).join('/')}`);
    } catch (e) {
      if (e.status === 401 || gone) return;
      clear(els.files, h('h2', { text: 'Files' }), h('p', { class: 'empty', text: e.status === 404 ? 'No workspace: it was never made, or was removed.' : `Could not list the files: ${e.message}` }));
      return;
    }
    if (gone) return;
    const artifacts = (listing.Artifacts || []).map((a) => (a.endsWith('/')
      ? h('li', {}, h('button', { type: 'button', class: 'link', text: a, onclick: () => { dir = a.replace(/\/$/, ''); loadFiles(); } }))
      : h('li', {}, h('a', { href: fileHref(a), download: a.split('/').pop(), 'data-artifact': a, text: a }))));
    const up = dir ? h('tr', {}, h('td', {}, h('button', { type: 'button', class: 'link', text: '..', onclick: () => { dir = dir.split('/').slice(0, -1).join('/'); loadFiles(); } })), h('td')) : null;
    const rows = listing.Entries.map((e) => h('tr', { 'data-file': e.Path },
      h('td', { class: 'mono' }, e.Dir
        ? h('button', { type: 'button', class: 'link', text: `${e.Name}/`, onclick: () => { dir = e.Path; loadFiles(); } })
        : h('a', { href: fileHref(e.Path), download: e.Name, text: e.Name })),
      h('td', { class: 'size' }, e.Dir ? '' : size(e.Size))));
    clear(els.files, h('h2', { text: 'Files' }),
      artifacts.length ? h('div', { id: 'artifacts' }, h('h3', { text: 'Artifacts' }), h('ul', {}, artifacts)) : null,
      h('p', { class: 'muted', id: 'files-where', text: listing.KeptOnly
        ? `The workspace is gone; its artifacts were kept${dir ? `: ${dir}/` : ''}.`
        : `Workspace${dir ? `: ${dir}/` : ''}` }),
      rows.length || up ? h('div', { class: 'scroll-x' }, h('table', { class: 'files' }, h('tbody', {}, up, rows)))
        : h('p', { class: 'empty', text: 'The workspace is empty.' }));
  }

  function redraw() {
    drawHeader();
    draw();
    drawMerges();
    drawForms();
    drawSubmissions();
    showDetail();
    if (view.Summary.Status !== 'pending') loadFiles();
  }

  // Changes this page made to the view (Keep): a reply fetched before one of them is stale.
  let edits = 0;

  async function load() {
    let v;
    const seen = edits;
    try {
      v = await get(runPath(fid, rid));
    } catch (e) {
      if (e.status === 401 || gone) return;
      const what = e.status === 404 ? `There is no run ${rid} of flow ${fid}.` : `Could not load run ${rid}: ${e.message}`;
      // Said once, with no empty sections under it; a later failure is a notice.
      if (!view) clear(page, h('p', {}, h('a', { href: `/app/flows/${encodeURIComponent(fid)}`, text: `← ${fid}` })),
        h('h1', { text: e.status === 404 ? 'Run not found' : `${fid} ${rid}` }), h('p', { class: 'form-error', role: 'alert', id: 'run-error', text: what }));
      else notify(what, { key: 'run' });
      return;
    }
    if (gone) return;
    if (seen !== edits) { refresh(); return; } // asked before a change made here: ask again
    if (!view) {
      try { edges = flowEdges((await get(`${flowPath(fid)}?limit=1`)).Config); } catch { edges = []; }
      if (!selected) selected = (v.Graph.flat().find((n) => n.Status === 'running' && n.Logs) || {}).ID || '';
    }
    const first = !view;
    view = v;
    if (first && selected) {
      // Arriving from a "waiting for input" link: the form it names, in view.
      queueMicrotask(() => document.getElementById(`form-${selected}`)?.scrollIntoView({ block: 'center' }));
    }
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
