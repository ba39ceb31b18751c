// ui.test.mjs — browser tests of idflow's web UI (docs/ui.md). Started by
// tests/e2e/run.sh with a running `idflow serve` (IDFLOW_URL, no token yet)
// and `idflow sandbox` (SANDBOX_URL, OKTA_TOKEN); tokens are created with the
// CLI on the same store (IDFLOW_BIN, IDFLOW_DB), as an administrator would.
//
// Each test checks what a user sees and relies on, and prints one TAP line.
// The tests run in order and share the store: the open install comes first,
// before any token exists. Nothing sleeps for luck: every wait is for an
// element or a condition, with a deadline.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { chromium } from './node_modules/playwright-core/index.mjs';

const URL_ = process.env.IDFLOW_URL;
const SANDBOX = process.env.SANDBOX_URL;
const OKTA_TOKEN = process.env.OKTA_TOKEN;
const BIN = process.env.IDFLOW_BIN;
const DB = process.env.IDFLOW_DB;
const OUT = process.env.E2E_OUT || '/tmp/idflow-e2e';
const SHOTS = process.env.E2E_SHOTS === '1';
const WAIT_MS = 15000; // any one element or condition
const XSS = '<img src=x onerror=alert(1)>';
mkdirSync(OUT, { recursive: true });

// ------------------------------------------------------------ helpers

class Failure extends Error {}
function check(cond, msg) {
  if (!cond) throw new Failure(msg);
}

// Polls fn until it returns a truthy value; that value, or a failure naming `what`.
async function until(what, fn, ms = WAIT_MS) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Failure(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// A call to the API from the test (not through the browser).
async function apiCall(method, p, { token, body } = {}) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(URL_ + p, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, json, headers: res.headers, text };
}

function cli(...args) {
  return execFileSync(BIN, [...args, '--db', DB], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

async function startRun(workflow, data, token) {
  const r = await apiCall('POST', '/api/v1/events', { token, body: { workflow, data } });
  check(r.status === 202 && r.json.run_ids.length === 1, `starting ${workflow}: ${r.status} ${r.text}`);
  return r.json.run_ids[0];
}

async function runStatus(id, token, want) {
  return until(`run ${id} to be ${want}`, async () => {
    const r = await apiCall('GET', `/api/v1/runs/${id}`, { token });
    return r.json && r.json.status === want ? r.json : null;
  });
}

let browser;
const pages = []; // every page opened, closed between tests

// A fresh browser context (its own sessionStorage), with the console watched:
// an uncaught exception or a CSP violation in the UI fails the test.
async function newPage() {
  const context = await browser.newContext({ viewport: { width: 1366, height: 800 } });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  page.problems = [];
  page.dialogs = [];
  page.on('pageerror', (e) => page.problems.push(`uncaught: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content.Security.Policy|Refused to/i.test(m.text())) page.problems.push(`console: ${m.text()}`);
  });
  page.on('dialog', async (d) => {
    page.dialogs.push(`${d.type()}: ${d.message()}`);
    await d.dismiss().catch(() => {});
  });
  pages.push(page);
  return page;
}

async function signIn(page, token) {
  await page.goto(`${URL_}/`);
  await page.locator('#signin').waitFor();
  await page.fill('#token', token);
  await page.click('#signin button[type=submit]');
  await page.locator('#actor').waitFor();
}

// Waits until the element matching selector has text matching re.
async function seeText(page, selector, re) {
  const loc = page.locator(selector).filter({ hasText: re }).first();
  await loc.waitFor({ state: 'visible' });
  return loc;
}

// Opens a page of the console by its hash and waits until it is rendered.
async function go(page, hash) {
  await page.goto(`${URL_}/${hash}`);
  await routed(page, hash);
}

// Waits until the page for hash is rendered (not the one before it).
async function routed(page, hash) {
  await page.locator(`main > section.page[data-route="${hash}"]`).waitFor();
}

async function shot(page, name) {
  if (SHOTS) await page.screenshot({ path: path.join(OUT, `${name}.png`), fullPage: true });
}

// ------------------------------------------------------------ state shared by the tests

const T = {}; // tokens by role, created once the open install was tested
const runs = {};

// ------------------------------------------------------------ the tests

const tests = [];
const test = (name, fn) => tests.push({ name, fn });

test('the UI is served with a strict CSP and security headers, and the browser enforces it', async () => {
  const r = await apiCall('GET', '/');
  check(r.status === 200, `GET / answered ${r.status}`);
  check(/^text\/html/.test(r.headers.get('content-type')), 'index.html is text/html');
  const csp = r.headers.get('content-security-policy') || '';
  for (const want of ["default-src 'self'", "script-src 'self'", "frame-ancestors 'none'", "object-src 'none'"]) {
    check(csp.includes(want), `CSP lacks ${want}: ${csp}`);
  }
  check(!/unsafe-inline|unsafe-eval/.test(csp), `CSP allows unsafe-*: ${csp}`);
  check(r.headers.get('x-content-type-options') === 'nosniff', 'nosniff');
  check(r.headers.get('referrer-policy') === 'no-referrer', 'no-referrer');
  check(r.headers.get('cache-control') === 'no-cache', 'no-cache');
  const js = await apiCall('GET', '/ui/app.js');
  check(js.status === 200 && /^text\/javascript/.test(js.headers.get('content-type')), 'app.js is JavaScript');
  check(js.headers.get('content-security-policy') === csp, 'every asset has the CSP');
  check((await apiCall('GET', '/ui/nope.js')).status === 404, 'an unknown file is 404');
  check((await apiCall('GET', '/ui/%2e%2e%2fapi.js')).status === 404, 'no way out of /ui/');
  check((await apiCall('GET', '/ui/sub/app.js')).status === 404, 'no directories under /ui/');
  check((await apiCall('POST', '/')).status === 405, 'POST / is 405');

  const page = await newPage();
  const resp = await page.goto(`${URL_}/`);
  check((resp.headers()['content-security-policy'] || '') === csp, 'the page the browser got carries the CSP');
  // Inline script and code from strings are refused (and reported).
  const ran = await page.evaluate(() => new Promise((resolve) => {
    const seen = [];
    document.addEventListener('securitypolicyviolation', (e) => seen.push(e.violatedDirective));
    const s = document.createElement('script');
    s.textContent = 'window.__inline = 1';
    document.head.append(s);
    setTimeout('window.__fromString = 1', 0);
    setTimeout(() => resolve({ inline: window.__inline, str: window.__fromString, seen }), 100);
  }));
  check(ran.inline === undefined && ran.str === undefined, `inline script ran: ${JSON.stringify(ran)}`);
  check(ran.seen.length >= 2, `violations not reported: ${JSON.stringify(ran)}`);
  page.problems = []; // those violations were ours
});

test('open install: the console says anyone on this machine can use it, until the first token', async () => {
  const page = await newPage();
  await page.goto(`${URL_}/`);
  await seeText(page, '#banner', /No API token exists: anyone on this machine can use this console/);
  await seeText(page, '#banner', /idflow token create/);
  check((await page.textContent('#actor')) === 'local', 'the caller is local');
  check((await page.textContent('#role')) === 'admin', 'with every right');
  check(await page.locator('#signout').count() === 0, 'nothing to sign out of');
  await page.locator('section.page[data-page=runs]').waitFor();
  await shot(page, 'open-install');
  // The first token, made on the API tokens page, ends open access; the
  // console offers to sign in with it.
  await go(page, '#/tokens');
  await page.fill('#token-name', 'e2e-admin');
  await page.selectOption('#token-role', 'admin');
  await page.click('#create-token');
  await seeText(page, '#token-once .warn', /This was the first token/);
  T.admin = await page.inputValue('#new-token');
  check(/^idf_/.test(T.admin), 'the new token is shown');
  check((await apiCall('GET', '/api/v1/me')).status === 401, 'the API is closed without a token');
  await page.click('#signin-new');
  await seeText(page, '#actor', /token:e2e-admin/);
  check(await page.locator('#banner').isHidden(), 'the open-install banner is gone');
  await page.locator('tr[data-token="e2e-admin"]').waitFor();
});

test('once a token exists the console asks for one, and a wrong token is refused with the API\'s message', async () => {
  for (const role of ['viewer', 'approver', 'operator']) T[role] = cli('token', 'create', `e2e-${role}`, '--role', role);
  check(/^idf_/.test(T.viewer), 'the CLI printed a token');
  const page = await newPage();
  await page.goto(`${URL_}/`);
  await page.locator('#signin').waitFor();
  check(await page.locator('#banner').isHidden(), 'the open-install banner is gone');
  await page.fill('#token', 'not-a-token');
  await page.click('#signin button[type=submit]');
  await seeText(page, '#signin .error', /not an idflow API token/);
  await page.fill('#token', `idf_${'A'.repeat(43)}`);
  await page.click('#signin button[type=submit]');
  await seeText(page, '#signin .error', /unknown, revoked or expired API token/);
  check(await page.evaluate(() => sessionStorage.length === 0 && localStorage.length === 0), 'a refused token is not kept');
  await shot(page, 'signin-refused');
});

test('a viewer signs in, sees who they are, and the token stays in this tab only', async () => {
  const page = await newPage();
  await signIn(page, T.viewer);
  check((await page.textContent('#actor')) === 'token:e2e-viewer', 'actor shown');
  check((await page.textContent('#role')) === 'viewer', 'role shown');
  const kept = await page.evaluate(() => ({ s: Object.values(sessionStorage), l: localStorage.length, c: document.cookie }));
  check(kept.s.includes(T.viewer) && kept.l === 0 && kept.c === '', 'token in sessionStorage only');
  check(await page.locator('#nav a[data-page=tokens]').count() === 0, 'no admin pages in the menu');
  check(await page.locator('#nav a[data-page=audit]').count() === 0, 'no audit page in the menu');
  // A reload keeps the session; signing out forgets the token.
  await page.reload();
  await seeText(page, '#role', /viewer/);
  await page.click('#signout');
  await seeText(page, '#signin .notice', /Signed out/);
  check(await page.evaluate(() => sessionStorage.length === 0), 'signing out forgets the token');
});

test('a run started through the API is listed, and its page shows each step\'s status and output', async () => {
  runs.echo = await startRun('e2e-echo', { name: 'Ada', note: 'first run' }, T.operator);
  await runStatus(runs.echo, T.viewer, 'succeeded');
  const page = await newPage();
  await signIn(page, T.viewer);
  const row = page.locator(`tr.run-row[data-run-id="${runs.echo}"]`);
  await row.waitFor();
  check(/e2e-echo/.test(await row.textContent()) && /succeeded/.test(await row.textContent()), 'row shows workflow and status');
  await row.locator('a', { hasText: `#${runs.echo}` }).click();
  await page.waitForURL(new RegExp(`#/runs/${runs.echo}$`));
  await seeText(page, 'h1', new RegExp(`Run ${runs.echo}\\s*succeeded`));
  for (const id of ['greet', 'echo']) {
    const step = page.locator(`.step[data-step="${id}"]`);
    check(await step.getAttribute('data-status') === 'succeeded', `${id} succeeded`);
    const colour = await step.evaluate((el) => getComputedStyle(el).borderLeftColor);
    check(colour === 'rgb(30, 123, 52)', `${id} is green (${colour})`);
  }
  const out = page.locator('.step[data-step="greet"] details', { hasText: 'Output' });
  check((await out.getAttribute('open')) === null, 'output collapsed by default');
  await out.locator('summary').click();
  await seeText(page, '.step[data-step="greet"] details[open] pre', /"greeting": "Hello, Ada!"/);
  await shot(page, 'run-succeeded');
  // The back button returns to the list.
  await page.goBack();
  await page.locator(`tr.run-row[data-run-id="${runs.echo}"]`).waitFor();
});

test('runs are filtered by status and workflow, and paged with before=', async () => {
  runs.echo2 = await startRun('e2e-echo', { name: 'Grace' }, T.operator);
  runs.missing = await startRun('e2e-lookup', { login: 'grace.hopper@acme.example' }, T.operator);
  await runStatus(runs.echo2, T.viewer, 'succeeded');
  await runStatus(runs.missing, T.viewer, 'failed');
  const page = await newPage();
  await signIn(page, T.viewer);
  await page.locator('#run-filters').waitFor();
  await page.selectOption('#filter-status', 'failed');
  await page.click('#run-filters button[type=submit]');
  await routed(page, '#/runs?status=failed');
  await page.locator(`tr.run-row[data-run-id="${runs.missing}"]`).waitFor();
  check(await page.locator('tr.run-row[data-status="succeeded"]').count() === 0, 'only failed runs');
  await page.selectOption('#filter-status', '');
  await page.selectOption('#filter-workflow', 'e2e-echo');
  await page.click('#run-filters button[type=submit]');
  await routed(page, '#/runs?workflow=e2e-echo');
  await page.locator(`tr.run-row[data-run-id="${runs.echo2}"]`).waitFor();
  check(await page.locator(`tr.run-row[data-run-id="${runs.missing}"]`).count() === 0, 'only e2e-echo runs');
  // One run a page: newest first, then the older one through "Older runs".
  await go(page, `#/runs?workflow=e2e-echo&limit=1`);
  await page.locator(`tr.run-row[data-run-id="${runs.echo2}"]`).waitFor();
  check(await page.locator('tr.run-row').count() === 1, 'one a page');
  await page.click('#older');
  await routed(page, `#/runs?workflow=e2e-echo&limit=1&before=${runs.echo2}&at=2`); // at=: the position (console-runs)
  await page.locator(`tr.run-row[data-run-id="${runs.echo}"]`).waitFor();
  await page.locator('#newest').waitFor();
});

test('a viewer sees no re-run, cancel or approve buttons', async () => {
  runs.wait = await startRun('e2e-approval', { user: 'lucas.martin@acme.example' }, T.operator);
  await runStatus(runs.wait, T.viewer, 'waiting');
  const page = await newPage();
  await signIn(page, T.viewer);
  await go(page, `#/runs/${runs.wait}`);
  await seeText(page, '#approval .message', /Deactivate lucas\.martin@acme\.example\?/);
  check(await page.locator('#approve, #reject, #cancel, #rerun').count() === 0, 'no action on a waiting run');
  await go(page, `#/runs/${runs.missing}`);
  await seeText(page, 'h1', /failed/);
  const step = page.locator('.step[data-step="user"]');
  check(await step.getAttribute('data-status') === 'failed', 'the failed step says so');
  check(await step.evaluate((el) => getComputedStyle(el).borderLeftColor) === 'rgb(180, 35, 24)', 'and is red');
  check(await page.locator('#rerun, #cancel').count() === 0, 'no re-run for a viewer');
  await go(page, `#/approvals`);
  await seeText(page, `#approvals [data-run-id="${runs.wait}"] .message`, /Deactivate lucas/);
  check(await page.locator('#approvals button').count() === 0, 'no approve/reject in the inbox');
});

test('an approver approves a waiting run from the inbox, and the run goes on to succeed', async () => {
  const page = await newPage();
  await signIn(page, T.approver);
  await go(page, `#/approvals`);
  const card = page.locator(`#approvals .approval[data-run-id="${runs.wait}"]`);
  await card.waitFor();
  await card.locator('input.comment').fill('checked with HR');
  await shot(page, 'approvals');
  await card.locator('button.approve').click();
  await seeText(page, `.notice[data-run-id="${runs.wait}"]`, new RegExp(`Run ${runs.wait} approved`));
  await page.click(`.notice[data-run-id="${runs.wait}"] a`);
  await seeText(page, 'h1', new RegExp(`Run ${runs.wait}\\s*succeeded`)); // the page follows the run
  const done = page.locator('.step[data-step="done"]');
  await done.locator('summary', { hasText: 'Output' }).click();
  await seeText(page, '.step[data-step="done"] details[open] pre', /token:e2e-approver/);
  check(await page.locator('#rerun, #cancel').count() === 0, 'an approver may not re-run or cancel');
});

test('an operator re-runs a failed run once the cause is fixed, and it succeeds', async () => {
  const page = await newPage();
  await signIn(page, T.operator);
  await go(page, `#/runs/${runs.missing}`);
  await page.locator('#rerun').waitFor();
  await seeText(page, '.step[data-step="user"] .step-error', /.+/);
  await shot(page, 'run-failed');
  // The missing user now exists in the sandbox's Okta.
  const created = await fetch(`${SANDBOX}/api/v1/users?activate=true`, {
    method: 'POST',
    headers: { Authorization: `SSWS ${OKTA_TOKEN}`, 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify({ profile: { firstName: 'Grace', lastName: 'Hopper', email: 'grace.hopper@acme.example', login: 'grace.hopper@acme.example' } }),
  });
  check(created.status === 200, `creating the user in the sandbox: ${created.status}`);
  await page.click('#rerun');
  await page.waitForURL((u) => /#\/runs\/(\d+)$/.test(u.hash) && u.hash !== `#/runs/${runs.missing}`);
  runs.rerun = Number(/#\/runs\/(\d+)$/.exec(page.url())[1]);
  await seeText(page, '.notice', new RegExp(`Run ${runs.missing} re-run as run ${runs.rerun}`));
  await seeText(page, 'h1', new RegExp(`Run ${runs.rerun}\\s*succeeded`));
  check(await page.locator('.step[data-step="user"]').getAttribute('data-status') === 'succeeded', 'the step succeeded');
  await seeText(page, 'dl.meta', new RegExp(`Re-run of\\s*run ${runs.missing}`));
});

test('an operator cancels a waiting run', async () => {
  const id = await startRun('e2e-approval', { user: 'noah.schmidt@acme.example' }, T.operator);
  await runStatus(id, T.viewer, 'waiting');
  const page = await newPage();
  await signIn(page, T.operator);
  await go(page, `#/runs/${id}`);
  await page.click('#cancel');
  await page.click('.confirm button:has-text("Yes, cancel it")');
  await seeText(page, '.notice', new RegExp(`Run ${id}: cancelled`));
  await seeText(page, 'h1', new RegExp(`Run ${id}\\s*cancelled`));
  check(await page.locator('#cancel').count() === 0, 'nothing left to cancel');
  await page.locator('#rerun').waitFor(); // a cancelled run may be re-run
});

test('an admin adds an Okta connection through the form and sees whom the token belongs to', async () => {
  const page = await newPage();
  await signIn(page, T.admin);
  await go(page, `#/connections`);
  await page.locator('tr[data-connection="acme"]').waitFor();
  await page.click('#add-connection');
  await page.locator('#connection-form').waitFor();
  check(await page.getAttribute('#field-token', 'type') === 'password', 'the token is a password input');
  check(await page.inputValue('#field-token') === '', 'and empty');
  await page.fill('#conn-name', 'okta-ui');
  await page.selectOption('#conn-kind', 'okta');
  await page.fill('#field-url', SANDBOX);
  await page.fill('#field-token', OKTA_TOKEN);
  await page.check('#field-sandbox');
  await shot(page, 'connection-form');
  await page.click('#save-connection');
  await seeText(page, '#saved .notice', /Connection okta-ui created: the credentials work/);
  await seeText(page, '#whoami', /it\.automation@acme\.example/);
  check(!(await page.content()).includes(OKTA_TOKEN), 'the secret is nowhere on the page');
  const listed = await apiCall('GET', '/api/v1/connections', { token: T.admin });
  const row = listed.json.connections.find((c) => c.name === 'okta-ui');
  check(row && row.kind === 'okta' && !JSON.stringify(row).includes(OKTA_TOKEN), 'stored, without its secret in the list');
  // The list has it, and its test says OK.
  await page.click('#saved a:has-text("Back to connections")');
  const tr = page.locator('tr[data-connection="okta-ui"]');
  await tr.locator('button.test').click();
  await seeText(page, 'tr[data-connection="okta-ui"] .test-result', /OK.*it\.automation@acme\.example/);
});

test('a wrong Okta token is refused with the remote\'s error and nothing is stored; a bad field is named', async () => {
  const page = await newPage();
  await signIn(page, T.admin);
  await go(page, `#/connections/new`);
  await page.locator('#connection-form').waitFor();
  await page.fill('#conn-name', 'okta-bad');
  await page.fill('#field-url', SANDBOX);
  await page.fill('#field-token', 'wrong-token-0123456789');
  await page.check('#field-sandbox');
  await page.click('#save-connection');
  await seeText(page, '#connection-form .error', /E0000011/);
  await page.locator('#refused').waitFor();
  check(!(await page.textContent('#connection-form .error')).includes('wrong-token-0123456789'), 'the secret is not echoed');
  await shot(page, 'connection-refused');
  const listed = await apiCall('GET', '/api/v1/connections', { token: T.admin });
  check(!listed.json.connections.some((c) => c.name === 'okta-bad'), 'nothing stored');
  // A plain-http URL without "sandbox": the API names the field.
  await page.uncheck('#field-sandbox');
  await page.fill('#field-token', OKTA_TOKEN);
  await page.click('#save-connection');
  await seeText(page, '#connection-form .error', /^url\b.*https/);
  check(await page.locator('#field-url.invalid').count() === 1, 'the url input is marked');
  // Editing: non-secret fields are filled in, secrets are not.
  await go(page, `#/connections/edit/okta-ui`);
  await page.locator('#connection-form').waitFor();
  check(await page.inputValue('#field-url') !== '', 'url shown');
  check(await page.inputValue('#field-token') === '', 'token never pre-filled');
  check(await page.isChecked('#field-sandbox'), 'sandbox kept');
  // Delete with a confirmation.
  await go(page, `#/connections`);
  await page.locator('tr[data-connection="okta-ui"] button.danger').click();
  await page.click('tr[data-connection="okta-ui"] .confirm button:has-text("Yes, delete")');
  await seeText(page, '.notice', /Connection okta-ui deleted/);
  check(await page.locator('tr[data-connection="okta-ui"]').count() === 0, 'gone from the list');
});

test('a new API token is shown once, works, and is revoked with a confirmation', async () => {
  const page = await newPage();
  await signIn(page, T.admin);
  await go(page, `#/tokens`);
  await page.locator('tr[data-token="e2e-viewer"]').waitFor();
  check(!(await page.content()).includes(T.viewer), 'no token in the list');
  await page.fill('#token-name', 'e2e-temp');
  await page.selectOption('#token-role', 'approver');
  await page.fill('#token-expires', '7d');
  await page.click('#create-token');
  await seeText(page, '#token-once .warn', /will not be shown again/);
  const tok = await page.inputValue('#new-token');
  check(/^idf_/.test(tok), 'the new token is shown');
  await page.locator('#copy-token').waitFor();
  await page.locator('tr[data-token="e2e-temp"]').waitFor();
  check((await apiCall('GET', '/api/v1/me', { token: tok })).json.role === 'approver', 'the new token works');
  await shot(page, 'token-created');
  await page.reload();
  await page.locator('tr[data-token="e2e-temp"]').waitFor();
  check(!(await page.content()).includes(tok), 'shown once: gone after a reload');
  await page.click('tr[data-token="e2e-temp"] button.danger');
  await page.click('tr[data-token="e2e-temp"] .confirm button:has-text("Yes, revoke")');
  await seeText(page, '.notice', /Token e2e-temp revoked/);
  check((await apiCall('GET', '/api/v1/me', { token: tok })).status === 401, 'refused once revoked');
});

test('a token revoked while in use sends the console back to sign-in with the API\'s message', async () => {
  const tok = cli('token', 'create', 'e2e-short', '--role', 'viewer');
  const page = await newPage();
  await signIn(page, tok);
  cli('token', 'revoke', 'e2e-short');
  await page.goto(`${URL_}/#/workflows`);
  await seeText(page, '#signin .error', /unknown, revoked or expired API token/);
  check(await page.evaluate(() => sessionStorage.length === 0), 'the dead token is forgotten');
});

test('data from an event is shown as text: no markup runs, no dialog opens', async () => {
  runs.xss = await startRun('e2e-echo', { name: XSS, note: '<script>alert(2)</script><b>bold</b>' }, T.operator);
  await runStatus(runs.xss, T.viewer, 'succeeded');
  const page = await newPage();
  await signIn(page, T.viewer);
  await go(page, `#/runs/${runs.xss}`);
  await seeText(page, 'h1', /succeeded/);
  for (const d of await page.locator('details').all()) await d.locator('summary').click();
  await seeText(page, '.step[data-step="greet"] pre', /Hello, <img src=x onerror=alert\(1\)>!/);
  await seeText(page, '.step[data-step="echo"] pre', /<script>alert\(2\)<\/script><b>bold<\/b>/);
  check(await page.locator('main img, main script, main b').count() === 0, 'no element made from the data');
  await go(page, `#/runs`);
  await page.locator(`tr.run-row[data-run-id="${runs.xss}"]`).waitFor();
  check(await page.locator('img').count() === 0, 'none in the list either');
  check(page.dialogs.length === 0, `a dialog opened: ${page.dialogs.join('; ')}`);
});

test('a workflow\'s page shows its YAML read-only and its recent runs; operators may start it', async () => {
  const page = await newPage();
  await signIn(page, T.operator);
  await go(page, `#/workflows`);
  await page.locator('tr[data-workflow="e2e-echo"]').waitFor();
  await page.click('tr[data-workflow="e2e-echo"] a:has-text("e2e-echo")');
  await seeText(page, '#yaml', /name: e2e-echo/);
  check(await page.locator('#yaml').evaluate((el) => el.tagName === 'PRE' && !el.isContentEditable), 'read-only');
  await page.locator(`tr.run-row[data-run-id="${runs.echo}"]`).waitFor();
  await page.fill('#event-data', '{"name": "Linus"}');
  await page.click('#start-run button[type=submit]');
  await seeText(page, 'h1', /succeeded/);
  await seeText(page, '.notice', /Started run \d+/);
  await page.locator('.step[data-step="greet"] summary', { hasText: 'Output' }).click();
  await seeText(page, '.step[data-step="greet"] details[open] pre', /"greeting": "Hello, Linus!"/);
});

test('the audit log shows who approved, re-ran and cancelled', async () => {
  const page = await newPage();
  await signIn(page, T.admin);
  await go(page, `#/audit`);
  await seeText(page, 'tr[data-action="run.rerun"]', /token:e2e-operator/);
  await seeText(page, 'tr[data-action="run.cancel"]', /token:e2e-operator/);
  await seeText(page, 'table', /token:e2e-approver/);
  await shot(page, 'audit');
});

// ---- "console-runs" (issue 17): runs found by person or ticket, where a
// page is, a person's timeline, what started a run and what it touched.
// These need the engine to record subjects ("subjects-engine") and the API
// to list and search them ("subjects-store").

const HANNAH = 'hannah.kim@acme.example';
const ids = (rows) => rows.map((r) => Number(r.id)).sort((a, b) => a - b);

// Runs workflow file tests/e2e/workflows/NAME.yaml with `idflow run` (the
// CLI executes it in the foreground; should `idflow serve` claim it first,
// the CLI says so and the server runs it): its run id.
function cliRun(name, data) {
  const ev = path.join(OUT, `event-${name}-${Date.now()}.json`);
  writeFileSync(ev, JSON.stringify({ data }));
  let out;
  try {
    out = cli('run', path.join(path.dirname(new URL(import.meta.url).pathname), 'workflows', `${name}.yaml`), '--event', ev);
  } catch (e) {
    out = String(e.stdout || '');
  }
  const m = /^run (\d+) of /m.exec(out);
  check(m, `idflow run ${name}: ${out}`);
  return Number(m[1]);
}

// The right edge of the page's content (main, not the header: helper
// "a11y" owns that), in CSS pixels.
async function mainRight(page) {
  return page.evaluate(() => Math.max(...[...document.querySelectorAll('main, main *')]
    .map((el) => Math.ceil(el.getBoundingClientRect().right))));
}

// The run ids of the rows on the page, in page order.
async function rowIds(page, selector = 'tr.run-row') {
  return (await page.locator(selector).evaluateAll((els) => els.map((e) => Number(e.dataset.runId))));
}

test('the runs list shows each run\'s source, trigger and subject; a search by login finds exactly the runs that touched it', async () => {
  runs.hannahLookup = await startRun('e2e-lookup', { login: HANNAH }, T.operator);
  await runStatus(runs.hannahLookup, T.viewer, 'succeeded');
  runs.hannahCli = cliRun('e2e-lookup', { login: HANNAH });
  await runStatus(runs.hannahCli, T.viewer, 'succeeded');
  runs.hannahSuspend = await startRun('e2e-suspend', { login: HANNAH }, T.operator);
  await runStatus(runs.hannahSuspend, T.viewer, 'succeeded');
  runs.sofiaSuspend = await startRun('e2e-suspend', { login: 'sofia.rossi@acme.example' }, T.operator);
  await runStatus(runs.sofiaSuspend, T.viewer, 'succeeded');
  const page = await newPage();
  await signIn(page, T.viewer);
  const row = page.locator(`tr.run-row[data-run-id="${runs.hannahSuspend}"]`);
  await row.waitFor();
  check((await row.locator('td.source').textContent()) === 'API by token:e2e-operator', `source: ${await row.locator('td.source').textContent()}`);
  const link = row.locator('td.subject-cell a');
  check((await link.textContent()) === HANNAH, `subject: ${await row.locator('td.subject-cell').textContent()}`);
  check((await link.getAttribute('href')) === `#/history/${encodeURIComponent(HANNAH)}`, 'the subject links to the timeline');
  check(/UTC/.test(await row.locator('td.started').textContent()), 'the start time names its zone');
  // The search: any case, spaces around; the hash carries it.
  await page.fill('#filter-subject', ` Hannah.Kim@ACME.example `);
  await page.click('#run-filters button[type=submit]');
  const hash = `#/runs?subject=${encodeURIComponent('Hannah.Kim@ACME.example')}`;
  await routed(page, hash);
  const want = await apiCall('GET', `/api/v1/runs?subject=${encodeURIComponent(HANNAH)}`, { token: T.viewer });
  check(want.status === 200 && want.json.total === 3, `the API finds 3 runs: ${want.text}`);
  const got = await rowIds(page);
  check(JSON.stringify([...got].sort((a, b) => a - b)) === JSON.stringify([runs.hannahLookup, runs.hannahCli, runs.hannahSuspend].sort((a, b) => a - b)),
    `exactly the runs that touched ${HANNAH}: ${got}`);
  check(JSON.stringify(ids(want.json.runs)) === JSON.stringify([...got].sort((a, b) => a - b)), 'the same as the API');
  check(got[0] === runs.hannahSuspend, 'newest first');
  await seeText(page, '#where', /^1–3 of 3$/);
  const cliRow = page.locator(`tr.run-row[data-run-id="${runs.hannahCli}"] td.source`);
  check(/^CLI by cli:\S+$/.test(await cliRow.textContent()), `a run started with idflow run: ${await cliRow.textContent()}`);
  await page.locator('#timeline-link').waitFor();
  // The search is a link: it survives a reload, and combines with the filters.
  await page.reload();
  await routed(page, hash);
  check((await page.inputValue('#filter-subject')) === 'Hannah.Kim@ACME.example', 'the box keeps the search');
  check((await rowIds(page)).length === 3, 'the same three runs after a reload');
  await page.selectOption('#filter-workflow', 'e2e-suspend');
  await page.click('#run-filters button[type=submit]');
  await routed(page, `${hash}&workflow=e2e-suspend`);
  check(JSON.stringify(await rowIds(page)) === JSON.stringify([runs.hannahSuspend]), 'subject and workflow combine');
  await seeText(page, '#where', /^1–1 of 1$/);
  await go(page, `#/runs?subject=${encodeURIComponent(HANNAH)}&source=cli`);
  check(JSON.stringify(await rowIds(page)) === JSON.stringify([runs.hannahCli]), 'subject and source combine');
  await page.selectOption('#filter-workflow', 'e2e-suspend');
  await page.click('#run-filters button[type=submit]');
  await routed(page, `#/runs?subject=${encodeURIComponent(HANNAH)}&source=cli&workflow=e2e-suspend`);
  await seeText(page, '.empty', /^No run touching "hannah\.kim@acme\.example", from CLI, workflow e2e-suspend\.$/);
  // A ticket-looking search that matches nothing says what was searched.
  await go(page, `#/runs?subject=${encodeURIComponent('#HF99999999')}&status=failed`);
  await seeText(page, '.empty', /^No run touching "#HF99999999", status failed\.$/);
  await shot(page, 'runs-search');
});

test('paging the runs says where one is: "1–2 of N", older and newer', async () => {
  const all = await apiCall('GET', '/api/v1/runs?limit=1000', { token: T.viewer });
  const n = all.json.total;
  check(n >= 6 && n === all.json.runs.length, `total ${n} of ${all.json.runs.length} listed`);
  const fmt = (v) => v.toLocaleString('en-US');
  const order = all.json.runs.map((r) => Number(r.id));
  const page = await newPage();
  await signIn(page, T.viewer);
  await go(page, '#/runs?limit=2');
  await seeText(page, '#where', new RegExp(`^1–2 of ${fmt(n)}$`));
  check(JSON.stringify(await rowIds(page)) === JSON.stringify(order.slice(0, 2)), 'the newest two');
  check(await page.locator('#newer').count() === 0, 'nothing newer on the first page');
  await page.click('#older');
  await routed(page, `#/runs?limit=2&before=${order[1]}&at=3`);
  await seeText(page, '#where', new RegExp(`^3–4 of ${fmt(n)}$`));
  check(JSON.stringify(await rowIds(page)) === JSON.stringify(order.slice(2, 4)), 'the next two');
  await page.click('#older');
  await routed(page, `#/runs?limit=2&before=${order[3]}&at=5`);
  await seeText(page, '#where', new RegExp(`^5–6 of ${fmt(n)}$`));
  // Newer from the third page finds the second page again.
  await page.click('#newer');
  await routed(page, `#/runs?limit=2&before=${order[1]}&at=3`);
  check(JSON.stringify(await rowIds(page)) === JSON.stringify(order.slice(2, 4)), 'back to the second page');
  await page.click('#newer');
  await routed(page, '#/runs?limit=2');
  await seeText(page, '#where', new RegExp(`^1–2 of ${fmt(n)}$`));
});

test('a person\'s timeline lists every run that touched them, newest first, with what each changed', async () => {
  const page = await newPage();
  await signIn(page, T.viewer);
  await go(page, `#/runs?subject=${encodeURIComponent(HANNAH)}`);
  await page.click(`tr.run-row[data-run-id="${runs.hannahSuspend}"] td.subject-cell a`);
  await routed(page, `#/history/${encodeURIComponent(HANNAH)}`);
  await seeText(page, 'h1', new RegExp(`Timeline of ${HANNAH.replace(/\./g, '\\.')}`));
  await seeText(page, '#history-count', /^3 runs touched/);
  const got = await rowIds(page, 'li.timeline-entry');
  check(JSON.stringify(got) === JSON.stringify([runs.hannahSuspend, runs.hannahCli, runs.hannahLookup]), `newest first: ${got}`);
  check(/CLI by cli:/.test(await page.locator(`li.timeline-entry[data-run-id="${runs.hannahCli}"]`).textContent()), 'each says how it started');
  const suspend = page.locator(`li.timeline-entry[data-run-id="${runs.hannahSuspend}"]`);
  check((await suspend.locator('li.change strong').allTextContents()).join('|') === 'suspended', 'the suspension is named');
  check(/step suspend/.test(await suspend.locator('li.change').textContent()), 'with its step');
  check(/API by token:e2e-operator/.test(await suspend.textContent()), 'and how it started');
  await page.locator(`li.timeline-entry[data-run-id="${runs.hannahLookup}"] .no-change`).waitFor();
  check(await page.locator(`li.timeline-entry[data-run-id="${runs.sofiaSuspend}"]`).count() === 0, 'not another person\'s run');
  await shot(page, 'timeline');
  // On a phone the timeline fits the screen: no sideways scrolling.
  await page.setViewportSize({ width: 390, height: 800 });
  const wide = await mainRight(page);
  check(wide <= 390, `the timeline reaches ${wide} px at 390 px`);
  await page.setViewportSize({ width: 1366, height: 800 });
  await suspend.locator('a.run-link').click();
  await routed(page, `#/runs/${runs.hannahSuspend}`);
  // Nobody: the page says what it searched and offers the form again.
  await go(page, '#/history/nobody%40acme.example');
  await seeText(page, '#timeline-empty', /No run touched "nobody@acme\.example"/);
  await page.fill('#history-subject', 'sofia.rossi@acme.example');
  await page.click('#history-form button[type=submit]');
  await routed(page, `#/history/${encodeURIComponent('sofia.rossi@acme.example')}`);
  check(JSON.stringify(await rowIds(page, 'li.timeline-entry')) === JSON.stringify([runs.sofiaSuspend]), 'Sofia\'s one run');
});

test('a run\'s page says what started it, whom it concerns and what each step changed', async () => {
  const page = await newPage();
  await signIn(page, T.viewer);
  await go(page, `#/runs/${runs.hannahSuspend}`);
  await seeText(page, '#started-source', /^API by token:e2e-operator$/);
  check((await page.textContent('#started-via')) === 'manual / api', `via: ${await page.textContent('#started-via')}`);
  check((await page.textContent('#started-actor')) === 'token:e2e-operator', 'by whom');
  check((await page.textContent('#started-trigger')) === 'manual', 'the trigger');
  const who = page.locator(`#concerns li[data-subject="${HANNAH}"]`);
  await who.waitFor();
  check(/Okta user · from (.*, )?step suspend/.test(await who.textContent()), `what it is and where from: ${await who.textContent()}`);
  check((await who.locator('a').getAttribute('href')) === `#/history/${encodeURIComponent(HANNAH)}`, 'a link to the timeline');
  await seeText(page, '.step[data-step="suspend"] .change', /^changed: suspended$/);
  await shot(page, 'run-started-by');
  await page.setViewportSize({ width: 390, height: 800 });
  const wide = await page.evaluate(() => Math.max(...[...document.querySelectorAll('.run-origin, .run-origin *')]
    .map((el) => Math.ceil(el.getBoundingClientRect().right))));
  check(wide <= 390, `Started by and Concerns reach ${wide} px at 390 px`);
  await page.setViewportSize({ width: 1366, height: 800 });
  // A run that changed nothing says so per step (no change tag).
  await go(page, `#/runs/${runs.hannahLookup}`);
  await page.locator(`#concerns li[data-subject="${HANNAH}"]`).waitFor();
  check(await page.locator('.step .change').count() === 0, 'a lookup changes nothing');
});
// ---- (end of "console-runs")

// ------------------------------------------------------------ the runner

const extra = process.env.E2E_EXTRA_TESTS ? Number(process.env.E2E_EXTRA_TESTS) : 0;
console.log(`1..${tests.length + extra}`);
let failed = 0;
browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: process.env.E2E_HEADED !== '1',
  args: ['--no-sandbox', '--disable-dev-shm-usage'],
});
try {
  for (const [i, t] of tests.entries()) {
    const t0 = Date.now();
    let err = null;
    try {
      await t.fn();
      for (const p of pages) check(!p.problems.length, p.problems.join('; '));
    } catch (e) {
      err = e;
    }
    const secs = ((Date.now() - t0) / 1000).toFixed(1);
    if (err) {
      failed++;
      console.log(`not ok ${i + 1} - ${t.name} (${secs} s)`);
      for (const line of String(err instanceof Failure ? err.message : err.stack || err).split('\n').slice(0, 12)) console.log(`#   ${line}`);
      const p = pages[pages.length - 1];
      if (p) {
        const file = path.join(OUT, `fail-${i + 1}.png`);
        await p.screenshot({ path: file, fullPage: true }).then(() => console.log(`#   screenshot: ${file}`), () => {});
        console.log(`#   at ${p.url()}`);
      }
    } else {
      console.log(`ok ${i + 1} - ${t.name} (${secs} s)`);
    }
    for (const p of pages.splice(0)) await p.context().close().catch(() => {});
  }
} finally {
  await browser.close();
}
process.exitCode = failed ? 1 : 0;
