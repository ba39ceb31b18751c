// runs.js — the run history (#/runs, the default page) and one run
// (#/runs/ID): its event, each step coloured by status with its input,
// output and error, and the actions the signed-in role may take.
import { api, enc, withQuery } from './api.js';
import { decide, isHold } from './approvals.js';
import {
  add, badge, busy, confirmButton, errorBox, fmtDuration, fmtTime, h, jsonBlock, keepOpen, messageSlot, option,
  stClass, swapKeepingFocus, table, timeEl,
} from './dom.js';

export const RUN_STATUSES = ['queued', 'running', 'waiting', 'held', 'succeeded', 'failed', 'cancelled'];
const ACTIVE = new Set(['queued', 'running', 'waiting', 'held']);
const RERUNNABLE = new Set(['failed', 'cancelled']);
const REFRESH_MS = 1500;
const DEFAULT_LIMIT = 50;

// ---- "console-runs" (issue 17): what started a run, whom it concerns, and
// the runs list with its search and paging. history.js uses these too.

// Connector names as people write them.
const SOURCE_NAMES = { okta: 'Okta', happyfox: 'HappyFox', webhook: 'Webhook' };

// How a run's event arrived, for a person: "Okta hook", "System Log poll",
// "HappyFox webhook", "schedule", "API by token:alice", "CLI by cli:root".
// Runs stored before this was recorded (no via) show their source.
// The run row's source object (docs/api.md: {name, via, actor, connection}).
export function runSource(r) {
  const s = r && typeof r.source === 'object' && r.source !== null ? r.source : { name: r && r.source };
  return { name: s.name ?? null, via: s.via ?? null, actor: s.actor ?? null, connection: s.connection ?? null };
}

export function startedVia(r) {
  const { name: srcName, via, actor } = runSource(r);
  const src = String(srcName ?? '');
  const name = SOURCE_NAMES[src] || src || 'unknown';
  const by = actor ? ` by ${actor}` : '';
  switch (via) {
    case 'hook': return src === 'happyfox' ? 'HappyFox webhook' : src === 'webhook' ? 'Webhook' : `${name} hook`;
    case 'poll': return src === 'okta' ? 'System Log poll' : `${name} poll`;
    case 'schedule': return 'schedule';
    case 'api': return `API${by}`;
    case 'cli': return `CLI${by}`;
    default: return src ? `${name}${by}` : 'unknown';
  }
}

// "Okta hook · okta.user_locked"; the trigger is left out where it says
// nothing more ("manual" runs started by hand, "schedule").
export function sourceText(r) {
  const via = startedVia(r);
  const trig = r.trigger;
  if (!trig || trig === 'manual' || trig === 'schedule' || trig === via) return via;
  return `${via} · ${trig}`;
}

// A link to the timeline of a subject (a login, an id, "#HF00000006").
export function subjectLink(label, attrs = {}) {
  return h('a', { href: `#/history/${enc(label)}`, class: 'subject', text: label, ...attrs });
}

const fmtCount = (n) => Number(n).toLocaleString('en-US');

// A table of runs (the list and a workflow's page share it).
export function runsTable(runs, emptyText) {
  const rows = runs.map((r) => h('tr', { class: 'run-row', dataset: { runId: String(r.id), status: String(r.status) } },
    h('td', {}, h('a', { href: `#/runs/${enc(r.id)}`, text: `#${r.id}` })),
    h('td', { class: 'source', text: sourceText(r) }),
    h('td', { class: 'subject-cell' }, r.subject ? subjectLink(r.subject) : h('span', { class: 'muted', text: '—' })),
    h('td', {}, h('a', { href: `#/workflows/${enc(r.workflow)}`, text: r.workflow })),
    h('td', {}, badge(r.status)),
    h('td', { class: 'started' }, timeEl(r.created_at)),
    h('td', { class: 'muted took', text: fmtDuration(r.created_at, r.finished_at) }),
    h('td', { class: 'clip', title: r.error || '', text: r.error || '' })));
  return table(['Run', 'Source · trigger', 'Subject', 'Workflow', 'Status', 'Started', 'Took', 'Error'], rows, emptyText);
}

// The source filter's choices: the API's source= ("name" or "name/via").
const RUN_SOURCES = [
  ['okta/hook', 'Okta hook'], ['okta/poll', 'System Log poll'], ['happyfox/hook', 'HappyFox webhook'],
  ['happyfox/poll', 'HappyFox poll'], ['webhook', 'Webhook'], ['schedule', 'schedule'], ['manual', 'API (by hand)'],
  ['cli', 'CLI'],
];

// What the list was asked for, in words: 'touching "jane@acme.com", status failed'.
function searchedText(subject, source, status, workflow) {
  const parts = [];
  if (subject) parts.push(`touching "${subject}"`);
  if (source) parts.push(`from ${(RUN_SOURCES.find(([v]) => v === source) || [source, source])[1]}`);
  if (status) parts.push(`status ${status}`);
  if (workflow) parts.push(`workflow ${workflow}`);
  return parts.join(', ');
}

// The pager: "1–50 of 1,234", ← Newer / Older →. Pages are keyset pages
// (before=ID, the API's); at= carries the position of the page's first run
// so the page can say where it is. The newer page's before= is the id of
// the run just above this page, read with one more call (up to the API's
// 1000 a call; beyond that only "Newest" is offered).
async function pager(base, runs, total, at, limit, before, known) {
  const el = h('nav', { class: 'pager', id: 'pager', 'aria-label': 'Pages of runs' });
  const first = runs.length ? at : 0;
  const last = runs.length ? at + runs.length - 1 : 0;
  const of = Number.isFinite(total) ? ` of ${fmtCount(total)}` : '';
  let where = runs.length ? `${fmtCount(first)}–${fmtCount(last)}${of}` : `none${of}`;
  if (before && !known) where = `${fmtCount(runs.length)} older than run #${before}${of}`;
  if (runs.length || before) el.append(h('span', { class: 'where', id: 'where', text: where }));
  if (before) {
    const above = at - limit - 1; // runs above the newer page
    let newer = null;
    if (!known) {
      newer = null;
    } else if (above <= 0) {
      newer = '#/runs' + withQuery('', base);
    } else if (above <= 1000) {
      const res = await api('GET', withQuery('/api/v1/runs', { ...base, limit: above })).catch(() => null);
      const rows = (res && res.runs) || [];
      if (rows.length === above) newer = '#/runs' + withQuery('', { ...base, before: rows[above - 1].id, at: above + 1 });
    }
    el.append(h('a', { href: '#/runs' + withQuery('', base), id: 'newest', text: '⇤ Newest' }));
    if (newer) el.append(h('a', { href: newer, id: 'newer', rel: 'prev', text: '← Newer' }));
  }
  const more = Number.isFinite(total) && known ? last < total : runs.length === limit;
  if (runs.length && more) {
    el.append(h('a', {
      href: '#/runs' + withQuery('', { ...base, before: runs[runs.length - 1].id, at: known ? last + 1 : '' }),
      id: 'older', rel: 'next', text: 'Older →',
    }));
  }
  return el;
}

// #/runs?subject=&status=&workflow=&before=&at=&limit=
export async function list(ctx, q) {
  const subject = (q.get('subject') || '').trim();
  const status = q.get('status') || '';
  const workflow = q.get('workflow') || '';
  const source = q.get('source') || '';
  const before = /^[0-9]{1,18}$/.test(q.get('before') || '') ? q.get('before') : '';
  let limit = parseInt(q.get('limit') || '', 10);
  if (!(limit >= 1 && limit <= 1000)) limit = DEFAULT_LIMIT;
  let at = parseInt(q.get('at') || '', 10);
  const known = !before || at >= 1; // where this page starts is known (at= came with before=)
  if (!(at >= 1) || !before) at = 1;
  ctx.title(subject ? `Runs touching ${subject}` : 'Runs');

  const base = { subject, source, status, workflow, limit: limit === DEFAULT_LIMIT ? '' : limit };
  // A search the API refuses (400: control characters, too long) keeps the
  // form, with the API's words, so it can be corrected.
  let refused = null;
  const [res, wfs] = await Promise.all([
    api('GET', withQuery('/api/v1/runs', { ...base, limit, before })).catch((e) => {
      if (e.status !== 400) throw e;
      refused = e.message;
      return { runs: [] };
    }),
    api('GET', '/api/v1/workflows').catch(() => ({ workflows: [] })),
  ]);
  const runs = res.runs || [];
  const total = typeof res.total === 'number' ? res.total : NaN;
  const names = [...new Set((wfs.workflows || []).map((w) => w.name))].sort();
  if (workflow && !names.includes(workflow)) names.push(workflow);

  const search = h('input', {
    type: 'search', id: 'filter-subject', name: 'subject', value: subject, maxlength: 255, autocomplete: 'off',
    spellcheck: 'false', placeholder: 'login, Okta id or ticket #HF…', 'aria-describedby': 'filter-subject-help',
  });
  const stSel = h('select', { id: 'filter-status', name: 'status' }, option('', 'any status', !status),
    RUN_STATUSES.map((s) => option(s, s, s === status)));
  const sources = RUN_SOURCES.some(([v]) => v === source) || !source ? RUN_SOURCES : [...RUN_SOURCES, [source, source]];
  const srcSel = h('select', { id: 'filter-source', name: 'source' }, option('', 'any source', !source),
    sources.map(([v, t]) => option(v, t, v === source)));
  const wfSel = h('select', { id: 'filter-workflow', name: 'workflow' }, option('', 'any workflow', !workflow),
    names.map((n) => option(n, n, n === workflow)));
  const filters = h('form', { class: 'filters', id: 'run-filters', role: 'search' },
    h('div', { class: 'search' }, h('label', { for: 'filter-subject', text: 'Person or ticket' }), search,
      h('div', { class: 'help muted small', id: 'filter-subject-help', text: 'a login, an Okta id, or a ticket (#HF00000006 or its number)' })),
    h('div', {}, h('label', { for: 'filter-status', text: 'Status' }), stSel),
    h('div', {}, h('label', { for: 'filter-source', text: 'Source' }), srcSel),
    h('div', {}, h('label', { for: 'filter-workflow', text: 'Workflow' }), wfSel),
    h('button', { type: 'submit', class: 'primary', text: 'Search' }),
    h('a', { href: '#/runs', class: 'button', text: 'Clear' }),
    h('button', { type: 'button', id: 'refresh', text: 'Refresh', onclick: () => ctx.reload() }));
  filters.addEventListener('submit', (ev) => {
    ev.preventDefault();
    ctx.go('#/runs' + withQuery('', {
      subject: search.value.trim(), source: srcSel.value, status: stSel.value, workflow: wfSel.value, limit: limit === DEFAULT_LIMIT ? '' : limit,
    }));
  });

  const asked = searchedText(subject, source, status, workflow);
  const empty = asked ? `No run ${asked}.` : 'No run yet.';
  const timeline = subject
    ? h('p', { class: 'timeline-link' }, h('a', { href: `#/history/${enc(subject)}`, id: 'timeline-link', text: `Timeline of ${subject}` }),
      ': every run that touched it, newest first, with what each changed.')
    : null;
  if (refused) {
    ctx.root.append(h('h1', { text: 'Runs' }), filters, errorBox(refused));
    return;
  }
  add(ctx.root, [h('h1', { text: 'Runs' }), filters, timeline,
    runsTable(runs, empty), await pager({ ...base }, runs, total, at, limit, before, known)]);
}
// ---- (end of "console-runs" list)

// ------------------------------------------------------------ one run

function stepRow(s) {
  const key = `${s.index}`;
  const name = s.item !== undefined && s.item !== null && s.item >= 0 ? `${s.step_id}[${s.item}]` : s.step_id;
  let errText = '';
  if (s.error) errText = typeof s.error === 'string' ? s.error : (s.error.message ?? JSON.stringify(s.error));
  return h('div', { class: `step ${stClass(s.status)}`, dataset: { step: String(s.step_id), status: String(s.status) } },
    h('div', { class: 'step-head' },
      h('span', { class: 'idx', text: `${s.index}` }),
      h('span', { class: 'step-id', text: name }),
      badge(s.status),
      changeTag(s), // "console-runs"
      h('span', { class: 'muted small', text: `attempts: ${s.attempts ?? 0}` }),
      h('span', { class: 'muted small' }, 'started ', timeEl(s.started_at)),
      s.finished_at ? h('span', { class: 'muted small', text: `took ${fmtDuration(s.started_at, s.finished_at) || '0 ms'}` }) : null),
    errText ? h('div', { class: 'step-error', text: errText }) : null,
    h('div', { class: 'step-data' },
      jsonBlock('Input', s.input, `${key}-input`),
      jsonBlock('Output', s.output, `${key}-output`),
      s.error ? jsonBlock('Error', s.error, `${key}-error`) : null));
}

// A pending approval, or (issue 19) the run's guardrail hold (approval.hold
// names the connection): an approver decides the one, only an admin the other.
function approvalBox(ctx, run, approval, slot) {
  const hold = isHold(approval);
  const box = h('div', { class: 'panel approval', id: 'approval' },
    h('h2', { text: hold ? `Held at the guardrail of ${approval.hold}` : 'Waiting for an approval' }),
    h('div', { class: 'message', text: approval.message || '(no message)' }),
    h('div', { class: 'muted small', text: `step ${approval.step_id}, ${hold ? 'held' : 'asked'} ${fmtTime(approval.created_at)}` }));
  if (!ctx.can(hold ? 'admin' : 'approver')) return box;
  const comment = h('input', { type: 'text', id: 'approval-comment', placeholder: 'Comment (optional)', maxlength: 1000 });
  const onDecide = (action) => async (ev) => {
    const res = await busy(ev.currentTarget, slot, () => decide(run.id, hold, action, comment.value.trim()));
    if (res) ctx.reload(`Run ${run.id} ${res.decision || action + 'd'}.`);
  };
  box.append(h('div', { class: 'field' }, h('label', { for: 'approval-comment', text: 'Comment' }), comment),
    h('div', { class: 'row' },
      h('button', { type: 'button', class: 'primary', id: 'approve', text: hold ? 'Release' : 'Approve', onclick: onDecide('approve') }),
      h('button', { type: 'button', class: 'danger', id: 'reject', text: 'Reject', onclick: onDecide('reject') })));
  return box;
}

// ---- issue 17 ("approvals-reruns"): decisions, rejection, re-run once ----

// The steps a re-run calls again: those recorded from the step the run
// stopped at (its pc) on, each named once; and the ones it reuses.
function rerunPlan(run) {
  const again = [];
  const reused = [];
  for (const s of run.steps || []) {
    const list = s.index >= run.pc && s.status !== 'reused' ? again : reused;
    if (!list.includes(s.step_id)) list.push(s.step_id);
  }
  return { again, reused: reused.filter((id) => !again.includes(id)) };
}

function rerunQuestion(run, lead) {
  const { again, reused } = rerunPlan(run);
  const calls = again.length
    ? `These steps are called again: ${again.join(', ')}, then the steps after them.`
    : `The workflow goes on from step ${run.pc + 1}.`;
  return `${lead} ${calls}${reused.length ? ` Reused, not called: ${reused.join(', ')}.` : ''}`;
}

// A confirmed re-run (force: the run was re-run already or rejected).
function rerunButton(ctx, run, slot, { id, label, lead, yes, force }) {
  const c = confirmButton(label, rerunQuestion(run, lead), yes, async () => {
    try {
      const res = await api('POST', `/api/v1/runs/${enc(run.id)}/rerun`, force ? { force: true } : {});
      ctx.go(`#/runs/${enc(res.run_id)}`, `Run ${run.id} re-run as run ${res.run_id}.`);
    } catch (e) {
      slot.error(e.message);
    }
  }, force ? '' : 'primary');
  c.querySelector('button').id = id;
  return c;
}

// "Rejected by X: comment" for a run a rejection ended (not an error).
function rejectedBox(run) {
  const r = run.rejected;
  return h('div', { class: 'warn', id: 'rejected', role: 'status' },
    h('strong', { text: `Rejected by ${r.by || 'an approver'}` }),
    r.comment ? `: ${r.comment}` : ' (no comment)',
    h('span', { class: 'muted small', text: ` · step ${r.step_id}, ${fmtTime(r.at)}` }));
}

// Every decided approval of the run: who, when, and the comment.
function decisionsPanel(run) {
  const done = (run.approvals || []).filter((a) => a.status !== 'pending');
  if (!done.length) return null;
  return h('div', { class: 'panel', id: 'decisions' },
    h('h2', { text: 'Approvals' }),
    h('ul', {}, done.map((a) => h('li', { class: 'decision', dataset: { step: String(a.step_id), status: String(a.status) } },
      badge(a.status), ` ${a.status} by `, h('strong', { text: a.actor || '?' }),
      a.comment ? `: ${a.comment}` : '',
      h('span', { class: 'muted small', text: ` · step ${a.step_id}, ${fmtTime(a.decided_at)}` })))));
}

function actions(ctx, run, slot) {
  const bar = h('div', { class: 'actions' });
  if (ctx.can('operator') && RERUNNABLE.has(run.status)) {
    if (run.rerun_as) {
      bar.append(rerunButton(ctx, run, slot, {
        id: 'rerun-again', label: 'Re-run again anyway', yes: 'Yes, re-run again', force: true,
        lead: `Run ${run.id} was already re-run as #${run.rerun_as}. Re-run it again?`,
      }));
    } else if (run.rejected) {
      bar.append(rerunButton(ctx, run, slot, {
        id: 'ask-again', label: 'Ask for the approval again', yes: 'Yes, ask again', force: true,
        lead: `Run ${run.id} was rejected by ${run.rejected.by || 'an approver'}. Start it again from the approval?`,
      }));
    } else {
      bar.append(rerunButton(ctx, run, slot, {
        id: 'rerun', label: 'Re-run from the failed step', yes: 'Yes, re-run',
        lead: `Re-run run ${run.id}?`,
      }));
    }
  }
  if (ctx.can('operator') && ACTIVE.has(run.status)) {
    const c = confirmButton('Cancel run', `Cancel run ${run.id}?`, 'Yes, cancel it', async () => {
      try {
        const res = await api('POST', `/api/v1/runs/${enc(run.id)}/cancel`, { reason: `cancelled from the console by ${ctx.me.actor}` });
        ctx.reload(`Run ${run.id}: ${res.status}.`);
      } catch (e) {
        slot.error(e.message);
      }
    });
    c.querySelector('button').id = 'cancel';
    bar.append(c);
  }
  return bar.childNodes.length ? bar : null;
}

// ---- "console-runs" (issue 17): the run page's "Started by" and
// "Concerns" panels, and what a step changed.

// Subject kinds as people say them ("okta.user" -> "Okta user").
function kindText(kind) {
  const [conn, what] = String(kind || '').split('.', 2);
  if (!what) return conn || '';
  return `${SOURCE_NAMES[conn] || conn} ${what}`;
}

// What started the run: how its event came (source, via, by whom), its
// trigger, its connection and when idflow received it.
function startedBy(run) {
  const src = runSource(run);
  const ev = run.event && typeof run.event === 'object' ? run.event : {};
  const when = typeof ev.time === 'string' || typeof ev.time === 'number' ? ev.time : null;
  const dl = h('dl', { class: 'meta' },
    h('dt', { text: 'Source' }), h('dd', { id: 'started-source', text: startedVia(run) }),
    h('dt', { text: 'Via' }), h('dd', { id: 'started-via', text: src.via ? `${src.name ?? '?'} / ${src.via}` : `${src.name ?? '?'} (not recorded)` }),
    h('dt', { text: 'By' }), h('dd', { id: 'started-actor', text: src.actor ?? '—' }),
    h('dt', { text: 'Trigger' }), h('dd', { id: 'started-trigger', text: run.trigger ?? ev.type ?? '—' }),
    h('dt', { text: 'Connection' }), h('dd', { text: src.connection ?? '—' }),
    h('dt', { text: 'Event time' }), h('dd', {}, when ? timeEl(when) : '—'));
  return h('section', { class: 'panel started-by', id: 'started-by', 'aria-labelledby': 'started-by-h' },
    h('h2', { id: 'started-by-h', text: 'Started by' }), dl);
}

// Whom and what the run concerns: one line per subject (its keys folded
// into one: a user found by id and login is one person), from the event
// first, then what steps resolved, each a link to its timeline.
function concerns(run) {
  const seen = new Map();
  for (const sub of run.subjects || []) {
    const label = sub.label || (Array.isArray(sub.keys) ? sub.keys[0] : sub.key);
    if (!label) continue;
    const k = `${sub.kind}\u0000${label}`;
    if (!seen.has(k)) seen.set(k, { kind: sub.kind, label, steps: new Set() });
    seen.get(k).steps.add(sub.step_id ?? null);
  }
  const items = [...seen.values()].map((x) => {
    const from = [...x.steps].map((st) => (st === null ? 'the event' : `step ${st}`)).join(', ');
    return h('li', { class: 'subject-item', dataset: { subject: x.label } },
      subjectLink(x.label), h('span', { class: 'muted small', text: ` ${kindText(x.kind)} · from ${from}` }));
  });
  return h('section', { class: 'panel concerns', id: 'concerns', 'aria-labelledby': 'concerns-h' },
    h('h2', { id: 'concerns-h', text: 'Concerns' }),
    items.length ? h('ul', { class: 'subjects' }, items)
      : h('p', { class: 'muted', text: 'No user or ticket recorded for this run.' }));
}

// What a step changed ("suspended"), shown in its head; null when nothing.
function changeTag(s) {
  return s.change ? h('span', { class: 'change', title: 'what this step changed', text: `changed: ${s.change}` }) : null;
}
// ---- (end of "console-runs" run page)

function runView(ctx, run, approval, slot) {
  const meta = h('dl', { class: 'meta' },
    h('dt', { text: 'Workflow' }), h('dd', {}, h('a', { href: `#/workflows/${enc(run.workflow)}`, text: run.workflow }),
      h('span', { class: 'muted', text: ` version ${run.version}` })),
    h('dt', { text: 'Started' }), h('dd', {}, timeEl(run.created_at)),
    h('dt', { text: 'Updated' }), h('dd', {}, timeEl(run.updated_at)),
    h('dt', { text: 'Finished' }), h('dd', {}, timeEl(run.finished_at), ` ${fmtDuration(run.created_at, run.finished_at)}`),
    run.wake_at ? [h('dt', { text: 'Wakes at' }), h('dd', {}, timeEl(run.wake_at))] : null,
    run.rerun_of ? [h('dt', { text: 'Re-run of' }), h('dd', {}, h('a', { href: `#/runs/${enc(run.rerun_of)}`, id: 'rerun-of', text: `#${run.rerun_of}` }))] : null,
    run.rerun_as ? [h('dt', { text: 'Re-run as' }), h('dd', {}, h('a', { href: `#/runs/${enc(run.rerun_as)}`, id: 'rerun-as', text: `#${run.rerun_as}` }))] : null,
    h('dt', { text: 'Event' }), h('dd', { text: `#${run.event_id}` }));
  const steps = run.steps || [];
  return h('div', { class: 'run-body' },
    h('h1', {}, h('span', { text: `Run ${run.id}` }), run.rejected ? badge('rejected') : badge(run.status),
      h('span', { class: 'muted', text: run.workflow })),
    slot.el,
    run.rejected ? rejectedBox(run) : (run.error ? errorBox(run.error) : null),
    run.rerun_as ? h('div', { class: 'notice', id: 'rerun-as-note' }, `Re-run as `,
      h('a', { href: `#/runs/${enc(run.rerun_as)}`, text: `#${run.rerun_as}` }), '.') : null,
    actions(ctx, run, slot),
    approval ? approvalBox(ctx, run, approval, slot) : null,
    decisionsPanel(run),
    h('div', { class: 'run-origin' }, startedBy(run), concerns(run)), // "console-runs"
    h('div', { class: 'panel' }, meta, h('div', { class: 'step-data' }, jsonBlock('Event', run.event, 'event'))),
    h('h2', { text: `Steps (${steps.length})` }),
    steps.length ? h('div', { class: 'steps', id: 'steps' }, steps.map(stepRow))
      : h('div', { class: 'empty', text: 'No step has run yet.' }));
}

async function loadRun(id) {
  const run = await api('GET', `/api/v1/runs/${enc(id)}`);
  // the run's own approvals carry the pending one (issue 17)
  const approval = run.status === 'waiting' || run.status === 'held'
                       ? (run.approvals || []).find((a) => a.status === 'pending') || null
                       : null;
  return { run, approval };
}

// #/runs/ID: refreshed while the run is not finished; the page is rebuilt
// only when something changed, keeping open blocks open.
export async function show(ctx, id) {
  if (!/^[0-9]{1,18}$/.test(id)) {
    ctx.root.append(h('h1', { text: 'Run' }), errorBox('no such run'));
    return;
  }
  ctx.title(`Run ${id}`);
  const slot = messageSlot();
  let { run, approval } = await loadRun(id);
  let sig = JSON.stringify([run, approval]);
  let view = runView(ctx, run, approval, slot);
  ctx.root.append(view);
  if (!ACTIVE.has(run.status)) return;
  ctx.every(async () => {
    ({ run, approval } = await loadRun(id));
    const now = JSON.stringify([run, approval]);
    if (!ctx.alive()) return false;
    if (now !== sig) {
      sig = now;
      const fresh = runView(ctx, run, approval, slot);
      keepOpen(view, fresh);
      const oldComment = view.querySelector('#approval-comment');
      const newComment = fresh.querySelector('#approval-comment');
      if (oldComment && newComment) newComment.value = oldComment.value;
      swapKeepingFocus(view, fresh); // a11y: focus stays where it was
      view = fresh;
    }
    return ACTIVE.has(run.status);
  }, REFRESH_MS);
}
