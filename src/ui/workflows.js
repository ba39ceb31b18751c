// workflows.js — the workflows (#/workflows) and one workflow
// (#/workflows/NAME): what starts it, what it says it does, the connections
// it uses and its last run; its YAML, read-only, and its recent runs.
// Operators may start a workflow a caller starts (manual): with a form
// built from its declared `inputs:` (typed fields, defaults filled in; the
// API checks the values and its 400 names the input), or with JSON event
// data when it declares none.
import { api, enc, withQuery } from './api.js';
import { add, badge, busy, field, fmtTime, h, messageSlot, option, table, timeEl } from './dom.js';
import { runsTable } from './runs.js';

const RECENT_RUNS = 20;

// "cron: 0 9 * * 1, timezone: Europe/Paris" from a trigger's parameters.
function paramsText(params) {
  return Object.entries(params || {})
    .map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`).join(', ');
}

// One trigger: its name in code, its parameters, and (manual) the inputs it takes.
function triggerCell(w) {
  const out = [];
  for (const t of w.triggers || []) {
    const p = paramsText(t.params);
    out.push(h('div', { class: 'trigger' }, h('code', { text: t.name }), p ? h('span', { class: 'muted small', text: ` ${p}` }) : null));
  }
  if (Array.isArray(w.inputs) && w.inputs.length) {
    out.push(h('div', { class: 'muted small', text: 'inputs: ' + w.inputs.map((i) => i.name + (i.required ? '*' : '')).join(', ') }));
  }
  return out.length ? out : '—';
}

function lastRunCell(r) {
  if (!r) return h('span', { class: 'muted', text: 'never' });
  return h('span', { class: 'last-run' },
    h('a', { href: `#/runs/${enc(r.id)}`, text: `#${r.id}` }), ' ', badge(r.status), ' ',
    h('span', { class: 'muted small', text: fmtTime(r.created_at) }));
}

export async function list(ctx) {
  ctx.title('Workflows');
  const res = await api('GET', '/api/v1/workflows');
  const wfs = (res.workflows || []).slice().sort((a, b) => String(a.name).localeCompare(String(b.name)));
  const rows = wfs.map((w) => h('tr', { dataset: { workflow: String(w.name) } },
    h('td', {}, h('a', { href: `#/workflows/${enc(w.name)}`, text: w.name }),
      w.description ? h('div', { class: 'muted small description', text: w.description }) : null),
    h('td', { class: 'triggers' }, triggerCell(w)),
    h('td', { class: 'connections', text: (w.connections || []).join(', ') || '—' }),
    h('td', { class: 'last' }, lastRunCell(w.last_run)),
    h('td', {}, w.enabled ? badge('yes', 'enabled') : badge('no', 'disabled')),
    h('td', { class: 'num', text: w.version }),
    h('td', {}, timeEl(w.updated_at)),
    h('td', {}, h('a', { href: '#/runs' + withQuery('', { workflow: w.name }), text: 'runs' }))));
  ctx.root.append(h('h1', { text: 'Workflows' }),
    h('p', { class: 'muted' }, 'Loaded by ', h('code', { text: 'idflow serve' }), ' from its workflows directory.'),
    table(['Name', 'Trigger', 'Connections', 'Last run', 'Enabled', 'Version', 'Updated', ''], rows, 'No workflow is loaded.'),
    wfs.some((w) => Array.isArray(w.inputs) && w.inputs.some((i) => i.required))
      ? h('p', { class: 'muted small', id: 'inputs-legend', text: 'inputs: the data a manual workflow takes when started; * marks a required one.' }) : null);
}

// One typed field for a declared input: {el, read()} where read() is the
// value to send, or undefined to leave the input out (the API then applies
// the default or says it is required).
function inputField(inp) {
  const id = `input-${inp.name}`;
  const has = Object.prototype.hasOwnProperty.call(inp, 'default');
  const attrs = { id, name: inp.name, 'aria-required': inp.required ? 'true' : null };
  let el;
  let read;
  if (inp.type === 'boolean') {
    el = h('input', { ...attrs, type: 'checkbox', checked: has && inp.default === true });
    read = () => el.checked;
  } else if (inp.type === 'choice') {
    el = h('select', attrs,
      // an empty choice only without a default (the API would put the default in its place)
      has ? null : option('', inp.required ? 'choose one' : '(none)', true),
      (inp.options || []).map((o) => option(o, o, has && inp.default === o)));
    read = () => (el.value === '' ? undefined : el.value);
  } else if (inp.type === 'number' || inp.type === 'integer') {
    el = h('input', { ...attrs, type: 'number', step: inp.type === 'integer' ? '1' : 'any', value: has ? inp.default : null });
    // the browser gives '' for an empty or unreadable number: left out, so the API answers
    read = () => (el.value.trim() === '' ? undefined : Number(el.value));
  } else {
    el = h('input', { ...attrs, type: 'text', value: has ? inp.default : null, autocomplete: 'off', spellcheck: 'false' });
    read = () => (el.value === '' ? undefined : el.value);
  }
  const label = inp.name + (inp.required ? ' (required)' : '');
  const help = [inp.description, `${inp.type}${has ? `, default ${JSON.stringify(inp.default)}` : ''}`].filter(Boolean).join(' — ');
  const wrap = inp.type === 'boolean'
    ? h('div', { class: 'field check', dataset: { input: inp.name } },
      h('label', { for: id }, el, h('span', { text: label })), h('div', { class: 'help', text: help }))
    : field(label, el, help);
  wrap.dataset.input = inp.name;
  return { el: wrap, name: inp.name, read };
}

function startForm(ctx, wf) {
  const name = wf.name;
  const slot = messageSlot();
  const declared = Array.isArray(wf.inputs);
  const fields = declared ? wf.inputs.map(inputField) : [];
  const data = declared ? null : h('textarea', { id: 'event-data', rows: 5, spellcheck: 'false', value: '{}' });
  const dedup = h('input', { type: 'text', id: 'event-id', placeholder: 'optional: a repeated id starts nothing new', maxlength: 200 });
  const button = h('button', { type: 'submit', class: 'primary', text: 'Start run' });
  const form = h('form', { class: 'panel', id: 'start-run', novalidate: true },
    h('h2', { text: 'Start a run' }), slot.el,
    declared
      ? [h('p', { class: 'muted small', text: fields.length
        ? 'The values are checked against the workflow\'s inputs and reach it as .event.data.<name>.'
        : 'This workflow takes no inputs.' }), fields.map((f) => f.el)]
      : h('div', { class: 'field' }, h('label', { for: 'event-data', text: 'Event data (JSON, seen as .event.data)' }), data),
    h('div', { class: 'field' }, h('label', { for: 'event-id', text: 'Deduplication id' }), dedup),
    h('div', { class: 'row' }, button));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    let parsed;
    if (declared) {
      parsed = {};
      for (const f of fields) {
        const v = f.read();
        if (v !== undefined) parsed[f.name] = v;
      }
    } else {
      try {
        parsed = JSON.parse(data.value.trim() || 'null');
      } catch (e) {
        slot.error(`Event data is not valid JSON: ${e.message}`);
        return;
      }
    }
    const body = { workflow: name, data: parsed };
    if (dedup.value.trim()) body.id = dedup.value.trim();
    const res = await busy(button, slot, () => api('POST', '/api/v1/events', body));
    if (!res) return;
    if (res.duplicate) slot.notice(`Already received (event ${res.event_id}): nothing new was started.`);
    else if (!res.run_ids || !res.run_ids.length) slot.notice(`Event ${res.event_id} stored; the workflow's conditions did not hold, so no run started.`);
    else ctx.go(`#/runs/${enc(res.run_ids[0])}`, `Started run ${res.run_ids[0]}.`);
  });
  return form;
}

export async function show(ctx, name) {
  ctx.title(name);
  const [wf, runs] = await Promise.all([
    api('GET', `/api/v1/workflows/${enc(name)}`),
    api('GET', withQuery('/api/v1/runs', { workflow: name, limit: RECENT_RUNS })),
  ]);
  const source = typeof wf.source === 'string' ? wf.source : '';
  add(ctx.root, [
    h('h1', {}, h('span', { text: wf.name }), wf.enabled ? badge('yes', 'enabled') : badge('no', 'disabled')),
    wf.description ? h('p', { class: 'description', id: 'wf-description', text: wf.description }) : null,
    h('div', { class: 'panel' }, h('dl', { class: 'meta' },
      h('dt', { text: 'Trigger' }), h('dd', { id: 'wf-triggers' }, triggerCell(wf)),
      h('dt', { text: 'Connections' }), h('dd', { id: 'wf-connections', text: (wf.connections || []).join(', ') || '—' }),
      h('dt', { text: 'Last run' }), h('dd', { id: 'wf-last-run' }, lastRunCell(wf.last_run)),
      h('dt', { text: 'Version' }), h('dd', { text: wf.version }),
      h('dt', { text: 'Updated' }), h('dd', {}, timeEl(wf.updated_at)))),
    ctx.can('operator') && wf.startable ? startForm(ctx, wf) : null,
    h('h2', { text: 'Recent runs' }),
    runsTable(runs.runs || [], 'This workflow has not run yet.'),
    (runs.runs || []).length >= RECENT_RUNS
      ? h('p', {}, h('a', { href: '#/runs' + withQuery('', { workflow: name }), text: 'All runs of this workflow →' })) : null,
    h('h2', { text: 'Definition' }),
    h('pre', { class: 'block yaml', id: 'yaml', text: source })]);
}
