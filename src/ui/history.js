// history.js — a person's or a ticket's timeline (#/history/SUBJECT): every
// run that touched that user or ticket (by login, Okta id, ticket display id
// or number), newest first, each with how it started and what it changed —
// what an auditor asks for. #/history without a subject asks for one.
// Built on GET /api/v1/history (docs/api.md); issue 17, part "console-runs".
import { api, enc, withQuery } from './api.js';
import { add, badge, errorBox, fmtDuration, fmtTime, h, timeEl } from './dom.js';
import { sourceText, subjectLink } from './runs.js';

const PAGE = 50;

// The form that opens a timeline (also on an empty result, to try again).
function askForm(ctx, value) {
  const input = h('input', {
    type: 'search', id: 'history-subject', name: 'subject', value: value || '', maxlength: 255,
    autocomplete: 'off', spellcheck: 'false', placeholder: 'jane@acme.com, 00u…, #HF00000006',
  });
  const form = h('form', { class: 'filters', id: 'history-form', role: 'search' },
    h('div', { class: 'search' }, h('label', { for: 'history-subject', text: 'Person or ticket' }), input),
    h('button', { type: 'submit', class: 'primary', text: 'Show timeline' }));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const v = input.value.trim();
    if (v) ctx.go(`#/history/${enc(v)}`);
  });
  return form;
}

// One run of the timeline: when, which workflow, how it started, its
// status, and the list of what it changed (or that it changed nothing).
function entry(r) {
  const changes = (r.changes || []).filter((c) => c && c.change);
  const when = r.created_at;
  return h('li', { class: 'timeline-entry', dataset: { runId: String(r.id), status: String(r.status) } },
    h('div', { class: 'row' },
      h('span', { class: 'when' }, timeEl(when)),
      h('a', { href: `#/runs/${enc(r.id)}`, class: 'run-link', text: `Run #${r.id}` }),
      h('a', { href: `#/workflows/${enc(r.workflow)}`, text: r.workflow }),
      badge(r.status),
      h('span', { class: 'muted small source', text: sourceText(r) }),
      r.finished_at ? h('span', { class: 'muted small', text: `took ${fmtDuration(r.created_at, r.finished_at) || '0 ms'}` }) : null),
    changes.length
      ? h('ul', { class: 'changes' }, changes.map((c) => h('li', { class: 'change', dataset: { step: String(c.step_id ?? '') } },
        h('strong', { text: c.change }),
        h('span', { class: 'muted small', text: ` step ${c.step_id}${c.item !== undefined && c.item !== null && c.item >= 0 ? `[${c.item}]` : ''}${c.finished_at ? ` · ${fmtTime(c.finished_at)}` : ''}` }))))
      : h('div', { class: 'muted small no-change', text: 'changed nothing' }),
    r.error ? h('div', { class: 'step-error', text: r.error }) : null);
}

// #/history/SUBJECT?before=
export async function render(ctx, subject, q) {
  subject = (subject || '').trim();
  if (!subject) {
    ctx.title('Timeline');
    ctx.root.append(h('h1', { text: 'Timeline' }),
      h('p', { text: 'Every run that touched one user or ticket, newest first, with what each changed.' }),
      askForm(ctx, ''));
    return;
  }
  const before = /^[0-9]{1,18}$/.test(q.get('before') || '') ? q.get('before') : '';
  ctx.title(`Timeline of ${subject}`);
  let res;
  try {
    res = await api('GET', withQuery('/api/v1/history', { subject, before, limit: PAGE }));
  } catch (e) {
    if (e.status !== 400) throw e;
    // A subject the API refuses: its words, and the form to correct it.
    ctx.root.append(h('h1', { text: 'Timeline' }), errorBox(e.message), askForm(ctx, subject));
    return;
  }
  const runs = res.runs || [];
  const total = typeof res.total === 'number' ? res.total : null;
  const label = res.label || subject;
  const count = total === null ? '' : `${total.toLocaleString('en-US')} run${total === 1 ? '' : 's'}`;
  const head = h('h1', {}, h('span', { text: 'Timeline of ' }), h('span', { class: 'subject', id: 'history-subject-label', text: label }));
  const pager = h('nav', { class: 'pager', 'aria-label': 'Pages of the timeline' });
  if (before) pager.append(h('a', { href: `#/history/${enc(subject)}`, id: 'history-newest', text: '⇤ Newest' }));
  if (runs.length === PAGE) {
    pager.append(h('a', {
      href: `#/history/${enc(subject)}` + withQuery('', { before: runs[runs.length - 1].id }), id: 'history-older', text: 'Older →',
    }));
  }
  add(ctx.root, [head,
    h('p', { class: 'muted', id: 'history-count' },
      count ? `${count} touched ${label}, newest first. ` : '',
      h('a', { href: '#/runs' + withQuery('', { subject }), text: 'Show them in the runs list' })),
    runs.length
      ? h('ol', { class: 'timeline', id: 'timeline' }, runs.map(entry))
      : h('div', { class: 'empty', id: 'timeline-empty', text: `No run touched "${subject}" (searched as a login, an Okta id and a ticket).` }),
    pager, runs.length ? null : askForm(ctx, subject)]);
}
