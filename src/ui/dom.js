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

// An API time (milliseconds since the epoch; seconds are accepted too; or a
// string Date.parse reads) as a Date; null when absent or unreadable.
function toDate(t) {
  if (t === undefined || t === null || t === 0 || t === '') return null;
  let ms = typeof t === 'number' ? t : Date.parse(t);
  if (!Number.isFinite(ms)) return null;
  if (ms < 1e11) ms *= 1000;
  const d = new Date(ms);
  return Number.isFinite(d.getTime()) ? d : null;
}

// The browser's zone at d as its offset from UTC: "UTC+01:00", "UTC-05:00",
// "UTC+05:30"; "UTC" when the offset is zero. An offset, not a name: names
// ("CET", "EST") are ambiguous and not every zone has one.
export function fmtZone(d) {
  const east = -d.getTimezoneOffset(); // minutes east of UTC
  if (east === 0) return 'UTC';
  const a = Math.abs(east);
  return `UTC${east < 0 ? '-' : '+'}${pad(Math.floor(a / 60))}:${pad(a % 60)}`;
}

// The one formatter of times (a11y, issue 17): an API time in the
// browser's local time, with its zone: "2026-12-07 13:05:12 UTC+01:00";
// "—" when absent. timeEl wraps it in a <time> with the exact instant.
export function fmtTime(t) {
  const d = toDate(t);
  if (!d) return t === undefined || t === null || t === 0 || t === '' ? '—' : String(t);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())} ${fmtZone(d)}`;
}

// <time datetime="2026-12-07T12:05:12.000Z" title="...">2026-12-07 13:05:12
// UTC+01:00</time>: the same text as fmtTime, the exact instant (UTC, ISO
// 8601) in datetime and as a tooltip. A text node "—" when absent.
export function timeEl(t) {
  const d = toDate(t);
  if (!d) return document.createTextNode(fmtTime(t));
  const iso = d.toISOString();
  return h('time', { datetime: iso, title: iso, text: fmtTime(t) });
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

// ------------------------------------------------------------ focus (a11y)
//
// Focus never falls to <body>: after a page change it is on the page's
// heading (app.js), after an action on its result message or on the control
// that is back in place. These helpers keep that true.

// True when nothing useful has the focus: <body>, an element removed from
// the page, or a control just disabled (a busy button).
export function focusLost() {
  const a = document.activeElement;
  return !a || a === document.body || a === document.documentElement || !a.isConnected || a.disabled === true;
}

// Moves focus to el (a heading or a message gets tabindex=-1: focusable
// by script, not a Tab stop), without scrolling the page sideways.
export function focusEl(el) {
  if (!el || !el.isConnected) return;
  if (!el.matches('a[href], button, input, select, textarea, [tabindex]')) el.setAttribute('tabindex', '-1');
  el.focus({ preventScroll: true });
  if (el.scrollIntoView && !isInView(el)) el.scrollIntoView({ block: 'nearest' });
}

function isInView(el) {
  const r = el.getBoundingClientRect();
  return r.top >= 0 && r.bottom <= window.innerHeight;
}

// Replaces old with fresh (a refreshed part of a page); when the focus was
// inside old, it moves to fresh's element of the same id, or to fresh.
export function swapKeepingFocus(old, fresh) {
  const a = document.activeElement;
  const had = !!(a && old.contains(a));
  const id = had && a.id ? a.id : null;
  old.replaceWith(fresh);
  if (!had) return;
  const same = id ? fresh.querySelector(`#${CSS.escape(id)}`) : null;
  focusEl(same && !same.disabled ? same : fresh);
}

// A slot for one message at a time: show(errorBox(...)), clear(). A
// message shown while the focus is lost (the busy button that caused it is
// disabled) takes the focus, so a keyboard or screen reader user is where
// the answer is.
export function messageSlot() {
  const el = h('div', { class: 'messages' });
  const put = (node) => {
    const lost = focusLost();
    el.replaceChildren(node);
    if (lost) focusEl(node);
  };
  return {
    el,
    error(msg) { put(errorBox(msg)); },
    notice(msg) { put(noticeBox(msg)); },
    show(node) { put(node); },
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
    no.addEventListener('click', () => {
      wrap.replaceChildren(btn);
      btn.focus();
    });
    yes.addEventListener('click', async () => {
      yes.disabled = true;
      no.disabled = true;
      try {
        await onYes();
      } finally {
        if (wrap.isConnected) {
          wrap.replaceChildren(btn);
          if (focusLost()) btn.focus();
        }
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
// Focus: the button keeps it, unless an error message took it.
export async function busy(button, slot, fn) {
  const had = !!button && document.activeElement === button;
  if (button) button.disabled = true;
  try {
    return await fn();
  } catch (e) {
    if (slot) slot.error(e.message);
    return undefined;
  } finally {
    if (button) {
      button.disabled = false;
      if (had && button.isConnected && focusLost()) button.focus();
    }
  }
}

// A table from column titles and rows of cells (cells: nodes or text),
// ready for any width (a11y): each cell carries its column's title
// (data-label), so that below 640 px style.css shows each row as a card of
// "title: value" lines; wider, the table sits in a region of its own that
// scrolls sideways when the table is wider than the page (never the page
// itself). That region is named (label, or the column titles) and is a Tab
// stop only while it scrolls, so a keyboard can scroll it. Tables built
// elsewhere get the same with tableWrap(tableEl, label).
export function table(columns, rows, emptyText, label) {
  if (!rows.length) return h('div', { class: 'empty', text: emptyText || 'Nothing here yet.' });
  for (const tr of rows) {
    [...tr.children].forEach((td, i) => {
      if (td.tagName === 'TD' && columns[i] && !td.dataset.label) td.dataset.label = columns[i];
    });
  }
  const t = h('table', { class: 'cards' },
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, c || h('span', { class: 'sr-only', text: 'Actions' }))))),
    h('tbody', {}, rows));
  return tableWrap(t, label || columns.filter(Boolean).join(', '));
}

export function tableWrap(tableEl, label) {
  const wrap = h('div', { class: 'table-wrap', role: 'region', 'aria-label': label || 'table' }, tableEl);
  if (typeof ResizeObserver === 'function') {
    // Its own observer: nothing outlives the wrap once the page drops it.
    new ResizeObserver(() => {
      if (wrap.scrollWidth > wrap.clientWidth + 1) wrap.setAttribute('tabindex', '0');
      else wrap.removeAttribute('tabindex');
    }).observe(wrap);
  } else {
    wrap.setAttribute('tabindex', '0');
  }
  return wrap;
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
