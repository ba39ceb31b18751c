// connections.js — stored connections (#/connections): the list (never a
// secret: the API does not return them), a credentials test for operators,
// and for admins the form to add or edit one (#/connections/new,
// #/connections/edit/NAME), built from the connector's fields, and delete.
//
// Secret fields are password inputs that are never pre-filled: the API
// cannot give them back; an edit leaves a secret empty to keep the stored
// one (the API allows that only while the URL is unchanged). The API checks the credentials with a real call before it stores
// anything; its answer (the field at fault, the remote's refusal, a remote
// it could not reach, or whom the credentials belong to) is shown as it is.
import { api, enc } from './api.js';
import { add, confirmButton, errorBox, focusEl, h, messageSlot, option, table, timeEl } from './dom.js';

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

// {"login": "a@b", "org": "x"} as "login: a@b · org: x".
function summary(obj) {
  if (obj === null || obj === undefined) return '';
  if (typeof obj !== 'object') return String(obj);
  return Object.entries(obj)
    .map(([k, v]) => `${k}: ${v !== null && typeof v === 'object' ? JSON.stringify(v) : v}`)
    .join(' · ');
}

function testCell(ctx, c) {
  const out = h('span', { class: 'test-result small' });
  const btn = h('button', {
    type: 'button', class: 'test', text: 'Test',
    onclick: async () => {
      out.replaceChildren('testing…');
      btn.disabled = true;
      try {
        const res = await api('POST', `/api/v1/connections/${enc(c.name)}/test`, {});
        out.replaceChildren(res.ok
          ? h('span', { class: 'badge st-ok', text: 'OK' })
          : h('span', { class: 'badge st-failed', text: 'failed' }),
        ' ', h('span', { text: res.ok ? summary(res.whoami) : (res.error || '') }));
      } catch (e) {
        out.replaceChildren(h('span', { class: 'badge st-failed', text: 'error' }), ' ', h('span', { text: e.message }));
      } finally {
        btn.disabled = false;
      }
    },
  });
  return h('td', {}, h('div', { class: 'row' }, btn), out);
}

export async function list(ctx) {
  ctx.title('Connections');
  const res = await api('GET', '/api/v1/connections');
  const conns = res.connections || [];
  const slot = messageSlot();
  const rows = conns.map((c) => {
    const tools = h('div', { class: 'row' });
    if (ctx.can('admin')) {
      tools.append(h('a', { class: 'button edit', href: `#/connections/edit/${enc(c.name)}`, text: 'Edit' }),
        confirmButton('Delete', `Delete connection ${c.name}?`, 'Yes, delete', async () => {
          try {
            await api('DELETE', `/api/v1/connections/${enc(c.name)}`);
            ctx.reload(`Connection ${c.name} deleted.`);
          } catch (e) {
            slot.error(e.message);
          }
        }));
    }
    return h('tr', { dataset: { connection: String(c.name) } },
      h('td', { class: 'mono', text: c.name }),
      h('td', { text: c.kind }),
      h('td', { class: 'small', text: summary(c.config) }),
      h('td', {}, timeEl(c.updated_at || c.created_at)),
      ctx.can('operator') ? testCell(ctx, c) : null,
      ctx.can('admin') ? h('td', {}, tools) : null);
  });
  const cols = ['Name', 'Kind', 'Settings', 'Updated'];
  if (ctx.can('operator')) cols.push('Credentials');
  if (ctx.can('admin')) cols.push('');
  add(ctx.root, [h('h1', { text: 'Connections' }), slot.el,
    ctx.can('admin') ? h('div', { class: 'actions' }, h('a', { class: 'button primary', id: 'add-connection', href: '#/connections/new', text: 'Add connection' })) : null,
    table(cols, rows, 'No connection yet.')]);
}

// ------------------------------------------------------------ the form

// One input per field of the connector; returns [element, read()] where
// read() gives the value to send (undefined: leave it out).
function fieldInput(f, existing) {
  const id = `field-${f.name}`;
  const title = f.name + (f.required ? ' (required)' : '');
  const help = f.description || '';
  if (f.name === 'sandbox') { // a boolean every kind accepts (docs/api.md)
    const box = h('input', { type: 'checkbox', id, name: f.name, checked: existing === true || existing === 'true' });
    return [h('div', { class: 'field check', dataset: { field: f.name } },
      h('label', { for: id }, box, h('span', { text: f.name })), h('div', { class: 'help', text: help })),
    () => (box.checked ? true : undefined), box];
  }
  const input = h('input', {
    type: f.secret ? 'password' : 'text', id, name: f.name, spellcheck: 'false',
    autocomplete: f.secret ? 'new-password' : 'off',
    value: !f.secret && existing !== undefined && existing !== null
      ? (typeof existing === 'object' ? JSON.stringify(existing) : String(existing)) : undefined,
  });
  const read = () => {
    const v = input.value.trim();
    if (v === '') return undefined;
    if (f.secret) return v;
    if (/^-?[0-9]{1,15}$/.test(v)) return Number(v);
    // a list or an object (shown as JSON above, e.g. Okta's `protected`) goes back as one;
    // text that does not parse is sent as it is, and the server names the field at fault
    if (/^[[{]/.test(v)) {
      try { return JSON.parse(v); } catch (e) { return v; }
    }
    return v;
  };
  return [h('div', { class: 'field', dataset: { field: f.name } },
    h('label', { for: id, text: title + (f.secret ? ' — secret' : '') }), input,
    h('div', { class: 'help', text: help })), read, input];
}

// Part "demo-tokens" (issue 17): what a failed credential check means, by
// the API's "cause" — not every failure is a refusal.
function checkFailed(body) {
  const cause = body && body.cause;
  if (cause === 'refused') return h('p', { class: 'muted small', id: 'refused', text: 'The remote system refused these credentials: nothing was stored.' });
  if (cause === 'unreachable') {
    return h('p', { class: 'muted small', id: 'unreachable',
      text: 'idflow could not reach the remote system, so the credentials were not tried: nothing was stored. ' +
        'Check the URL, and that this server can reach it (DNS, firewall, proxy, TLS certificate).' });
  }
  return h('p', { class: 'muted small', id: 'check-failed', text: 'The credential check failed: nothing was stored.' });
}

function resultPanel(name, res) {
  return h('div', { class: 'panel', id: 'saved' },
    h('div', { class: 'notice', role: 'status', text: `Connection ${res.name || name} ${res.created ? 'created' : 'replaced'}: the credentials work.` }),
    res.whoami ? h('dl', { class: 'meta', id: 'whoami' },
      Object.entries(res.whoami).map(([k, v]) => [h('dt', { text: k }),
        h('dd', { text: v !== null && typeof v === 'object' ? JSON.stringify(v) : String(v) })])) : null,
    h('div', { class: 'row' }, h('a', { class: 'button', href: '#/connections', text: 'Back to connections' })));
}

// name: null to add a connection, else the one to edit.
export async function form(ctx, name) {
  const editing = name !== null;
  ctx.title(editing ? `Edit ${name}` : 'Add connection');
  const [kinds, conns] = await Promise.all([api('GET', '/api/v1/connectors'), api('GET', '/api/v1/connections')]);
  const connectors = (kinds.connectors || []).filter((k) => (k.fields || []).length);
  const existing = editing ? (conns.connections || []).find((c) => c.name === name) : null;
  ctx.root.append(h('h1', { text: editing ? `Edit connection ${name}` : 'Add a connection' }));
  if (editing && !existing) {
    ctx.root.append(errorBox(`no connection named ${name}`));
    return;
  }
  if (!connectors.length) {
    ctx.root.append(errorBox('this idflow has no connector that takes credentials'));
    return;
  }
  const slot = messageSlot();
  const nameInput = h('input', { type: 'text', id: 'conn-name', name: 'name', value: editing ? name : '', readonly: editing, spellcheck: 'false', autocomplete: 'off' });
  const kindSel = h('select', { id: 'conn-kind', name: 'kind', disabled: editing },
    connectors.map((k) => option(k.name, k.name, existing ? existing.kind === k.name : false)));
  const fieldsBox = h('div', { id: 'conn-fields' });
  let readers = [];
  const build = () => {
    const kind = connectors.find((k) => k.name === kindSel.value) || connectors[0];
    const cfg = existing && existing.kind === kind.name ? existing.config || {} : {};
    readers = kind.fields.map((f) => {
      const [el, read, input] = fieldInput(f, cfg[f.name]);
      return { f, el, read, input };
    });
    fieldsBox.replaceChildren(...readers.map((r) => r.el));
  };
  kindSel.addEventListener('change', build);
  build();

  const button = h('button', { type: 'submit', class: 'primary', id: 'save-connection', text: 'Check and save' });
  const formEl = h('form', { class: 'panel', id: 'connection-form', autocomplete: 'off', novalidate: true },
    slot.el,
    h('div', { class: 'field' }, h('label', { for: 'conn-name', text: 'Name' }), nameInput,
      h('div', { class: 'help', text: 'Letters, digits, . _ - (workflows refer to it with connection: NAME).' })),
    h('div', { class: 'field' }, h('label', { for: 'conn-kind', text: 'Kind' }), kindSel),
    editing ? h('div', { class: 'warn', text: 'Secrets are never shown again. Leave a secret empty to keep the stored one; that works only while the URL stays the same: a new URL needs every secret again.' }) : null,
    fieldsBox,
    h('p', { class: 'muted small', text: 'idflow tries the credentials with a real call before it stores anything; secrets are stored sealed.' }),
    h('div', { class: 'row' }, button, h('a', { class: 'button', href: '#/connections', text: 'Cancel' })));

  formEl.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    for (const r of readers) r.input.classList.remove('invalid');
    nameInput.classList.remove('invalid');
    const cname = nameInput.value.trim();
    if (!NAME_RE.test(cname)) {
      nameInput.classList.add('invalid');
      slot.error('The name must be 1 to 64 of A-Z a-z 0-9 . _ -, starting with a letter or digit.');
      return;
    }
    if (!editing && (conns.connections || []).some((c) => c.name === cname)) {
      nameInput.classList.add('invalid');
      slot.show(h('div', { class: 'error', role: 'alert' }, `A connection named ${cname} exists already: `,
        h('a', { href: `#/connections/edit/${enc(cname)}`, text: 'edit it' }), ' instead.'));
      return;
    }
    const config = {};
    for (const r of readers) {
      const v = r.read();
      if (v !== undefined) config[r.f.name] = v;
    }
    slot.show(h('div', { class: 'muted', text: 'Checking the credentials…' }));
    button.disabled = true;
    try {
      const res = await api('PUT', `/api/v1/connections/${enc(cname)}`, { kind: kindSel.value, config });
      for (const r of readers) if (r.f.secret) r.input.value = '';
      const done = resultPanel(cname, res || {});
      formEl.replaceWith(done);
      focusEl(done.querySelector('.notice')); // a11y: the focus follows the result
    } catch (e) {
      slot.show(h('div', {},
        errorBox(e.message),
        e.status === 422 ? checkFailed(e.body) : null));
      if (e.status === 400) {
        const bad = readers.find((r) => new RegExp(`^"?${r.f.name}\\b`).test(e.message));
        if (bad) {
          bad.input.classList.add('invalid');
          bad.input.focus();
        }
      }
    } finally {
      button.disabled = false;
    }
  });
  ctx.root.append(formEl);
}
