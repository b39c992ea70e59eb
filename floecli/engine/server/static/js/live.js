// The websocket: every event of the cluster's hosts, reconnecting with back-off. Each (re)connection
// asks the page to catch up through the API, since events sent while away are not replayed.

const MIN_WAIT = 500;
const MAX_WAIT = 8000;

export class Live {
  constructor({ onEvent, onOpen, onState, onRefused }) {
    this.onEvent = onEvent;
    this.onOpen = onOpen;
    this.onRefused = onRefused;
    this.onState = onState;
    this.ws = null;
    this.wait = MIN_WAIT;
    this.timer = 0;
    this.wanted = false;
  }

  start() {
    if (this.wanted) return;
    this.wanted = true;
    this.connect();
  }

  stop() {
    this.wanted = false;
    clearTimeout(this.timer);
    if (this.ws) { this.ws.onclose = null; this.ws.close(); this.ws = null; }
    this.onState('off');
  }

  connect() {
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    // ?cluster=1: the events of every host of the cluster (a single host ignores it)
    const ws = new WebSocket(`${scheme}://${location.host}/ws?cluster=1`);
    this.ws = ws;
    this.onState('connecting');
    let opened = false;
    ws.onopen = () => {
      opened = true;
      this.wait = MIN_WAIT;
      this.onState('on');
      this.onOpen();
    };
    ws.onmessage = (m) => {
      let evt;
      try { evt = JSON.parse(m.data); } catch { return; }
      this.onEvent(evt);
    };
    ws.onclose = () => {
      this.ws = null;
      if (!this.wanted) return;
      this.onState('reconnecting');
      // A refused upgrade (session gone) looks like any other failure to the page: let the
      // caller ask the API, whose 401 sends the user to the login page.
      if (!opened) this.onRefused();
      this.timer = setTimeout(() => this.connect(), this.wait);
      this.wait = Math.min(this.wait * 2, MAX_WAIT);
    };
  }
}

// Which run an event belongs to, as used in URLs (`h1-3`).
export function eventRun(evt) {
  const r = evt?.RunRef?.Run;
  return r && r.ID ? `${r.HostID}-${r.ID}` : '';
}

export function eventFlow(evt) {
  return evt?.RunRef?.FlowRef?.ID || '';
}

// Runs async `fn` at most once per `ms`, however many calls a burst of events makes; a call
// while `fn` is running schedules one more run after it, so the last change is never missed.
export function coalesce(fn, ms) {
  let timer = 0;
  let running = false;
  let again = false;
  const run = async () => {
    timer = 0;
    running = true;
    try { await fn(); } finally {
      running = false;
      if (again) { again = false; schedule(); }
    }
  };
  const schedule = () => {
    if (running) { again = true; return; }
    if (!timer) timer = setTimeout(run, ms);
  };
  schedule.cancel = () => { clearTimeout(timer); timer = 0; again = false; };
  return schedule;
}
