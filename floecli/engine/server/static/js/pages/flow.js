// /app/flows/<id>: the flow's graph, its trigger forms to start a run, and all its runs.

import { flowPath, get, post } from '../api.js';
import { clear, h, notify, opt } from '../dom.js';
import { drawGraph, flowEdges, flowLevels } from '../graph.js';
import { coalesce, eventFlow } from '../live.js';
import { currentUser } from '../session.js';
import { runRows, runTable } from './dash.js';

const PAGE = 50; // archived runs per "show more"

export function formFields(form) {
  return (opt(form, 'fields') || []).filter((f) => f && typeof f === 'object').map((f) => ({
    id: String(opt(f, 'id') ?? ''),
    prompt: String(opt(f, 'prompt') || opt(f, 'id') || ''),
    type: String(opt(f, 'type') || 'text'),
    value: opt(f, 'value') == null ? '' : String(opt(f, 'value')),
  }));
}

// Labelled inputs for a form's fields; ids are made unique per form on the page.
export function fieldInputs(prefix, fields, disabled) {
  return fields.map((f) => {
    const id = `${prefix}-${f.id}`;
    const type = f.type === 'number' ? 'number' : f.type === 'password' ? 'password' : 'text';
    return h('div', { class: 'field' }, h('label', { for: id, text: f.prompt }),
      h('input', { type, id, name: f.id, value: f.value, disabled }));
  });
}

export function formValues(form) {
  const out = {};
  for (const input of form.querySelectorAll('input[name]')) out[input.name] = input.value;
  return out;
}

function triggerForm(flow, trigger, navigate) {
  const form = opt(trigger.Opts, 'form');
  const fields = formFields(form);
  const user = currentUser();
  const canWrite = !!user?.canWrite;
  const title = opt(form, 'title') || trigger.Name || trigger.ID;
  const error = h('p', { class: 'form-error', role: 'alert' });
  const button = h('button', { type: 'submit', class: 'primary', text: 'Start run', disabled: !canWrite });
  const el = h('form', { class: 'floe-form', 'data-trigger': trigger.ID },
    h('fieldset', {}, h('legend', { text: String(title) }),
      fieldInputs(`trigger-${trigger.ID}`, fields, !canWrite),
      canWrite ? null : h('p', { class: 'muted', text: `Your role (${user?.role}) may not start runs.` }),
      error, button));
  el.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    button.disabled = true;
    try {
      const r = await post('/push/data', { Ref: { ID: flow.ID, Ver: flow.Ver },
        Form: { ID: trigger.ID, Values: formValues(el) } });
      const runs = r.Payload?.Runs || [];
      if (runs.length) {
        notify(`Started run ${runs[0]}.`, { ok: true });
        navigate(`/app/flows/${encodeURIComponent(flow.ID)}/runs/${encodeURIComponent(runs[0])}`);
      } else {
        notify(r.Message || 'The run is starting.', { ok: true });
      }
    } catch (err) {
      if (err.status !== 401) error.textContent = `Could not start a run: ${err.message}`;
    } finally {
      button.disabled = !canWrite;
    }
  });
  return el;
}

function otherTrigger(t) {
  const opts = Object.entries(t.Opts || {}).filter(([k]) => k.toLowerCase() !== 'form');
  return h('div', { class: 'card', 'data-trigger': t.ID },
    h('h3', { text: `${t.Name || t.ID}` }), h('div', { class: 'muted', text: `${t.Type} trigger` }),
    opts.length ? h('div', { class: 'mono' }, opts.map(([k, v]) => h('div', {}, `${k}: ${JSON.stringify(v)}`))) : null);
}

export function mount(root, [fid], { navigate }) {
  const title = h('h1', { text: fid });
  const graph = h('div', { class: 'graph', id: 'flow-graph' });
  const triggers = h('div', { id: 'triggers', class: 'cards' });
  const runs = h('div', { id: 'runs' });
  root.append(h('p', {}, h('a', { href: '/app/dash', text: '← Flows' })), title,
    h('div', { class: 'meta muted', id: 'flow-meta' }), graph,
    h('div', { class: 'cols' },
      h('section', { 'aria-labelledby': 'start-h' }, h('h2', { id: 'start-h', text: 'Start a run' }), triggers),
      h('section', { 'aria-labelledby': 'runs-h' }, h('h2', { id: 'runs-h', text: 'Runs' }), runs)));
  let gone = false;
  let drawn = '';
  let archived = PAGE;
  let last = null;

  function showRuns() {
    const r = last.Runs || {};
    const total = r.ArchiveTotal ?? (r.Archive || []).length;
    clear(runs, runTable(runRows(fid, r, archived), 'No runs yet.'),
      total > archived ? h('button', { type: 'button', class: 'plain', text: `Show ${Math.min(PAGE, total - archived)} more of ${total - archived} older`,
        onclick: () => { archived += PAGE; refresh(); } }) : null);
  }

  async function load() {
    let payload;
    try {
      payload = await get(`${flowPath(fid)}?limit=${archived}`); // the runs the table shows
    } catch (e) {
      if (e.status === 401 || gone) return;
      const what = e.status === 404 ? `There is no flow ${fid}.` : `Could not load flow ${fid}: ${e.message}`;
      // Said once, with no empty sections under it; a later failure is a notice.
      if (!last) clear(root, h('p', {}, h('a', { href: '/app/dash', text: '← Flows' })),
        h('h1', { text: e.status === 404 ? 'Flow not found' : fid }),
        h('p', { class: 'form-error', role: 'alert', id: 'flow-error', text: what }));
      else notify(what, { key: 'flow' });
      return;
    }
    if (gone) return;
    last = payload;
    const flow = payload.Config;
    title.textContent = flow.Name || flow.ID;
    document.title = `${flow.Name || flow.ID} · floe`;
    const key = JSON.stringify([flow.Ver, flow.Triggers, flow.Tasks]);
    if (key !== drawn) { // redraw (and reset forms) only when the flow itself changed
      drawn = key;
      clear(document.getElementById('flow-meta'), h('div', {}, `id ${flow.ID}`), h('div', {}, `version ${flow.Ver}`),
        flow.HostTags ? h('div', {}, `host tags: ${flow.HostTags.join(', ')}`) : null,
        flow.ResourceTags ? h('div', {}, `resource tags: ${flow.ResourceTags.join(', ')}`) : null);
      const nodes = {};
      for (const t of flow.Triggers || []) nodes[t.ID] = { label: t.Name || t.ID, sub: `${t.Type} trigger`, state: 'trigger' };
      for (const t of flow.Tasks || []) nodes[t.ID] = { label: t.Name || t.ID, sub: `${t.Class} · ${t.Type}`, state: 'idle' };
      clear(graph, drawGraph(flowLevels(flow), flowEdges(flow), nodes));
      const ts = flow.Triggers || [];
      clear(triggers, ts.length ? ts.map((t) => (t.Type === 'data' ? triggerForm(flow, t, navigate) : otherTrigger(t)))
        : h('p', { class: 'empty', text: 'This flow has no triggers.' }));
    }
    showRuns();
  }

  const refresh = coalesce(load, 200);
  load();
  return {
    onEvent(evt) {
      if (eventFlow(evt) !== fid && evt.Tag !== 'sys.end.all') return;
      if (evt.Tag === 'sys.state' || evt.Tag === 'sys.end.all' || evt.Tag === 'trigger.good') refresh();
    },
    catchUp: refresh,
    onResize: () => { if (last) { drawn = ''; refresh(); } },
    unmount() { gone = true; refresh.cancel(); },
  };
}
