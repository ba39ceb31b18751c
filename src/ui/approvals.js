// approvals.js — the approvals inbox (#/approvals): every pending approval
// with its message; approvers approve or reject it with a comment. Runs
// held at a connection's guardrail (issue 19: a.hold names the connection)
// are listed too; only an admin releases or rejects them.
import { api, enc } from './api.js';
import { busy, fmtTime, focusEl, h, messageSlot } from './dom.js';

// The nav's pending count (issue 17): the number of approvals waiting, from
// the approvals list (a few hundred at most: STORE_LIST_MAX), shown after
// the Approvals item; refreshed on every page change and after a decision.
// A failure leaves the last count (the page itself reports errors).
export async function refreshNavCount(pending) {
  let n = pending;
  if (n === undefined) {
    try {
      n = ((await api('GET', '/api/v1/approvals')).approvals || []).length;
    } catch {
      return;
    }
  }
  const link = document.querySelector('#nav a[data-page="approvals"]');
  if (!link) return;
  let count = link.querySelector('.nav-count');
  if (!count) {
    count = h('span', { class: 'badge nav-count', id: 'nav-approvals-count' });
    link.append(' ', count);
  }
  count.textContent = String(n);
  count.hidden = n === 0;
  count.setAttribute('aria-label', `${n} pending`);
  count.dataset.count = String(n);
}

// Issue 19: true when a pending approval is a run's guardrail hold (a.hold
// names the connection), which only an admin decides.
export function isHold(a) {
  return typeof a.hold === 'string' && a.hold !== '';
}

// Decides a pending approval (action 'approve' or 'reject'), or releases or
// rejects a guardrail hold: POST .../release, with {reject: true} to reject.
export function decide(runId, hold, action, comment) {
  const body = comment ? { comment } : {};
  if (hold && action === 'reject') body.reject = true;
  return api('POST', `/api/v1/runs/${enc(runId)}/${hold ? 'release' : action}`, body);
}

function card(ctx, a, pageSlot) {
  const slot = messageSlot();
  const hold = isHold(a);
  const el = h('div', { class: hold ? 'panel approval hold' : 'panel approval', dataset: { runId: String(a.run_id) } },
    h('div', { class: 'row' },
      h('a', { href: `#/runs/${enc(a.run_id)}`, text: `Run #${a.run_id}` }),
      h('a', { href: `#/workflows/${enc(a.workflow)}`, text: a.workflow }),
      hold ? h('span', { class: 'badge held', text: `held at the guardrail of ${a.hold}` }) : null,
      h('span', { class: 'muted small', text: `step ${a.step_id} · ${hold ? 'held' : 'asked'} ${fmtTime(a.created_at)}` })),
    h('div', { class: 'message', text: a.message || '(no message)' }),
    slot.el);
  if (!ctx.can(hold ? 'admin' : 'approver')) {
    if (hold) el.append(h('div', { class: 'muted small', text: 'Releasing a held run needs the admin role.' }));
    return el;
  }
  const id = `comment-${a.run_id}`;
  const comment = h('input', { type: 'text', id, class: 'comment', placeholder: 'Comment (optional)', maxlength: 1000 });
  const onDecide = (action) => async (ev) => {
    const res = await busy(ev.currentTarget, slot, () => decide(a.run_id, hold, action, comment.value.trim()));
    if (!res) return;
    const done = h('div', { class: 'notice', role: 'status', dataset: { runId: String(a.run_id) } },
      `Run ${a.run_id} ${res.decision || action + 'd'}. `, h('a', { href: `#/runs/${enc(a.run_id)}`, text: 'Follow the run' }));
    el.replaceWith(done);
    focusEl(done); // a11y: the focus follows the result, not <body>
    pageSlot.clear();
    refreshNavCount();
  };
  el.append(h('div', { class: 'field' }, h('label', { for: id, text: 'Comment' }), comment),
    h('div', { class: 'row' },
      h('button', { type: 'button', class: 'primary approve', text: hold ? 'Release' : 'Approve', onclick: onDecide('approve') }),
      h('button', { type: 'button', class: 'danger reject', text: 'Reject', onclick: onDecide('reject') })));
  return el;
}

export async function render(ctx) {
  ctx.title('Approvals');
  const res = await api('GET', '/api/v1/approvals');
  const items = res.approvals || [];
  const slot = messageSlot();
  refreshNavCount(items.length);
  ctx.root.append(h('h1', { text: 'Approvals' }), slot.el,
    h('div', { class: 'actions' }, h('button', { type: 'button', id: 'refresh', text: 'Refresh', onclick: () => ctx.reload() })));
  if (!ctx.can('approver') && items.length) {
    ctx.root.append(h('div', { class: 'warn', text: `Deciding needs the approver role; you have the ${ctx.me.role} role.` }));
  }
  if (!items.length) {
    ctx.root.append(h('div', { class: 'empty', id: 'no-approvals', text: 'No approval is waiting.' }));
    return;
  }
  ctx.root.append(h('div', { id: 'approvals' }, items.map((a) => card(ctx, a, slot))));
}
