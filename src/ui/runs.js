// runs.js — the run history (#/runs, the default page) and one run
// (#/runs/ID): its event, each step coloured by status with its input,
// output and error, and the actions the signed-in role may take.
import { api, enc, withQuery } from './api.js';
import {
  badge, busy, confirmButton, errorBox, fmtDuration, fmtTime, h, jsonBlock, keepOpen, messageSlot, option,
  stClass, swapKeepingFocus, table, timeEl,
} from './dom.js';

export const RUN_STATUSES = ['queued', 'running', 'waiting', 'succeeded', 'failed', 'cancelled'];
const ACTIVE = new Set(['queued', 'running', 'waiting']);
const RERUNNABLE = new Set(['failed', 'cancelled']);
const REFRESH_MS = 1500;
const DEFAULT_LIMIT = 50;

// A table of runs (the list and a workflow's page share it).
export function runsTable(runs, emptyText) {
  const rows = runs.map((r) => h('tr', { class: 'run-row', dataset: { runId: String(r.id), status: String(r.status) } },
    h('td', {}, h('a', { href: `#/runs/${enc(r.id)}`, text: `#${r.id}` })),
    h('td', {}, h('a', { href: `#/workflows/${enc(r.workflow)}`, text: r.workflow })),
    h('td', {}, badge(r.status)),
    h('td', {}, timeEl(r.created_at)),
    h('td', {}, timeEl(r.finished_at)),
    h('td', { class: 'muted', text: fmtDuration(r.created_at, r.finished_at) }),
    h('td', { class: 'clip', title: r.error || '', text: r.error || '' })));
  return table(['Run', 'Workflow', 'Status', 'Started', 'Finished', 'Took', 'Error'], rows, emptyText);
}

// #/runs?status=&workflow=&before=&limit=
export async function list(ctx, q) {
  const status = q.get('status') || '';
  const workflow = q.get('workflow') || '';
  const before = q.get('before') || '';
  let limit = parseInt(q.get('limit') || '', 10);
  if (!(limit >= 1 && limit <= 1000)) limit = DEFAULT_LIMIT;
  ctx.title('Runs');

  const [res, wfs] = await Promise.all([
    api('GET', withQuery('/api/v1/runs', { status, workflow, before, limit })),
    api('GET', '/api/v1/workflows').catch(() => ({ workflows: [] })),
  ]);
  const runs = res.runs || [];
  const names = [...new Set((wfs.workflows || []).map((w) => w.name))].sort();
  if (workflow && !names.includes(workflow)) names.push(workflow);

  const stSel = h('select', { id: 'filter-status', name: 'status' }, option('', 'any status', !status),
    RUN_STATUSES.map((s) => option(s, s, s === status)));
  const wfSel = h('select', { id: 'filter-workflow', name: 'workflow' }, option('', 'any workflow', !workflow),
    names.map((n) => option(n, n, n === workflow)));
  const filters = h('form', { class: 'filters', id: 'run-filters' },
    h('div', {}, h('label', { for: 'filter-status', text: 'Status' }), stSel),
    h('div', {}, h('label', { for: 'filter-workflow', text: 'Workflow' }), wfSel),
    h('button', { type: 'submit', class: 'primary', text: 'Filter' }),
    h('a', { href: '#/runs', class: 'button', text: 'Clear' }),
    h('button', { type: 'button', id: 'refresh', text: 'Refresh', onclick: () => ctx.reload() }));
  filters.addEventListener('submit', (ev) => {
    ev.preventDefault();
    ctx.go('#/runs' + withQuery('', {
      status: stSel.value, workflow: wfSel.value, limit: limit === DEFAULT_LIMIT ? '' : limit,
    }));
  });

  const here = { status, workflow, limit: limit === DEFAULT_LIMIT ? '' : limit };
  const pager = h('div', { class: 'pager' });
  if (before) pager.append(h('a', { href: '#/runs' + withQuery('', here), id: 'newest', text: '← Newest runs' }));
  if (runs.length === limit && runs.length) {
    const last = runs[runs.length - 1].id;
    pager.append(h('a', { href: '#/runs' + withQuery('', { ...here, before: last }), id: 'older', text: 'Older runs →' }));
  }
  ctx.root.append(h('h1', { text: 'Runs' }), filters,
    runsTable(runs, status || workflow ? 'No run matches these filters.' : 'No run yet.'), pager);
}

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
      h('span', { class: 'muted small', text: `attempts: ${s.attempts ?? 0}` }),
      h('span', { class: 'muted small' }, 'started ', timeEl(s.started_at)),
      s.finished_at ? h('span', { class: 'muted small', text: `took ${fmtDuration(s.started_at, s.finished_at) || '0 ms'}` }) : null),
    errText ? h('div', { class: 'step-error', text: errText }) : null,
    h('div', { class: 'step-data' },
      jsonBlock('Input', s.input, `${key}-input`),
      jsonBlock('Output', s.output, `${key}-output`),
      s.error ? jsonBlock('Error', s.error, `${key}-error`) : null));
}

function approvalBox(ctx, run, approval, slot) {
  const box = h('div', { class: 'panel approval', id: 'approval' },
    h('h2', { text: 'Waiting for an approval' }),
    h('div', { class: 'message', text: approval.message || '(no message)' }),
    h('div', { class: 'muted small', text: `step ${approval.step_id}, asked ${fmtTime(approval.created_at)}` }));
  if (!ctx.can('approver')) return box;
  const comment = h('input', { type: 'text', id: 'approval-comment', placeholder: 'Comment (optional)', maxlength: 1000 });
  const decide = (action) => async (ev) => {
    const body = comment.value.trim() ? { comment: comment.value.trim() } : {};
    const res = await busy(ev.currentTarget, slot, () => api('POST', `/api/v1/runs/${enc(run.id)}/${action}`, body));
    if (res) ctx.reload(`Run ${run.id} ${res.decision || action + 'd'}.`);
  };
  box.append(h('div', { class: 'field' }, h('label', { for: 'approval-comment', text: 'Comment' }), comment),
    h('div', { class: 'row' },
      h('button', { type: 'button', class: 'primary', id: 'approve', text: 'Approve', onclick: decide('approve') }),
      h('button', { type: 'button', class: 'danger', id: 'reject', text: 'Reject', onclick: decide('reject') })));
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
    h('div', { class: 'panel' }, meta, h('div', { class: 'step-data' }, jsonBlock('Event', run.event, 'event'))),
    h('h2', { text: `Steps (${steps.length})` }),
    steps.length ? h('div', { class: 'steps', id: 'steps' }, steps.map(stepRow))
      : h('div', { class: 'empty', text: 'No step has run yet.' }));
}

async function loadRun(id) {
  const run = await api('GET', `/api/v1/runs/${enc(id)}`);
  // the run's own approvals carry the pending one (issue 17)
  const approval = run.status === 'waiting'
    ? (run.approvals || []).find((a) => a.status === 'pending') || null : null;
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
