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
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
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
  // The first token, made on the API tokens page, ends open access. The
  // form offers admin only and says why (any other role would lock this
  // console out); the console signs in with the new token at once, keeps
  // showing it, and the next click needs no sign-in.
  const other = await newPage(); // a second console, open too
  await other.goto(`${URL_}/`);
  await seeText(other, '#banner', /No API token exists/);
  await go(page, '#/tokens');
  check(await page.inputValue('#token-role') === 'admin', 'the first token\'s role is preselected as admin');
  check(await page.locator('#token-role option[value=viewer]').isDisabled(), 'no other role is offered');
  await seeText(page, '#token-role-why', /first token must be an admin's: once it exists, the console needs a token/);
  check(await page.getAttribute('#token-role', 'aria-describedby') === 'token-role-why', 'the reason is tied to the field');
  await page.fill('#token-name', 'e2e-admin');
  await page.click('#create-token');
  await seeText(page, '#first-token', /This was the first token.*signed in with it/);
  T.admin = await page.inputValue('#new-token');
  check(/^idf_/.test(T.admin), 'the new token is shown');
  check((await apiCall('GET', '/api/v1/me')).status === 401, 'the API is closed without a token');
  check((await apiCall('GET', '/api/v1/me', { token: T.admin })).json.role === 'admin', 'the first token is an admin\'s');
  await seeText(page, '#actor', /token:e2e-admin/);
  check((await page.textContent('#role')) === 'admin', 'signed in as admin');
  check(await page.locator('#banner').isHidden(), 'the open-install banner is gone at once');
  check(!(await page.textContent('body')).includes('No API token exists'), 'nothing says no token exists');
  await seeText(page, 'tr[data-token="e2e-admin"]', /this session/);
  check(await page.inputValue('#new-token') === T.admin, 'the token is still shown');
  check(await page.locator('#token-role option[value=viewer]').isEnabled(), 'every role is offered again');
  check(await page.locator('#signout').count() === 1, 'the session can be signed out of');
  // The next click stays signed in.
  await page.click('#nav a[data-page=runs]');
  await routed(page, '#/runs');
  check(await page.locator('#signin').count() === 0, 'no sign-in page');
  check(await page.evaluate(() => Object.values(sessionStorage)).then((v) => v.includes(T.admin)), 'the token is kept in this tab');
  // The other console is turned away at its next click, in words for a person.
  await other.click('#nav a[data-page=workflows]');
  await seeText(other, '#signin .error', /now has API tokens, so the console needs one too/);
  check(!(await other.textContent('#signin')).includes('Authorization'), 'not the API\'s header talk');
});

test('once a token exists the console asks for one, and a wrong token is refused with the API\'s message', async () => {
  for (const role of ['viewer', 'approver', 'operator']) T[role] = cli('token', 'create', `e2e-${role}`, '--role', role);
  check(/^idf_/.test(T.viewer), 'the CLI printed a token');
  const page = await newPage();
  await page.goto(`${URL_}/`);
  await page.locator('#signin').waitFor();
  check(await page.locator('#banner').isHidden(), 'the open-install banner is gone');
  // The sign-in page speaks to a person: what a token is, where to get one.
  await seeText(page, '#signin-what', /API token: a key starting with idf_ that an admin made for you, with a role/);
  await seeText(page, '#signin-where', /Ask an idflow admin for one.*idflow token create NAME --role admin/);
  check(!(await page.textContent('#signin')).includes('Authorization'), 'no HTTP header talk on the sign-in page');
  check(await page.locator('#signin .error').count() === 0, 'no error before anything was tried');
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
  await page.click('.confirm button:has-text("Yes, re-run")'); // issue 17: asked first
  await page.waitForURL((u) => /#\/runs\/(\d+)$/.test(u.hash) && u.hash !== `#/runs/${runs.missing}`);
  runs.rerun = Number(/#\/runs\/(\d+)$/.exec(page.url())[1]);
  await seeText(page, '.notice', new RegExp(`Run ${runs.missing} re-run as run ${runs.rerun}`));
  await seeText(page, 'h1', new RegExp(`Run ${runs.rerun}\\s*succeeded`));
  check(await page.locator('.step[data-step="user"]').getAttribute('data-status') === 'succeeded', 'the step succeeded');
  await seeText(page, 'dl.meta', new RegExp(`Re-run of\\s*#${runs.missing}`));
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

test('an Okta connection\'s protected accounts survive an edit in the form (issue 19)', async () => {
  const put = await apiCall('PUT', '/api/v1/connections/okta-prot', { token: T.admin, body: {
    kind: 'okta',
    config: { url: SANDBOX, token: OKTA_TOKEN, sandbox: true, protected: [{ login: 'svc-*' }, { group: 'IT Admins' }] } } });
  check(put.status === 201, `created: ${put.status} ${put.text}`);
  const before = (await apiCall('GET', '/api/v1/connections/okta-prot', { token: T.admin })).json.config.protected;
  check(before.length === 2 && /^00g/.test(before[1].id), 'the group was stored with its id');
  const page = await newPage();
  await signIn(page, T.admin);
  await go(page, `#/connections/edit/okta-prot`);
  await page.locator('#connection-form').waitFor();
  check((await page.inputValue('#field-protected')).includes('"IT Admins"'), 'the list is shown as JSON');
  await page.click('#save-connection'); // the token left empty: the stored one is kept
  await seeText(page, '#saved .notice', /Connection okta-prot replaced/);
  const after = (await apiCall('GET', '/api/v1/connections/okta-prot', { token: T.admin })).json.config.protected;
  check(JSON.stringify(after) === JSON.stringify(before), `the list went back as a list: ${JSON.stringify(after)}`);
  const del = await apiCall('DELETE', '/api/v1/connections/okta-prot', { token: T.admin, body: {} });
  check(del.status === 200, `deleted: ${del.status} ${del.text}`);
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
  await page.fill('#input-name', 'Linus'); // e2e-echo declares its inputs: a typed form
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

// ---- issue 17 ("approvals-reruns"): decisions shown, re-runs once, the nav's count ----

async function navCount(page) {
  const el = page.locator('#nav-approvals-count');
  await el.waitFor({ state: 'attached' });
  return Number(await el.getAttribute('data-count'));
}

test('a rejected approval reads "Rejected by …: comment", is not offered a re-run, and the audit and the nav show it', async () => {
  const id = await startRun('e2e-approval', { user: 'mia.keller@acme.example' }, T.operator);
  await runStatus(id, T.viewer, 'waiting');
  const page = await newPage();
  await signIn(page, T.approver);
  await go(page, '#/runs');
  const before = await until('the nav to count the pending approval', async () => {
    const n = await navCount(page);
    return n >= 1 ? n : null;
  });
  check(/Approvals\s*\d+/.test(await page.locator('#nav a[data-page="approvals"]').textContent()), 'the count is on the Approvals item');
  await go(page, `#/runs/${id}`);
  await page.fill('#approval-comment', 'not before Friday');
  await page.click('#reject');
  await seeText(page, '#rejected', /Rejected by token:e2e-approver: not before Friday/);
  await seeText(page, 'h1', new RegExp(`Run ${id}\\s*rejected`));
  check(await page.locator('h1 .badge.st-failed').count() === 0, 'not the red failed look');
  check(await page.locator('.error').count() === 0, 'no error box');
  await seeText(page, `#decisions .decision[data-step="approve"]`, /rejected by\s*token:e2e-approver: not before Friday/);
  await until('the nav count to go down after the decision', async () => (await navCount(page)) === before - 1);
  await shot(page, 'run-rejected');

  const ops = await newPage();
  await signIn(ops, T.operator);
  await go(ops, `#/runs/${id}`);
  await seeText(ops, '#rejected', /Rejected by token:e2e-approver: not before Friday/);
  check(await ops.locator('#rerun').count() === 0, 'no "Re-run from the failed step" for a rejection');
  await ops.locator('#ask-again').waitFor(); // asking again is a separate, confirmed action
  const r = await apiCall('POST', `/api/v1/runs/${id}/rerun`, { token: T.operator, body: {} });
  check(r.status === 409 && /rejected by token:e2e-approver: not before Friday/.test(r.json.error), `the API refuses too: ${r.status} ${r.text}`);

  const adm = await newPage();
  await signIn(adm, T.admin);
  await go(adm, '#/audit');
  await seeText(adm, 'tr[data-action="approval.reject"]', /not before Friday/);
  const shown = cli('show', String(id));
  check(/rejected by \S+: not before Friday/.test(shown), `idflow show says who and why: ${shown}`);
});

test('a re-run is confirmed naming the steps called again; the original then shows "Re-run as #N" and is not re-run twice', async () => {
  const id = await startRun('e2e-lookup', { login: 'nobody.here@acme.example' }, T.operator);
  await runStatus(id, T.viewer, 'failed');
  const page = await newPage();
  await signIn(page, T.operator);
  await go(page, `#/runs/${id}`);
  await page.click('#rerun');
  const ask = await seeText(page, '.confirm', /called again: user/);
  check(/Re-run run \d+\?/.test(await ask.textContent()), 'the question names the run');
  await page.click('.confirm button:has-text("No")');
  check(await page.locator('.confirm').count() === 0, '"No" re-runs nothing');
  await page.click('#rerun');
  await page.click('.confirm button:has-text("Yes, re-run")');
  await page.waitForURL((u) => /#\/runs\/(\d+)$/.test(u.hash) && u.hash !== `#/runs/${id}`);
  const again = Number(/#\/runs\/(\d+)$/.exec(page.url())[1]);
  await seeText(page, '#rerun-of', new RegExp(`#${id}$`));
  await page.click('#rerun-of');
  await routed(page, `#/runs/${id}`);
  await seeText(page, '#rerun-as', new RegExp(`#${again}$`));
  await seeText(page, '#rerun-as-note', new RegExp(`Re-run as #${again}`));
  check(await page.locator('#rerun').count() === 0, 'no plain Re-run once re-run');
  await page.click('#rerun-again');
  await seeText(page, '.confirm', new RegExp(`already re-run as #${again}`));
  await page.click('.confirm button:has-text("No")');
  await shot(page, 'run-rerun-as');

  const r = await apiCall('POST', `/api/v1/runs/${id}/rerun`, { token: T.operator, body: {} });
  check(r.status === 409 && r.json.rerun_as === again && r.json.error.includes(`#${again}`), `a second re-run: ${r.status} ${r.text}`);
  await page.click('#rerun-as');
  await routed(page, `#/runs/${again}`);
  await seeText(page, 'h1', new RegExp(`Run ${again}`));
});

// ---- workflows explain themselves; the start form is built from inputs: (helper "inputs")

test('the workflows list shows each workflow\'s trigger, description, connections and last run', async () => {
  const wfs = (await apiCall('GET', '/api/v1/workflows', { token: T.viewer })).json.workflows;
  const echo = wfs.find((w) => w.name === 'e2e-echo');
  check(echo && echo.last_run && echo.last_run.id > 0, `the API gives e2e-echo's last run: ${JSON.stringify(echo)}`);
  const page = await newPage();
  await signIn(page, T.viewer);
  await go(page, '#/workflows');
  const row = (name) => page.locator(`tr[data-workflow="${name}"]`);
  await seeText(page, 'tr[data-workflow="e2e-inputs"] .description', /Offboards one person/);
  await seeText(page, 'tr[data-workflow="e2e-inputs"] .triggers', /manual/);
  await seeText(page, 'tr[data-workflow="e2e-inputs"] .triggers', /inputs: login\*, days, reason, notify/);
  await seeText(page, '#inputs-legend', /\* marks a required one/);
  await seeText(page, 'tr[data-workflow="e2e-lookup"] .connections', /^acme$/);
  await seeText(page, 'tr[data-workflow="e2e-inputs"] .last', /never/);
  await seeText(page, 'tr[data-workflow="e2e-echo"] .last', new RegExp(`#${echo.last_run.id}\\b`));
  await seeText(page, 'tr[data-workflow="e2e-echo"] .last', new RegExp(echo.last_run.status));
  check(await row('e2e-free').locator('.description').count() === 0, 'no description: none shown');
  await shot(page, 'workflows-list');
  await row('e2e-echo').locator('.last a').click();
  await routed(page, `#/runs/${echo.last_run.id}`);
});

test('the start form is built from the inputs; a missing or mistyped input is refused with the API\'s message', async () => {
  const before = (await apiCall('GET', '/api/v1/runs?workflow=e2e-inputs', { token: T.viewer })).json.runs.length;
  const page = await newPage();
  await signIn(page, T.operator);
  await go(page, '#/workflows/e2e-inputs');
  await seeText(page, '#wf-description', /Offboards one person/);
  await seeText(page, '#wf-triggers', /manual/);
  await seeText(page, '#start-run label[for="input-login"]', /login \(required\)/);
  await seeText(page, '#start-run [data-input="login"] .help', /The person's Okta login/);
  check(await page.locator('#input-login').getAttribute('aria-required') === 'true', 'login is marked required');
  check(await page.locator('#input-days').getAttribute('type') === 'number', 'an integer is a number field');
  check(await page.locator('#input-days').inputValue() === '30', 'the default is filled in');
  check(await page.locator('#input-reason').evaluate((el) => el.tagName === 'SELECT' && el.value === 'leaver'), 'a choice is a select, on its default');
  check(await page.locator('#input-reason option').allTextContents().then((t) => t.join(',') === 'leaver,incident'), 'the options');
  check(await page.locator('#input-notify').getAttribute('type') === 'checkbox', 'a boolean is a checkbox');
  check(!(await page.locator('#input-notify').isChecked()), 'unchecked without a default');
  check(await page.locator('#event-data').count() === 0, 'no JSON text area when inputs are declared');
  await shot(page, 'workflow-start-form');

  await page.click('#start-run button[type=submit]');
  await seeText(page, '#start-run .error', /^input 'login' is required$/);
  await page.fill('#input-login', 'jane@acme.example');
  await page.fill('#input-days', '1.5');
  await page.click('#start-run button[type=submit]');
  await seeText(page, '#start-run .error', /^input 'days' must be an integer, not a number$/);
  const after = (await apiCall('GET', '/api/v1/runs?workflow=e2e-inputs', { token: T.viewer })).json.runs.length;
  check(after === before, `a refused start started nothing (${before} -> ${after})`);
});

test('a filled start form starts a run that receives the values, with the defaults of the others', async () => {
  const page = await newPage();
  await signIn(page, T.operator);
  await go(page, '#/workflows/e2e-inputs');
  await page.fill('#input-login', 'jane@acme.example');
  await page.fill('#input-days', '7');
  await page.selectOption('#input-reason', 'incident');
  await page.check('#input-notify');
  await page.click('#start-run button[type=submit]');
  await seeText(page, '.notice', /Started run \d+/);
  const id = Number(/#\/runs\/(\d+)/.exec(page.url())[1]);
  const run = await runStatus(id, T.viewer, 'succeeded');
  const got = run.steps[0].output.got;
  check(JSON.stringify(got) === JSON.stringify({ login: 'jane@acme.example', days: 7, reason: 'incident', notify: true }),
    `the run got ${JSON.stringify(got)}`);

  // only the required one: the defaults fill the rest; the list then shows this run as the last
  await go(page, '#/workflows/e2e-inputs');
  await page.fill('#input-login', 'noah.schmidt@acme.example');
  await page.click('#start-run button[type=submit]');
  await seeText(page, '.notice', /Started run \d+/);
  const id2 = Number(/#\/runs\/(\d+)/.exec(page.url())[1]);
  const run2 = await runStatus(id2, T.viewer, 'succeeded');
  check(JSON.stringify(run2.steps[0].output.got) === JSON.stringify({ login: 'noah.schmidt@acme.example', days: 30, reason: 'leaver', notify: false }),
    `the second run got ${JSON.stringify(run2.steps[0].output.got)}`);
  await go(page, '#/workflows');
  await seeText(page, 'tr[data-workflow="e2e-inputs"] .last', new RegExp(`#${id2}\\b`));
});

test('a workflow without inputs: keeps a JSON text area for its data', async () => {
  const page = await newPage();
  await signIn(page, T.operator);
  await go(page, '#/workflows/e2e-free');
  check(await page.locator('#start-run [data-input]').count() === 0, 'no typed field');
  await page.fill('#event-data', '{"anything": [1, "two"]}');
  await page.click('#start-run button[type=submit]');
  await seeText(page, '.notice', /Started run \d+/);
  const id = Number(/#\/runs\/(\d+)/.exec(page.url())[1]);
  const run = await runStatus(id, T.viewer, 'succeeded');
  check(JSON.stringify(run.steps[0].output.got) === JSON.stringify({ anything: [1, 'two'] }), `got ${JSON.stringify(run.steps[0].output.got)}`);
});
// ------------------------------------------------------------ layout and accessibility (a11y)
//
// Every page at a phone's width and a desktop's, checked with axe-core
// (tests/e2e/package.json, test-only). axe is injected as a script, which the
// console's CSP refuses: these checks use a browser context of their own with
// bypassCSP, so every other test keeps the CSP. docs/ui.md, "Layout and
// accessibility". To check a new page, add it to A11Y_PAGES.

const A11Y_WIDTHS = [360, 390, 1280]; // 360: the narrowest supported
// name, and the address (a function: ids are known only once the tests before ran).
const A11Y_PAGES = [
  { name: 'runs', hash: () => '#/runs' },
  { name: 'a failed run', hash: () => `#/runs/${runs.missing}` },
  { name: 'a run waiting for an approval', hash: () => `#/runs/${runs.a11yWait}` },
  { name: 'approvals', hash: () => '#/approvals' },
  { name: 'workflows', hash: () => '#/workflows' },
  { name: 'a workflow', hash: () => '#/workflows/e2e-echo' },
  { name: 'connections', hash: () => '#/connections' },
  { name: 'add a connection', hash: () => '#/connections/new' },
  { name: 'audit log', hash: () => '#/audit' },
  { name: 'API tokens', hash: () => '#/tokens' },
  { name: 'timeline', hash: () => '#/history/lucas.martin%40acme.example' },
];
// "2026-12-07 13:05:12" not followed by its zone.
const BARE_TIME = /\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?! UTC)/;

let axeSource = null;
async function axeViolations(page) {
  if (axeSource === null) {
    const { readFileSync } = await import('node:fs');
    axeSource = readFileSync(new URL('./node_modules/axe-core/axe.min.js', import.meta.url), 'utf8');
  }
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.addScriptTag({ content: axeSource });
  return page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id} (${v.impact}): ${v.help}: ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ')}`);
  });
}

// A page in a context of its own (opts: viewport width, bypassCSP, timezoneId), watched like newPage's.
async function a11yPage({ width = 1280, ...opts } = {}) {
  const context = await browser.newContext({ viewport: { width, height: 800 }, ...opts });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  page.problems = [];
  page.dialogs = [];
  page.on('pageerror', (e) => page.problems.push(`uncaught: ${e.message}`));
  if (!opts.bypassCSP) {
    page.on('console', (m) => {
      if (m.type() === 'error' && /Content.Security.Policy|Refused to/i.test(m.text())) page.problems.push(`console: ${m.text()}`);
    });
  }
  pages.push(page);
  return page;
}

// Layout problems of the page shown: sideways scrolling of the page, a menu
// item or a control out of reach (outside the viewport and not inside a
// scrollable region of its own), a time without its zone.
async function layoutProblems(page) {
  return page.evaluate((bare) => {
    const out = [];
    const vw = window.innerWidth;
    const sw = document.documentElement.scrollWidth;
    if (sw > vw) out.push(`the page scrolls sideways: ${sw} px wide in a ${vw} px window`);
    const name = (el) => `${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''} "${(el.textContent || el.getAttribute('aria-label') || '').trim().slice(0, 30)}"`;
    for (const el of document.querySelectorAll('#nav a, #who button, main a, main button, main input, main select, main textarea')) {
      const r = el.getBoundingClientRect();
      if (!r.width && !r.height) {
        if (el.closest('#nav, #who')) out.push(`${name(el)} is not shown`);
        continue; // hidden on purpose (a closed <details>, ...)
      }
      if (el.closest('.table-wrap')) continue; // reachable by scrolling that region
      if (r.left < -1 || r.right > vw + 1) out.push(`${name(el)} is outside the window (${Math.round(r.left)}..${Math.round(r.right)} of ${vw})`);
    }
    const text = document.querySelector('main').innerText;
    const m = new RegExp(bare).exec(text);
    if (m) out.push(`a time without its zone: "${text.slice(m.index, m.index + 40)}"`);
    for (const t of document.querySelectorAll('main time')) {
      if (!Number.isFinite(Date.parse(t.getAttribute('datetime')))) out.push(`<time> without a datetime: ${t.outerHTML}`);
    }
    return out;
  }, BARE_TIME.source);
}

test('every page fits 360, 390 and 1280 px without sideways scrolling, its menu and buttons in reach, and axe finds nothing serious', async () => {
  runs.a11yWait = await startRun('e2e-approval', { user: 'mia.weber@acme.example' }, T.operator);
  await runStatus(runs.a11yWait, T.viewer, 'waiting');
  const found = [];
  for (const width of A11Y_WIDTHS) {
    // UTC+05:30: the longest zone text a time can carry.
    const page = await a11yPage({ width, bypassCSP: true, timezoneId: 'Asia/Kolkata' });
    await page.goto(`${URL_}/`);
    await page.locator('#signin').waitFor();
    for (const p of [...await layoutProblems(page), ...await axeViolations(page)]) found.push(`${width} px, sign-in: ${p}`);
    await signIn(page, T.admin);
    for (const pg of A11Y_PAGES) {
      const hash = pg.hash();
      await go(page, hash);
      for (const p of [...await layoutProblems(page), ...await axeViolations(page)]) found.push(`${width} px, ${pg.name} (${hash}): ${p}`);
      if (SHOTS) await shot(page, `a11y-${width}-${pg.name.replace(/\W+/g, '-')}`);
    }
    await page.context().close();
  }
  if (found.length) {
    const { writeFileSync } = await import('node:fs');
    writeFileSync(path.join(OUT, 'a11y-problems.txt'), found.join('\n') + '\n');
  }
  check(!found.length, `${found.length} problems (all in ${path.join(OUT, 'a11y-problems.txt')}):\n${found.join('\n')}`);
});

test('keyboard: a skip link, a visible focus ring, focus on the new page\'s heading, and on the result after an action', async () => {
  const page = await a11yPage({ width: 390 });
  await signIn(page, T.operator);
  await routed(page, '#/runs');
  const focused = () => page.evaluate(() => {
    const a = document.activeElement;
    return { tag: a ? a.tagName : null, text: a ? a.textContent.trim().slice(0, 60) : '', inMain: !!(a && a.closest('main')), cls: a ? a.className : '' };
  });
  await until('focus on the Runs heading after signing in', async () => {
    const f = await focused();
    return f.tag === 'H1' && f.inMain && /^Runs/.test(f.text);
  });
  // The skip link: the first Tab stop of a page just loaded, visible when
  // focused, and it moves focus to the page.
  await page.goto(`${URL_}/#/workflows`);
  await routed(page, '#/workflows');
  await page.reload();
  await routed(page, '#/workflows');
  check((await focused()).tag === 'BODY', 'a page just loaded keeps the browser\'s own start');
  await page.keyboard.press('Tab');
  const skip = await page.evaluate(() => {
    const a = document.activeElement;
    const r = a.getBoundingClientRect();
    const s = getComputedStyle(a);
    return { cls: a.className, text: a.textContent, inView: r.top >= 0 && r.left >= 0 && r.width > 10 && r.height > 10,
      outline: s.outlineStyle, width: parseFloat(s.outlineWidth) };
  });
  check(/\bskip\b/.test(skip.cls) && /Skip to/.test(skip.text), `the first Tab stop is not the skip link: ${JSON.stringify(skip)}`);
  check(skip.inView, `the focused skip link is not visible: ${JSON.stringify(skip)}`);
  check(skip.outline !== 'none' && skip.width >= 2, `no visible focus ring on the skip link: ${JSON.stringify(skip)}`);
  await page.keyboard.press('Enter');
  const f1 = await focused();
  check(f1.tag === 'H1' && f1.inMain && /^Workflows/.test(f1.text), `the skip link did not move focus to the page: ${JSON.stringify(f1)}`);
  check(/#\/workflows$/.test(page.url()), `the skip link changed the address: ${page.url()}`);
  // The next Tab stop is in the page, with a focus ring.
  await page.keyboard.press('Tab');
  const ring = await page.evaluate(() => {
    const a = document.activeElement;
    const s = getComputedStyle(a);
    return { inMain: !!a.closest('main'), outline: s.outlineStyle, width: parseFloat(s.outlineWidth), tag: a.tagName };
  });
  check(ring.inMain && ring.outline !== 'none' && ring.width >= 2, `no visible focus ring in the page: ${JSON.stringify(ring)}`);
  // A menu item chosen by keyboard: focus lands on the new page's heading.
  await page.focus('#nav a[data-page=approvals]');
  await page.keyboard.press('Enter');
  await routed(page, '#/approvals');
  const f2 = await focused();
  check(f2.tag === 'H1' && /^Approvals/.test(f2.text), `focus after navigating: ${JSON.stringify(f2)}`);
  // An action: "No" in a confirmation returns focus to its button; "Yes" to the result message.
  const id = await startRun('e2e-approval', { user: 'jonas.berg@acme.example' }, T.operator);
  await runStatus(id, T.viewer, 'waiting');
  await go(page, `#/runs/${id}`);
  await page.focus('#cancel');
  await page.keyboard.press('Enter');
  await page.locator('.confirm').waitFor();
  await page.keyboard.press('Tab');
  await page.keyboard.press('Enter'); // "No"
  await until('focus back on the Cancel button', async () => (await page.evaluate(() => document.activeElement.id)) === 'cancel');
  await page.keyboard.press('Enter');
  await page.locator('.confirm').waitFor();
  await page.keyboard.press('Enter'); // "Yes, cancel it" has the focus
  await seeText(page, '.notice', new RegExp(`Run ${id}: cancelled`));
  const f3 = await focused();
  check(/notice/.test(f3.cls) && /cancelled/.test(f3.text), `focus after cancelling: ${JSON.stringify(f3)}`);
  // A decision in the approvals inbox: focus goes to its result.
  const id2 = await startRun('e2e-approval', { user: 'lena.koch@acme.example' }, T.operator);
  await runStatus(id2, T.viewer, 'waiting');
  const ap = await a11yPage({ width: 390 });
  await signIn(ap, T.approver);
  await go(ap, '#/approvals');
  await ap.locator(`#approvals .approval[data-run-id="${id2}"] button.reject`).click();
  await seeText(ap, `.notice[data-run-id="${id2}"]`, /rejected/);
  const f4 = await ap.evaluate(() => {
    const n = document.activeElement.closest('.notice');
    return n ? n.textContent : `<${document.activeElement.tagName.toLowerCase()}>`;
  });
  check(/rejected/.test(f4), `focus after rejecting is not on its result but on ${f4}`);
  // A run page refreshed under the focus (the run went on): the focus stays in the page.
  const id3 = await startRun('e2e-approval', { user: 'emil.roth@acme.example' }, T.operator);
  await runStatus(id3, T.viewer, 'waiting');
  await go(page, `#/runs/${id3}`);
  await page.focus('#cancel');
  const ok = await apiCall('POST', `/api/v1/runs/${id3}/approve`, { token: T.approver, body: {} });
  check(ok.status === 200, `approving ${id3}: ${ok.status} ${ok.text}`);
  await seeText(page, 'h1', new RegExp(`Run ${id3}\\s*succeeded`));
  const f5 = await focused();
  check(f5.inMain, `focus after the run page refreshed: ${JSON.stringify(f5)}`);
  // An action refused by the API: the focus is on the form or its error, not <body>.
  const ad = await a11yPage({ width: 390 });
  await signIn(ad, T.admin);
  await go(ad, '#/tokens');
  await ad.fill('#token-name', 'bad name!');
  await ad.focus('#create-token');
  await ad.keyboard.press('Enter');
  await ad.locator('main .error').waitFor();
  const f6 = await ad.evaluate(() => ({ tag: document.activeElement.tagName, inMain: !!document.activeElement.closest('main') }));
  check(f6.inMain, `focus after a refused action: ${JSON.stringify(f6)}`);
});

test('times say their zone: the browser\'s local time with its UTC offset, the exact time in <time datetime>', async () => {
  const run = (await apiCall('GET', `/api/v1/runs/${runs.echo}`, { token: T.viewer })).json;
  let ms = Number(run.created_at);
  if (ms < 1e11) ms *= 1000;
  // Asia/Kolkata is UTC+05:30 all year: no daylight saving to guess.
  const local = new Date(ms + 5.5 * 3600e3).toISOString().replace('T', ' ').slice(0, 19);
  const want = `${local} UTC+05:30`;
  const page = await a11yPage({ width: 1280, timezoneId: 'Asia/Kolkata' });
  await signIn(page, T.viewer);
  const cell = page.locator(`tr.run-row[data-run-id="${runs.echo}"] time`).first();
  await cell.waitFor();
  check((await cell.textContent()) === want, `the list shows "${await cell.textContent()}", not "${want}"`);
  const dt = await cell.getAttribute('datetime');
  check(Date.parse(dt) === Math.floor(ms / 1000) * 1000 || Date.parse(dt) === ms, `datetime="${dt}" is not the run's time ${ms}`);
  check((await cell.getAttribute('title')) === dt, 'the full time is in its title');
  await go(page, `#/runs/${runs.echo}`);
  await seeText(page, 'dl.meta time', new RegExp(want.replace(/[+.]/g, '\\$&')));
  check(!BARE_TIME.test(await page.locator('main').innerText()), 'a time on the run page lacks its zone');
  // In UTC itself the zone reads "UTC".
  const utc = await a11yPage({ width: 1280, timezoneId: 'UTC' });
  await signIn(utc, T.viewer);
  const c2 = utc.locator(`tr.run-row[data-run-id="${runs.echo}"] time`).first();
  await c2.waitFor();
  const want2 = `${new Date(ms).toISOString().replace('T', ' ').slice(0, 19)} UTC`;
  check((await c2.textContent()) === want2, `in UTC the list shows "${await c2.textContent()}", not "${want2}"`);
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

// Part "demo-tokens" (issue 17): a remote that does not answer is not a refusal.
test('a connection to a host that does not answer says "could not reach", not "refused these credentials"', async () => {
  const page = await newPage();
  await signIn(page, T.admin);
  await go(page, '#/connections/new');
  await page.locator('#connection-form').waitFor();
  await page.fill('#conn-name', 'okta-nowhere');
  await page.fill('#field-url', 'http://127.0.0.1:1');
  await page.fill('#field-token', OKTA_TOKEN);
  await page.check('#field-sandbox');
  await page.click('#save-connection');
  await seeText(page, '#connection-form .error', /could not reach 127\.0\.0\.1:1: /);
  await seeText(page, '#unreachable', /could not reach the remote system.*nothing was stored/);
  check(await page.locator('#refused').count() === 0, 'not called a refusal');
  check(!(await page.textContent('#connection-form')).includes('refused these credentials'), 'no refusal wording');
  const listed = await apiCall('GET', '/api/v1/connections', { token: T.admin });
  check(!listed.json.connections.some((c) => c.name === 'okta-nowhere'), 'nothing stored');
});

// Issue 18: an OAuth service app as Okta creates it today (DPoP required,
// the sandbox's default), its PEM key pasted into the password input (which
// drops the line breaks: idflow puts them back); the check says the mode.
test('a run held at a guardrail: an approver sees why but cannot release it, an admin releases it and it finishes', async () => {
  cli('connect', 'okta', 'capped', '--url', SANDBOX, '--token-env', 'OKTA_TOKEN', '--sandbox', '--max-destructive', '1/1h');
  const id = await startRun('e2e-hold', { users: ['grace.liu@acme.example', 'omar.haddad@acme.example'] }, T.operator);
  await runStatus(id, T.viewer, 'held');
  const page = await newPage();
  await signIn(page, T.approver);
  await go(page, '#/approvals');
  const card = page.locator(`#approvals .approval[data-run-id="${id}"]`);
  await card.waitFor();
  await seeText(page, `#approvals .approval[data-run-id="${id}"] .badge.held`, /held at the guardrail of capped/);
  await seeText(page, `#approvals .approval[data-run-id="${id}"] .message`, /budget of destructive calls \(1\/1h\)/);
  check(await card.locator('button').count() === 0, 'an approver has no release button');
  const admin = await newPage();
  await signIn(admin, T.admin);
  await go(admin, `#/runs/${id}`);
  await seeText(admin, '#approval h2', /Held at the guardrail of capped/);
  await admin.fill('#approval-comment', 'two people, as asked');
  await admin.click('#approve');
  await seeText(admin, 'h1', new RegExp(`Run ${id}\\s*succeeded`));
  const audit = await apiCall('GET', '/api/v1/audit?limit=10', { token: T.admin });
  check(audit.json.audit.some((a) => a.action === 'guardrail.release' && a.target === `run:${id}`), 'the release is audited');
});

test('an admin connects an OAuth service app that requires DPoP, and the console says so', async () => {
  const src = process.env.IDFLOW_SRC || path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
  const pem = readFileSync(path.join(src, 'tests/data/sandbox_service_ec.pem'), 'utf8');
  const page = await newPage();
  await signIn(page, T.admin);
  await go(page, `#/connections/new`);
  await page.locator('#connection-form').waitFor();
  await page.fill('#conn-name', 'okta-dpop');
  await page.selectOption('#conn-kind', 'okta');
  await page.fill('#field-url', SANDBOX);
  await page.fill('#field-client_id', '0oa1idflowsvc0000001');
  await page.fill('#field-private_key', pem);
  check(!(await page.inputValue('#field-private_key')).includes('\n'), 'the password input dropped the line breaks');
  await page.fill('#field-key_id', 'sandbox-ec-1');
  await page.check('#field-sandbox');
  await page.click('#save-connection');
  await seeText(page, '#saved .notice', /Connection okta-dpop created: the credentials work/);
  await seeText(page, '#whoami', /token_type\s*DPoP/);
  await seeText(page, '#whoami', /required by the app: every call carries a DPoP proof/);
  check(!(await page.content()).includes('PRIVATE KEY'), 'the key is nowhere on the page');
  await page.click('#saved a:has-text("Back to connections")');
  const tr = page.locator('tr[data-connection="okta-dpop"]');
  await tr.locator('button.test').click();
  await seeText(page, 'tr[data-connection="okta-dpop"] .test-result', /OK.*token_type: DPoP/);
});

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
