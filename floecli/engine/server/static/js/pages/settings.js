// /app/settings: the cluster's hosts with their tags and online state, and who is logged in.

import { get } from '../api.js';
import { clear, h, notify } from '../dom.js';
import { coalesce } from '../live.js';
import { currentUser } from '../session.js';

export function mount(root) {
  const user = currentUser();
  const hosts = h('div', { id: 'hosts' }, h('p', { class: 'muted', text: 'Loading…' }));
  root.append(h('h1', { text: 'Settings' }),
    h('section', { class: 'card', 'aria-labelledby': 'you-h' }, h('h2', { id: 'you-h', text: 'You' }),
      h('p', { id: 'current-user' }, 'Logged in as ', h('strong', { text: user?.name || '?' }),
        ` with role ${user?.role || '?'}${user?.canWrite ? ' (may start and stop runs)' : ' (may only read)'}.`)),
    h('h2', { text: 'Hosts' }), hosts);
  let gone = false;

  async function load() {
    let cfg;
    try {
      cfg = await get('/hosts');
    } catch (e) {
      if (e.status === 401 || gone) return;
      clear(hosts, h('p', { class: 'form-error', text: `Could not load the hosts: ${e.message}` }));
      notify(`Could not load the hosts: ${e.message}`, { key: 'hosts' });
      return;
    }
    if (gone) return;
    const rows = [{ ...cfg.Config, self: true }, ...Object.values(cfg.AllHosts || {}).filter((r) => !r.Self)];
    clear(hosts, h('div', { class: 'scroll-x' }, h('table', {},
      h('thead', {}, h('tr', {}, h('th', { text: 'Host' }), h('th', { text: 'Address' }), h('th', { text: 'Tags' }),
        h('th', { text: 'State' }))),
      h('tbody', {}, rows.map((r) => h('tr', { 'data-host': r.HostID || r.BaseURL },
        h('td', {}, r.HostID || h('span', { class: 'muted', text: 'not reached yet' }), r.self ? ' (this host)' : ''),
        h('td', { class: 'mono', text: r.self ? location.host : r.BaseURL || '' }),
        h('td', { text: (r.Tags || []).join(', ') || '–' }),
        h('td', { title: r.Problem || null }, h('span', { class: `badge ${r.Online ? 's-good' : 's-bad'}`,
          text: r.Refused ? 'refused (token)' : r.Online ? 'online' : 'offline' }),
        r.LastContact && !r.self ? h('span', { class: 'muted', text: ` last contact ${r.LastContact}` }) : null)))))));
  }

  const refresh = coalesce(load, 500);
  load();
  return { catchUp: refresh, unmount() { gone = true; refresh.cancel(); } };
}
