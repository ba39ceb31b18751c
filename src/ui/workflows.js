// workflows.js — the workflows (#/workflows) and one workflow
// (#/workflows/NAME): its YAML, read-only, and its recent runs. Operators
// may start a workflow whose trigger is manual, with JSON event data.
import { api, enc, withQuery } from './api.js';
import { add, badge, busy, h, messageSlot, table, timeEl } from './dom.js';
import { runsTable } from './runs.js';

const RECENT_RUNS = 20;

export async function list(ctx) {
  ctx.title('Workflows');
  const res = await api('GET', '/api/v1/workflows');
  const wfs = (res.workflows || []).slice().sort((a, b) => String(a.name).localeCompare(String(b.name)));
  const rows = wfs.map((w) => h('tr', { dataset: { workflow: String(w.name) } },
    h('td', {}, h('a', { href: `#/workflows/${enc(w.name)}`, text: w.name })),
    h('td', { class: 'num', text: w.version }),
    h('td', {}, w.enabled ? badge('yes', 'enabled') : badge('no', 'disabled')),
    h('td', {}, timeEl(w.updated_at)),
    h('td', {}, h('a', { href: '#/runs' + withQuery('', { workflow: w.name }), text: 'runs' }))));
  ctx.root.append(h('h1', { text: 'Workflows' }),
    h('p', { class: 'muted' }, 'Loaded by ', h('code', { text: 'idflow serve' }), ' from its workflows directory.'),
    table(['Name', 'Version', 'Enabled', 'Updated', ''], rows, 'No workflow is loaded.'));
}

// A manual trigger in the YAML ("on: manual" or "manual:" under on:). The
// API decides; this only spares a form that could not work.
function looksManual(source) {
  return /^on:\s*manual\s*$/m.test(source) || /^\s+manual\s*:/m.test(source);
}

function startForm(ctx, name) {
  const slot = messageSlot();
  const data = h('textarea', { id: 'event-data', rows: 5, spellcheck: 'false', value: '{}' });
  const dedup = h('input', { type: 'text', id: 'event-id', placeholder: 'optional: a repeated id starts nothing new', maxlength: 200 });
  const button = h('button', { type: 'submit', class: 'primary', text: 'Start run' });
  const form = h('form', { class: 'panel', id: 'start-run' },
    h('h2', { text: 'Start a run' }), slot.el,
    h('div', { class: 'field' }, h('label', { for: 'event-data', text: 'Event data (JSON, seen as .event.data)' }), data),
    h('div', { class: 'field' }, h('label', { for: 'event-id', text: 'Deduplication id' }), dedup),
    h('div', { class: 'row' }, button));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    let parsed;
    try {
      parsed = JSON.parse(data.value.trim() || 'null');
    } catch (e) {
      slot.error(`Event data is not valid JSON: ${e.message}`);
      return;
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
    h('div', { class: 'panel' }, h('dl', { class: 'meta' },
      h('dt', { text: 'Version' }), h('dd', { text: wf.version }),
      h('dt', { text: 'Updated' }), h('dd', {}, timeEl(wf.updated_at)))),
    ctx.can('operator') && looksManual(source) ? startForm(ctx, wf.name) : null,
    h('h2', { text: 'Recent runs' }),
    runsTable(runs.runs || [], 'This workflow has not run yet.'),
    (runs.runs || []).length >= RECENT_RUNS
      ? h('p', {}, h('a', { href: '#/runs' + withQuery('', { workflow: name }), text: 'All runs of this workflow →' })) : null,
    h('h2', { text: 'Definition' }),
    h('pre', { class: 'block yaml', id: 'yaml', text: source })]);
}
