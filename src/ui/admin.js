// admin.js — the admin pages: the audit log (#/audit) and API tokens
// (#/tokens: list, create — the new token is shown once — and revoke).
import { api, enc, withQuery } from './api.js';
import { badge, busy, confirmButton, fmtTime, focusEl, h, messageSlot, option, table, timeEl } from './dom.js';

const AUDIT_LIMITS = [100, 500, 1000];
const ROLES = ['viewer', 'approver', 'operator', 'admin'];

// #/audit?limit=
export async function audit(ctx, q) {
  ctx.title('Audit log');
  let limit = parseInt(q.get('limit') || '100', 10);
  if (!AUDIT_LIMITS.includes(limit)) limit = 100;
  const res = await api('GET', withQuery('/api/v1/audit', { limit }));
  const items = res.audit || [];
  const sel = h('select', { id: 'audit-limit' }, AUDIT_LIMITS.map((n) => option(String(n), `newest ${n}`, n === limit)));
  sel.addEventListener('change', () => ctx.go('#/audit' + withQuery('', { limit: sel.value === '100' ? '' : sel.value })));
  const rows = items.map((a) => h('tr', { dataset: { action: String(a.action) } },
    h('td', {}, timeEl(a.at)),
    h('td', { class: 'mono', text: a.actor }),
    h('td', { text: a.action }),
    h('td', { class: 'mono', text: a.target ?? '' }),
    h('td', { class: 'mono small', text: typeof a.detail === 'string' ? a.detail : JSON.stringify(a.detail ?? '') })));
  ctx.root.append(h('h1', { text: 'Audit log' }),
    h('div', { class: 'filters' }, h('div', {}, h('label', { for: 'audit-limit', text: 'Show' }), sel)),
    table(['When', 'Who', 'Action', 'Target', 'Detail'], rows, 'Nothing audited yet.'));
}

function copyButton(input) {
  const btn = h('button', { type: 'button', id: 'copy-token', text: 'Copy' });
  btn.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(input.value);
    } catch {
      input.select();
      document.execCommand('copy');
    }
    btn.textContent = 'Copied';
  });
  return btn;
}

// The new token, once, with a copy button. firstToken: it was the first
// token, made while the API was open, and this console signed in with it.
function newTokenPanel(res, firstToken) {
  const input = h('input', { type: 'text', id: 'new-token', readonly: true, value: res.token, spellcheck: 'false', 'aria-label': 'new API token' });
  input.addEventListener('focus', () => input.select());
  const panel = h('div', { class: 'panel token-once', id: 'token-once' },
    h('h2', { text: `New token "${res.name}" (${res.role})` }),
    h('div', { class: 'warn', role: 'alert', text: 'Copy this token now: it will not be shown again. idflow keeps only its hash.' }),
    h('div', { class: 'row' }, input, copyButton(input)),
    res.expires_at ? h('p', { class: 'muted small', text: `Expires ${fmtTime(res.expires_at)}.` }) : null);
  if (firstToken) {
    panel.append(h('div', { class: 'notice', id: 'first-token', role: 'status',
      text: 'This was the first token: from now on every request needs a token. This console signed in with it ' +
        '(in this tab only); keep a copy to sign in elsewhere.' }));
  }
  return panel;
}

// Part "demo-tokens" (issue 17): while the API is open (no token yet) the
// first token must be an admin's — the API refuses another role — so the
// form offers admin only and says why.
const FIRST_TOKEN_WHY = 'The first token must be an admin\'s: once it exists, the console needs a token, ' +
  'and only an admin token can make others.';

function createForm(ctx, slot, onCreated) {
  const first = ctx.open;
  const name = h('input', { type: 'text', id: 'token-name', maxlength: 64, placeholder: 'e.g. it-oncall', spellcheck: 'false', autocomplete: 'off' });
  const role = h('select', { id: 'token-role', 'aria-describedby': first ? 'token-role-why' : undefined },
    ROLES.map((r) => {
      const o = option(r, r, first ? r === 'admin' : r === 'viewer');
      if (first && r !== 'admin') o.disabled = true;
      return o;
    }));
  const ttl = h('input', { type: 'text', id: 'token-expires', placeholder: 'never (or 90d, 12h)', maxlength: 16 });
  const button = h('button', { type: 'submit', class: 'primary', id: 'create-token', text: 'Create token' });
  const form = h('form', { class: 'filters panel', id: 'token-form', novalidate: true },
    h('div', {}, h('label', { for: 'token-name', text: 'Name' }), name),
    h('div', {}, h('label', { for: 'token-role', text: 'Role' }), role),
    h('div', {}, h('label', { for: 'token-expires', text: 'Expires in' }), ttl),
    button,
    first ? h('p', { class: 'help', id: 'token-role-why', text: FIRST_TOKEN_WHY }) : null);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const body = { name: name.value.trim(), role: role.value };
    if (ttl.value.trim()) body.expires_in = ttl.value.trim();
    const res = await busy(button, slot, () => api('POST', '/api/v1/tokens', body));
    if (!res) return;
    name.value = '';
    ttl.value = '';
    slot.clear();
    onCreated(res);
  });
  return form;
}

function tokenRows(ctx, tokens, slot) {
  return tokens.map((t) => h('tr', { dataset: { token: String(t.name) } },
    h('td', { class: 'mono' }, t.name, `token:${t.name}` === ctx.me.actor ? h('span', { class: 'muted small', text: ' (this session)' }) : null),
    h('td', { text: t.role }),
    h('td', { class: 'mono', text: t.prefix ? `${t.prefix}…` : '' }),
    h('td', {}, timeEl(t.created_at)),
    h('td', { class: 'mono small', text: t.created_by ?? '' }),
    h('td', {}, t.expired ? badge('expired') : timeEl(t.expires_at)),
    h('td', {}, timeEl(t.last_used_at)),
    h('td', {}, confirmButton('Revoke', `Revoke ${t.name}? Requests with it are refused from now on.`, 'Yes, revoke', async () => {
      try {
        const res = await api('DELETE', `/api/v1/tokens/${enc(t.name)}`);
        ctx.reload(`Token ${res.revoked ?? t.name} revoked.`);
      } catch (e) {
        slot.error(e.message);
      }
    }))));
}

export async function tokens(ctx) {
  ctx.title('API tokens');
  const res = await api('GET', '/api/v1/tokens');
  const slot = messageSlot();
  const once = h('div', { id: 'token-once-slot' });
  const listBox = h('div', { id: 'token-list' });
  const cols = ['Name', 'Role', 'Prefix', 'Created', 'By', 'Expires', 'Last used', ''];
  const showList = (list) => listBox.replaceChildren(table(cols, tokenRows(ctx, list, slot), 'No token yet.'));
  showList(res.tokens || []);
  const formBox = h('div', { id: 'token-form-box' });
  const onCreated = async (created) => {
    // On an open install the first token ends open access: the console
    // signs in with it here, keeping this page (and the token on it).
    const first = ctx.open;
    if (first) {
      try {
        await ctx.adoptToken(created.token);
      } catch (e) {
        slot.error(`The token was created, but signing in with it failed: ${e.message}`);
      }
      formBox.replaceChildren(createForm(ctx, slot, onCreated)); // every role again
    }
    once.replaceChildren(newTokenPanel(created, first && !ctx.open));
    focusEl(once.querySelector('#new-token')); // a11y: the result, selected for copying
    try {
      showList((await api('GET', '/api/v1/tokens')).tokens || []);
    } catch (e) {
      slot.error(e.message);
    }
  };
  formBox.append(createForm(ctx, slot, onCreated));
  ctx.root.append(h('h1', { text: 'API tokens' }),
    h('p', { class: 'muted' }, 'Roles are ordered: viewer < approver < operator < admin; each may do what the ones before it may. ',
      'The same as ', h('code', { text: 'idflow token create|list|revoke' }), '.'),
    slot.el, once, h('h2', { text: 'Create a token' }), formBox,
    h('h2', { text: 'Tokens' }), listBox);
}
