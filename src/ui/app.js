// app.js — the console's shell: sign-in, the header, and navigation by URL
// hash (#/runs, #/runs/12, #/approvals, ...) so pages can be linked and the
// back button works. Each page lives in its own module and renders into the
// context it is given (see makeCtx). docs/ui.md describes the pages.
import { api, clearToken, getToken, onUnauthorized, setToken } from './api.js';
import { errorBox, focusEl, h, messageSlot, noticeBox } from './dom.js';
import * as runs from './runs.js';
import * as approvals from './approvals.js';
import * as workflows from './workflows.js';
import * as connections from './connections.js';
import * as admin from './admin.js';
import * as timeline from './history.js';

const ROLES = ['viewer', 'approver', 'operator', 'admin'];

const session = {
  me: null,    // {actor, role} from GET /api/v1/me
  open: false, // no token exists: the API answers loopback callers without one
};

const $ = (id) => document.getElementById(id);

// True when the signed-in role reaches `role` (roles are ordered).
function can(role) {
  return !!session.me && ROLES.indexOf(session.me.role) >= ROLES.indexOf(role);
}

// ------------------------------------------------------------ navigation

const NAV = [
  { path: 'runs', text: 'Runs' },
  { path: 'approvals', text: 'Approvals' },
  { path: 'workflows', text: 'Workflows' },
  { path: 'connections', text: 'Connections' },
  { path: 'audit', text: 'Audit log', role: 'admin' },
  { path: 'tokens', text: 'API tokens', role: 'admin' },
];

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [path, qs] = raw.split('?', 2);
  let parts;
  try {
    parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    parts = ['?'];
  }
  if (!parts.length) parts = ['runs'];
  return { parts, query: new URLSearchParams(qs || '') };
}

let renderSeq = 0; // bumped by every navigation and sign-out: older renders stop
let flashNext = null;
// a11y: whether the next render moves the focus. Not on the first page a
// browser loads (it starts at the top, skip link first), on every later one.
let focusNext = true;

// a11y: the page just rendered takes the focus: its result message when
// an action led here (ctx.go / ctx.reload with a message), else its h1, so
// that a screen reader reads where one is and Tab goes on from there.
function focusPage(root, flashEl) {
  focusEl(flashEl || root.querySelector('h1') || root);
}

// a11y: the menu item of the page shown is aria-current=page.
function markCurrent() {
  for (const a of $('nav').querySelectorAll('a')) {
    if (a.classList.contains('current')) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

// a11y: the skip link moves the focus to the page's heading (the address is
// the route, so the link must not change it).
function skipToMain(ev) {
  ev.preventDefault();
  const main = $('main');
  focusEl(main.querySelector('h1') || main);
}

function makeCtx(root, seq) {
  const alive = () => seq === renderSeq && session.me !== null;
  const ctx = {
    me: session.me,
    open: session.open,
    can,
    root,
    alive,
    title(t) { document.title = t ? `${t} · idflow` : 'idflow'; },
    // Navigates to hash, showing msg on the next page.
    go(hash, msg) {
      flashNext = msg || null;
      if (location.hash === hash) route();
      else location.hash = hash;
    },
    // Calls fn every ms while this page is shown (never two at once), until
    // fn returns false.
    every(fn, ms) {
      const tick = async () => {
        if (!alive()) return;
        let again = true;
        try { again = await fn(); } catch { /* the next tick tries again; 401 signs out */ }
        if (again !== false && alive()) setTimeout(tick, ms);
      };
      setTimeout(tick, ms);
    },
    // Shows the page: fn(ctx) again (e.g. after an action), keeping the route.
    reload(msg) { ctx.go(location.hash || '#/runs', msg); },
    // Signs this console in with the first token, just made on this page
    // (the API tokens page, open install), and keeps the page as it is.
    async adoptToken(token) {
      await adoptToken(token);
      ctx.me = session.me;
      ctx.open = false;
    },
  };
  return ctx;
}

async function dispatch(ctx, parts, query) {
  const [page, a, b] = parts;
  const n = parts.length;
  if (page === 'runs' && n === 1) return runs.list(ctx, query);
  if (page === 'runs' && n === 2) return runs.show(ctx, a);
  if (page === 'history' && n <= 2) return timeline.render(ctx, a, query); // "console-runs": a timeline
  if (page === 'approvals' && n === 1) return approvals.render(ctx);
  if (page === 'workflows' && n === 1) return workflows.list(ctx);
  if (page === 'workflows' && n === 2) return workflows.show(ctx, a);
  if (page === 'connections' && n === 1) return connections.list(ctx);
  if (page === 'connections' && n === 2 && a === 'new') return connections.form(ctx, null);
  if (page === 'connections' && n === 3 && a === 'edit') return connections.form(ctx, b);
  if (page === 'audit' && n === 1) return admin.audit(ctx, query);
  if (page === 'tokens' && n === 1) return admin.tokens(ctx);
  ctx.title('Not found');
  ctx.root.append(h('h1', { text: 'Not found' }), h('p', {}, 'No such page. ', h('a', { href: '#/runs', text: 'Runs' })));
  return undefined;
}

async function route() {
  if (!session.me) return;
  const seq = ++renderSeq;
  const { parts, query } = parseHash();
  const main = $('main');
  for (const a of $('nav').querySelectorAll('a')) a.classList.toggle('current', a.dataset.page === parts[0]);
  if (parts[0] !== 'approvals') approvals.refreshNavCount(); // issue 17: the nav's pending count
  const root = h('section', { class: 'page', 'data-page': parts[0], 'data-route': location.hash || '#/runs' });
  const ctx = makeCtx(root, seq);
  const flash = flashNext;
  flashNext = null;
  if (!main.querySelector('section.page')) main.replaceChildren(h('p', { class: 'muted', text: 'Loading…' }));
  try {
    await dispatch(ctx, parts, query);
  } catch (e) {
    if (seq !== renderSeq) return;
    if (e.status === 401) return; // signed out by the handler
    root.replaceChildren(h('h1', { text: 'Error' }), errorBox(e.message));
  }
  if (seq !== renderSeq) return;
  const flashEl = flash ? noticeBox(flash) : null;
  if (flashEl) root.prepend(flashEl);
  main.replaceChildren(root);
  window.scrollTo(0, 0);
  markCurrent();
  if (focusNext) focusPage(root, flashEl);
  focusNext = true;
}

// ------------------------------------------------------------ the session

function renderHeader() {
  const nav = $('nav');
  nav.replaceChildren(...NAV.filter((n) => !n.role || can(n.role))
    .map((n) => h('a', { href: `#/${n.path}`, 'data-page': n.path, text: n.text })));
  nav.hidden = false;
  const who = $('who');
  const out = h('button', { type: 'button', id: 'signout', text: 'Sign out' });
  out.addEventListener('click', () => signOut('Signed out.'));
  who.replaceChildren(
    h('span', { class: 'actor', id: 'actor', text: session.me.actor }),
    h('span', { class: 'role', id: 'role', text: session.me.role }));
  if (!session.open) who.append(out);
  who.hidden = false;
  const banner = $('banner');
  if (session.open) {
    banner.replaceChildren(
      h('strong', { text: 'No API token exists: anyone on this machine can use this console.' }),
      ' Create one with ', h('code', { text: 'idflow token create NAME --role admin' }),
      ' (or on the API tokens page); from then on every request needs a token.');
    banner.hidden = false;
  } else {
    banner.hidden = true;
    banner.replaceChildren();
  }
}

function startSession(me, open) {
  session.me = { actor: String(me.actor ?? '?'), role: String(me.role ?? 'viewer') };
  session.open = open;
  renderHeader();
  route();
}

function signOut(message, isError = false) {
  clearToken();
  session.me = null;
  session.open = false;
  renderSeq++;
  showSignIn(message, isError);
}

async function signInWith(token) {
  const me = await api('GET', '/api/v1/me', undefined, { token, quiet: true });
  setToken(token);
  startSession(me, false);
}

// Part "demo-tokens" (issue 17): the first token made in this console
// signs it in at once. The page that made it stays (the token is shown
// once), only the header changes: the open-install banner goes, the actor
// is the new token. The next click then needs no sign-in.
async function adoptToken(token) {
  const me = await api('GET', '/api/v1/me', undefined, { token, quiet: true });
  setToken(token);
  session.me = { actor: String(me.actor ?? '?'), role: String(me.role ?? 'viewer') };
  session.open = false;
  renderHeader();
  const here = parseHash().parts[0];
  for (const a of $('nav').querySelectorAll('a')) a.classList.toggle('current', a.dataset.page === here);
}

// What the sign-in page says when the API turned the console away (a 401
// on some call): in words for a person; the API's own text, meant for
// programs, only where it adds something (the token's fate).
function refusalForPeople(apiMessage, hadToken) {
  if (!hadToken) {
    return 'This idflow now has API tokens, so the console needs one too: someone created the first token ' +
      '(on the server or in another browser). Sign in with a token.';
  }
  return `Your token no longer works (idflow says: ${apiMessage}). Sign in with another one.`;
}

function showSignIn(message, isError = true) {
  document.title = 'Sign in · idflow';
  $('nav').hidden = true;
  $('who').hidden = true;
  $('banner').hidden = true;
  const slot = messageSlot();
  if (message) isError ? slot.error(message) : slot.notice(message);
  const input = h('input', {
    type: 'password', id: 'token', name: 'token', autocomplete: 'off', spellcheck: 'false',
    placeholder: 'idf_…', 'aria-label': 'API token',
  });
  const button = h('button', { type: 'submit', class: 'primary', text: 'Sign in' });
  const form = h('form', { class: 'panel signin', id: 'signin', novalidate: true },
    h('h1', { text: 'Sign in to idflow' }),
    slot.el,
    h('p', { id: 'signin-what' }, 'idflow asks who you are with an API token: a key starting with ',
      h('code', { text: 'idf_' }), ' that an admin made for you, with a role — viewer (sees runs), approver ',
      '(also decides approvals), operator (also starts, re-runs and cancels runs) or admin (everything).'),
    h('p', { id: 'signin-where' }, 'No token yet? Ask an idflow admin for one (they make it on the API tokens page), or, ',
      'on the server where idflow runs, create one yourself: ', h('code', { text: 'idflow token create NAME --role admin' }),
      ' prints it once.'),
    h('div', { class: 'field' }, h('label', { for: 'token', text: 'API token' }), input,
      h('div', { class: 'help' }, 'It is kept in this browser tab only and sent with each request; closing the tab forgets it.')),
    h('div', { class: 'row' }, button));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const token = input.value.trim();
    if (!token) {
      slot.error('Paste an API token first.');
      return;
    }
    button.disabled = true;
    try {
      await signInWith(token);
    } catch (e) {
      slot.error(e.message);
      button.disabled = false;
    }
  });
  $('main').replaceChildren(form);
  input.focus();
  focusNext = true; // the page after signing in takes the focus
}

async function boot() {
  // Several calls of one page may be refused at once (the page's and the
  // nav's pending count): the first signs out, the others change nothing.
  onUnauthorized((msg) => {
    if (session.me) signOut(refusalForPeople(msg, !session.open), true);
  });
  window.addEventListener('hashchange', route);
  $('skip').addEventListener('click', skipToMain);
  focusNext = false; // the first page loaded keeps the browser's own start

  const stored = getToken();
  try {
    const me = stored
      ? await api('GET', '/api/v1/me', undefined, { quiet: true })
      : await api('GET', '/api/v1/me', undefined, { noToken: true, quiet: true });
    startSession(me, !stored);
  } catch (e) {
    if (e.status === 401) {
      clearToken();
      showSignIn(stored ? refusalForPeople(e.message, true) : null);
    } else {
      $('main').replaceChildren(h('h1', { text: 'idflow is not answering' }), errorBox(e.message),
        h('p', {}, h('a', { href: location.href, text: 'Try again' })));
    }
  }
}

boot();
