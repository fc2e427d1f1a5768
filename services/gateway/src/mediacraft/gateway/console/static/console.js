// The operator console: plain DOM over /ops/api (envelope answers), no framework, no build step.
// Every value from the server is written with textContent, never as HTML.

const $ = (id) => document.getElementById(id);
const REFRESH_MS = 2000;
const POOLS = ['watermark', 'merge', 'generate'];

class ApiFailure extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

async function api(method, path, body) {
  const init = { method, credentials: 'same-origin', headers: {} };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch('/ops/api' + path, init);
  let env;
  try { env = await res.json(); } catch { env = { success: false, message: res.statusText }; }
  if (!env.success) {
    if (res.status === 401 && path !== '/session') showLogin();
    throw new ApiFailure(res.status, env.error_code, env.message || 'Request failed');
  }
  return env.data;
}

function cell(tr, text) {
  const td = document.createElement('td');
  td.textContent = text === null || text === undefined ? '' : String(text);
  tr.appendChild(td);
  return td;
}

function showError(err) { $('error').textContent = err ? err.message : ''; }

// --- sign-in -----------------------------------------------------------------------------------------

function showLogin() {
  $('console').hidden = true;
  $('who').hidden = true;
  $('sign-out').hidden = true;
  $('login').hidden = false;
}

async function showConsole(who) {
  $('login').hidden = true;
  $('console').hidden = false;
  $('who').hidden = false;
  $('who').textContent = `Signed in: ${who.operator} (${who.via})`;
  $('sign-out').hidden = who.via !== 'session';
  select('pools');
}

$('login-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  $('login-error').textContent = '';
  try {
    await api('POST', '/session', { token: $('token').value });
    $('token').value = '';
    await showConsole(await api('GET', '/session'));
  } catch (err) {
    $('login-error').textContent = err.message;
  }
});

$('sign-out').addEventListener('click', async () => {
  await api('DELETE', '/session').catch(() => null);
  showLogin();
});

// --- tabs --------------------------------------------------------------------------------------------

const TABS = { pools: 'tab-pools', tasks: 'tab-tasks', dead: 'tab-dead', quotas: 'tab-quotas' };
let current = 'pools';

function select(name) {
  current = name;
  for (const [panel, tab] of Object.entries(TABS)) {
    $(panel).hidden = panel !== name;
    $(tab).setAttribute('aria-selected', String(panel === name));
  }
  showError(null);
  if (name === 'pools') loadPools();
  if (name === 'tasks' && !$('tasks').dataset.loaded) loadTasks(false); // the newest tasks first
  if (name === 'dead') loadDead();
  if (name === 'quotas') loadQuotas();
}
for (const [panel, tab] of Object.entries(TABS)) $(tab).addEventListener('click', () => select(panel));

// --- pools -------------------------------------------------------------------------------------------

async function loadPools() {
  let data;
  try { data = await api('GET', '/pools'); } catch (err) { showError(err); return; }
  const age = $('pools-age');
  age.classList.toggle('stale', !!data.stale);
  age.textContent = data.as_of === null
    ? 'No scheduler has reported yet.'
    : `Scheduler figures from ${data.age_seconds} s ago` + (data.stale ? ' (stale: is a scheduler active?)' : '');
  const rows = $('pool-rows');
  rows.replaceChildren();
  for (const p of data.pools) {
    const tr = document.createElement('tr');
    tr.dataset.pool = p.pool;
    cell(tr, p.pool);
    cell(tr, (p.task_types || []).join(', '));
    cell(tr, p.waiting ?? '').className = 'waiting';
    const reasons = Object.entries(p.waiting_by_reason || {}).map(([k, v]) => `${k}: ${v}`).join(', ');
    cell(tr, reasons).className = 'reasons';
    cell(tr, p.running ?? '').className = 'running';
    cell(tr, p.workers_alive ?? '').className = 'workers';
    cell(tr, p.queue ? p.queue.ready : '?').className = 'queued-jobs';
    cell(tr, p.queue ? p.queue.consumers : '?').className = 'consumers';
    tr.title = (p.workers || []).join('\n');
    rows.appendChild(tr);
  }
  const q = data.queues || {};
  const count = (name) => (q[name] ? q[name].ready : '?');
  $('broker-queues').textContent =
    `Scheduler inbox: ${count('scheduler.inbox')} waiting · dead letters: ${count('dead.letters')}`;
}

// --- tasks -------------------------------------------------------------------------------------------

let filters = new URLSearchParams();
let cursor = null;
let openTask = null;

function query(extra) {
  const params = new URLSearchParams(filters);
  if (extra) params.set('cursor', extra);
  return '/tasks?' + params.toString();
}

let tasksAsked = 0; // only the answer to the latest request is shown (a search overtakes a refresh)

async function loadTasks(append) {
  const mine = ++tasksAsked;
  let data;
  try { data = await api('GET', query(append ? cursor : null)); } catch (err) { showError(err); return; }
  if (mine !== tasksAsked) return;
  showError(null);
  const rows = $('task-rows');
  if (!append) rows.replaceChildren();
  for (const t of data.items) {
    const tr = document.createElement('tr');
    tr.dataset.taskId = t.task_id;
    tr.dataset.status = t.status;
    cell(tr, t.task_id);
    cell(tr, t.user_id);
    cell(tr, t.task_type);
    cell(tr, t.status).className = 'status';
    cell(tr, t.attempts);
    cell(tr, t.retry_count);
    cell(tr, t.error_code).className = 'error-code';
    cell(tr, t.created_at);
    tr.addEventListener('click', () => { $('task-notice').textContent = ''; openDetail(t.task_id); });
    rows.appendChild(tr);
  }
  cursor = data.next_cursor;
  $('more-tasks').hidden = !cursor;
  $('tasks').dataset.loaded = 'true';
}

$('search-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  filters = new URLSearchParams();
  for (const [k, v] of new FormData(ev.target)) if (String(v).trim()) filters.set(k, String(v).trim());
  loadTasks(false);
});
$('more-tasks').addEventListener('click', () => loadTasks(true));

const HISTORY = [
  ['attempts', 'Attempts'], ['retry_count', 'Retries'], ['max_retries', 'Retry budget'],
  ['lost_redispatches', 'Lost with a worker'], ['worker', 'Worker'], ['submitted_at', 'Submitted'],
  ['started_at', 'Started'], ['completed_at', 'Ended'], ['waited_seconds', 'Waited (s)'],
  ['ran_seconds', 'Ran (s)'], ['total_seconds', 'Total (s)'], ['next_retry_at', 'Next retry'],
  ['trace_id', 'Trace id'],
];

function renderDetail(d) {
  $('task-detail').hidden = false;
  $('task-detail').dataset.taskId = d.task_id;
  $('task-detail').dataset.status = d.status;
  $('d-task-id').textContent = d.task_id;
  $('d-status').textContent = d.status;
  $('d-message').textContent = d.message || '';
  const dl = $('d-history');
  dl.replaceChildren();
  const h = d.history;
  const rows = [...HISTORY.map(([k, label]) => [label, h[k]])];
  rows.push(['Error', h.error ? `${h.error.code}: ${h.error.message}` : null]);
  rows.push(['Requested control', h.control ? `${h.control.kind} at ${h.control.requested_at}` : null]);
  for (const [label, value] of rows) {
    const dt = document.createElement('dt');
    dt.textContent = label;
    const dd = document.createElement('dd');
    dd.textContent = value === null || value === undefined ? '—' : String(value);
    dl.append(dt, dd);
  }
  const attempts = $('d-attempts');
  attempts.replaceChildren();
  for (const a of d.attempts) {
    const tr = document.createElement('tr');
    tr.dataset.attempt = String(a.attempt);
    cell(tr, a.attempt);
    cell(tr, a.worker).className = 'worker';
    cell(tr, a.dispatched_at);
    cell(tr, a.started_at);
    cell(tr, a.ended_at);
    cell(tr, a.outcome).className = 'outcome';
    cell(tr, a.seconds);
    cell(tr, a.error ? `${a.error.code}: ${a.error.message}` : '').className = 'error';
    attempts.appendChild(tr);
  }
  const steps = $('d-events');
  steps.replaceChildren();
  for (const e of d.events) {
    const li = document.createElement('li');
    const extra = e.worker ? ` by ${e.worker}` : e.error ? ` (${e.error.code})` : '';
    li.textContent = `${e.at} ${e.event}, attempt ${e.attempt}${extra}`;
    steps.appendChild(li);
  }
  $('d-document').textContent = JSON.stringify(d.document, null, 2);
  $('do-cancel').disabled = !d.can.cancel;
  $('do-retry').disabled = !d.can.retry;
  $('do-prioritise').disabled = !d.can.prioritise;
  const row = document.querySelector(`#task-rows tr[data-task-id="${CSS.escape(d.task_id)}"]`);
  if (row) {
    row.dataset.status = d.status;
    row.querySelector('.status').textContent = d.status;
  }
}

async function openDetail(taskId) {
  openTask = taskId;
  for (const tr of document.querySelectorAll('#task-rows tr')) tr.classList.toggle('selected', tr.dataset.taskId === taskId);
  try {
    const d = await api('GET', `/tasks/${taskId}`);
    if (openTask === taskId) renderDetail(d); // another task was opened meanwhile: not this one
  } catch (err) {
    showError(err);
  }
}

async function act(action, done) {
  if (!openTask) return;
  $('task-notice').textContent = '';
  try {
    const data = await api('POST', `/tasks/${openTask}/${action}`);
    $('task-notice').textContent = data.notice || done;
    await openDetail(openTask);
  } catch (err) {
    $('task-notice').textContent = err.message;
  }
}
$('do-cancel').addEventListener('click', () => act('cancel', 'Cancel requested'));
$('do-retry').addEventListener('click', () => act('retry', 'Retry requested'));
$('do-prioritise').addEventListener('click', () => act('prioritise', 'Moved to the front of the line'));

// --- dead letters ------------------------------------------------------------------------------------

async function loadDead() {
  let data;
  try { data = await api('GET', '/dead-letters'); } catch (err) { showError(err); return; }
  $('dead-count').textContent = `${data.count} parked message(s)`;
  const rows = $('dead-rows');
  rows.replaceChildren();
  for (const m of data.items) {
    const tr = document.createElement('tr');
    tr.dataset.messageId = m.message_id || '';
    cell(tr, m.message_id || '(not an envelope)');
    cell(tr, m.type);
    cell(tr, m.task_id);
    cell(tr, m.queue);
    cell(tr, m.deaths);
    cell(tr, m.reason).className = 'reason';
    const td = cell(tr, '');
    if (m.message_id) {
      const button = document.createElement('button');
      button.type = 'button';
      button.textContent = 'Replay';
      button.addEventListener('click', () => replayOne(m.message_id));
      td.appendChild(button);
    }
    rows.appendChild(tr);
  }
  $('dead').dataset.loaded = 'true';
}

async function replayOne(messageId) {
  $('dead-notice').textContent = '';
  try {
    const r = await api('POST', '/dead-letters/replay', { message_ids: [messageId] });
    const retried = r.tasks_retried.length ? ` (task retried: ${r.tasks_retried.join(', ')})` : '';
    $('dead-notice').textContent = r.replayed.length
      ? `Replayed ${r.replayed.join(', ')}${retried}`
      : `Not replayed: ${[...r.unreplayable, ...r.not_found].join(', ')}`;
  } catch (err) {
    $('dead-notice').textContent = err.message;
  }
  await loadDead();
}
$('dead-refresh').addEventListener('click', loadDead);

// --- quotas ------------------------------------------------------------------------------------------

for (const pool of POOLS) {
  const label = document.createElement('label');
  label.textContent = pool;
  const input = document.createElement('input');
  input.type = 'number';
  input.min = '0';
  input.name = `pool_${pool}`;
  input.id = `quota-pool-${pool}`;
  label.appendChild(input);
  $('quota-pools').appendChild(label);
}

function fill(id, value) { $(id).value = value === null || value === undefined ? '' : String(value); }

// Set while the operator edits the form, cleared when it is saved: a load never overwrites an edit.
let quotasEdited = false;
$('quota-form').addEventListener('input', () => { quotasEdited = true; });

async function loadQuotas(formToo = true) {
  if (formToo && !quotasEdited) $('quotas').dataset.loaded = 'false';
  let data;
  try { data = await api('GET', '/quotas'); } catch (err) { showError(err); return; }
  $('quota-in-effect').textContent = data.in_effect ? JSON.stringify(data.in_effect, null, 2) : 'not reported yet';
  if (!formToo || quotasEdited) return; // a refresh never overwrites what the operator is typing
  const o = data.overrides;
  fill('quota-per-user', o.per_user);
  fill('quota-total', o.total);
  for (const pool of POOLS) fill(`quota-pool-${pool}`, (o.per_pool || {})[pool]);
  $('quota-updated').textContent = o.updated_at ? `Last changed by ${o.updated_by || '?'} at ${o.updated_at}` : '';
  $('quotas').dataset.loaded = 'true';
}

function number(id) {
  const raw = $(id).value.trim();
  return raw === '' ? null : Number(raw);
}

$('quota-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const body = { per_user: number('quota-per-user'), total: number('quota-total'), per_pool: {} };
  for (const pool of POOLS) {
    const value = number(`quota-pool-${pool}`);
    if (value !== null) body.per_pool[pool] = value;
  }
  try {
    const r = await api('PUT', '/quotas', body);
    quotasEdited = false;
    $('quota-notice').textContent = r.notice || 'Saved: the scheduler applies them from its next dispatch';
    await loadQuotas();
  } catch (err) {
    $('quota-notice').textContent = err.message;
  }
});

// --- start -------------------------------------------------------------------------------------------

setInterval(() => {
  if ($('console').hidden) return;
  if (current === 'pools') loadPools();
  if (current === 'quotas') loadQuotas(false);
  if (current === 'tasks' && openTask) openDetail(openTask);
  if (current === 'tasks' && $('tasks').dataset.loaded && !cursor) loadTasks(false);
}, REFRESH_MS);

(async () => {
  try {
    await showConsole(await api('GET', '/session'));
  } catch {
    showLogin();
  }
  document.body.dataset.ready = 'true';
})();
