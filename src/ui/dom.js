// dom.js — building the page safely. Every value that comes from the API is
// inserted as text (Text nodes, textContent, .value), never parsed as HTML:
// run outputs hold data from Okta and tickets. Nothing here uses innerHTML.

// h('a', {href: '#/runs', class: 'x', onclick: fn}, 'text', child, [more])
// Attribute names come from this code only; values are set as strings.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = String(v);
    else if (k === 'value') el.value = String(v);
    else if (k === 'checked' || k === 'disabled' || k === 'open' || k === 'required' || k === 'selected') el[k] = true;
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  add(el, children);
  return el;
}

// Appends children: Nodes as they are, anything else as a Text node.
export function add(el, children) {
  for (const c of [children].flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const pad = (n) => String(n).padStart(2, '0');

// A time from the API (milliseconds since the epoch; seconds are accepted
// too) as local "YYYY-MM-DD HH:MM:SS"; "—" when absent.
export function fmtTime(t) {
  if (t === undefined || t === null || t === 0 || t === '') return '—';
  let ms = typeof t === 'number' ? t : Date.parse(t);
  if (!Number.isFinite(ms)) return String(t);
  if (ms < 1e11) ms *= 1000;
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

// "1.2 s", "3 min 4 s" between two API times; "" when either is missing.
export function fmtDuration(from, to) {
  if (!from || !to || to < from) return '';
  const ms = to - from;
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

// A CSS-safe token of a status word (statuses are fixed words; anything
// else becomes "other").
export function stClass(status) {
  return 'st-' + (/^[a-z_-]{1,20}$/.test(String(status)) ? status : 'other');
}

export function badge(status, text) {
  return h('span', { class: 'badge ' + stClass(status), text: text ?? status ?? '?' });
}

// Formatted JSON in a collapsed <details>; key names it so an open block
// stays open across a refresh (see keepOpen).
export function jsonBlock(label, value, key) {
  if (value === undefined || value === null) {
    return h('span', { class: 'muted small' }, `${label}: none`);
  }
  let text;
  try { text = JSON.stringify(value, null, 2); } catch { text = String(value); }
  return h('details', { class: 'json', dataset: key ? { key } : undefined },
    h('summary', { text: label }),
    h('pre', { text }));
}

// Carries the open/closed state of keyed <details> from old to fresh.
export function keepOpen(old, fresh) {
  if (!old) return;
  const open = new Set([...old.querySelectorAll('details[data-key]')].filter((d) => d.open).map((d) => d.dataset.key));
  for (const d of fresh.querySelectorAll('details[data-key]')) {
    if (open.has(d.dataset.key)) d.open = true;
  }
}

export function errorBox(msg) {
  return h('div', { class: 'error', role: 'alert', text: msg });
}

export function noticeBox(msg) {
  return h('div', { class: 'notice', role: 'status', text: msg });
}

// A slot for one message at a time: show(errorBox(...)), clear().
export function messageSlot() {
  const el = h('div', { class: 'messages' });
  return {
    el,
    error(msg) { el.replaceChildren(errorBox(msg)); },
    notice(msg) { el.replaceChildren(noticeBox(msg)); },
    show(node) { el.replaceChildren(node); },
    clear() { el.replaceChildren(); },
  };
}

// A button that asks "question [Yes] [No]" in place before running onYes.
// onYes may be async; the button is disabled while it runs.
export function confirmButton(label, question, yesLabel, onYes, cls = 'danger') {
  const wrap = h('span', { class: 'confirm-wrap' });
  const btn = h('button', { type: 'button', class: cls, text: label });
  btn.addEventListener('click', () => {
    const yes = h('button', { type: 'button', class: 'danger', text: yesLabel });
    const no = h('button', { type: 'button', text: 'No' });
    const box = h('span', { class: 'confirm', role: 'group' }, h('span', { text: question }), yes, no);
    no.addEventListener('click', () => wrap.replaceChildren(btn));
    yes.addEventListener('click', async () => {
      yes.disabled = true;
      no.disabled = true;
      try {
        await onYes();
      } finally {
        if (wrap.isConnected) wrap.replaceChildren(btn);
      }
    });
    wrap.replaceChildren(box);
    yes.focus();
  });
  wrap.append(btn);
  return wrap;
}

// Runs fn with the button disabled; errors go to slot (ApiError messages
// verbatim). Returns fn's result, or undefined after an error.
export async function busy(button, slot, fn) {
  if (button) button.disabled = true;
  try {
    return await fn();
  } catch (e) {
    if (slot) slot.error(e.message);
    return undefined;
  } finally {
    if (button) button.disabled = false;
  }
}

// A table from column titles and rows of cells (cells: nodes or text).
export function table(columns, rows, emptyText) {
  if (!rows.length) return h('div', { class: 'empty', text: emptyText || 'Nothing here yet.' });
  return h('table', {},
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', { text: c })))),
    h('tbody', {}, rows));
}

export function field(labelText, input, help) {
  const id = input.id || `f-${Math.random().toString(36).slice(2, 10)}`;
  input.id = id;
  return h('div', { class: 'field' }, h('label', { for: id, text: labelText }), input,
    help ? h('div', { class: 'help', text: help }) : null);
}

export function option(value, text, selected) {
  return h('option', { value, selected: !!selected, text: text ?? value });
}
