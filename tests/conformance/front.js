#!/usr/bin/env node
// front.js — the conformance front: the URL the sandbox's Okta tests call
// instead of a sandbox of their own. It passes each exchange through Prism,
// which checks the request and the response against Okta's spec, and writes
// one JSON line per exchange (what was sent, what came back, every violation
// Prism reported) for report.js.
//
//   node front.js --strict URL --lenient URL --sandbox URL --log FILE
//
// Prism runs twice, both in proxy mode in front of the same sandbox:
//  - strict  (--errors): a request violation is answered by Prism itself
//    (422, 401, 404/405 for a route not in the spec) and never forwarded; a
//    response violation of severity error becomes a 500. Everything goes
//    here first.
//  - lenient (no --errors): forwards whatever it gets and reports violations
//    in its `sl-violations` header only. A request the strict Prism refused
//    was never forwarded, so the front sends it once more through this one:
//    the violation is recorded and the test still gets the sandbox's own
//    answer (whose response is checked too). Tests send bad requests on
//    purpose (malformed limits, missing fields, unknown paths); report.js
//    lets through only the ones listed in exceptions.json.
// Three kinds of calls go straight to the sandbox, recorded as not checked:
//  - /oauth2/* (the OAuth 2.0 API is another spec than the management one);
//    the Host header is kept, since the token's audience is the URL called;
//  - a call with a DPoP proof, Host kept too: the proof's htu is that URL;
//  - a JSON body that does not parse (Prism never answers one).
// Single-threaded Node; the log line of an exchange is written before its
// answer is sent, so the log is complete when the client has its answers.
'use strict';

const fs = require('fs');
const http = require('http');

const MAX_BODY = 16 * 1024 * 1024;     // the sandbox refuses far less
const UPSTREAM_TIMEOUT_MS = 30000;     // Prism hangs on some inputs; never the tests
const PRISM_ERRORS = 'https://stoplight.io/prism/errors#';
// Prism answers these itself before forwarding anything: safe to send again.
const NOT_FORWARDED = new Set(['UNPROCESSABLE_ENTITY', 'UNAUTHORIZED', 'NO_PATH_MATCHED_ERROR',
                               'NO_METHOD_MATCHED_ERROR', 'INVALID_CONTENT_TYPE']);
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade',
                            'te', 'trailer']);

function parseArgs(argv) {
    const out = {};
    for (let i = 0; i + 1 < argv.length; i += 2) {
        if (!argv[i].startsWith('--'))
            throw new Error(`unexpected argument ${argv[i]}`);
        out[argv[i].slice(2)] = argv[i + 1];
    }
    for (const k of ['strict', 'lenient', 'sandbox', 'log'])
        if (!out[k])
            throw new Error(`--${k} is required`);
    return out;
}

// One HTTP exchange with an upstream; resolves {status, headers, body} or {error}.
function send(base, req, body, keepHost) {
    return new Promise(resolve => {
        const url = new URL(req.url, base);
        const headers = {};
        for (const [k, v] of Object.entries(req.headers))
            if (!HOP_BY_HOP.has(k) && (k !== 'host' || keepHost))
                headers[k] = v;
        if (body.length > 0 || req.headers['content-length'] !== undefined)
            headers['content-length'] = String(body.length);
        const up = http.request({hostname: url.hostname, port: url.port, path: req.url, method: req.method,
                                 headers, timeout: UPSTREAM_TIMEOUT_MS}, res => {
            const chunks = [];
            res.on('data', c => chunks.push(c));
            res.on('end', () => resolve({status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks)}));
            res.on('error', e => resolve({error: e.message}));
        });
        up.on('timeout', () => up.destroy(new Error(`no answer within ${UPSTREAM_TIMEOUT_MS} ms`)));
        up.on('error', e => resolve({error: e.message}));
        up.end(body);
    });
}

// The Prism problem in an answer ({kind, json}), or null for an upstream
// answer. The sandbox never answers application/problem+json; Prism does for
// its findings (type under PRISM_ERRORS) and for its own failures (e.g. type
// "FetchError" when it cannot read the upstream answer).
function prismProblem(ans) {
    const ct = String(ans.headers['content-type'] || '');
    if (!ct.startsWith('application/problem+json'))
        return null;
    let p = {};
    try {
        p = JSON.parse(ans.body.toString('utf8'));
    } catch (e) {
        p = {title: ans.body.toString('utf8')};
    }
    const type = typeof p.type === 'string' ? p.type : 'unknown';
    return {kind: type.startsWith(PRISM_ERRORS) ? type.slice(PRISM_ERRORS.length) : type, json: p};
}

// Prism's violations as [{side, severity, location, message}].
function fromValidation(list, defaultSide) {
    return (Array.isArray(list) ? list : []).map(v => {
        const loc = Array.isArray(v.location) ? v.location.slice() : [];
        const side = loc[0] === 'request' || loc[0] === 'response' ? loc.shift() : defaultSide;
        return {side, severity: v.severity || 'Error', location: loc.join('.'), message: v.message || ''};
    });
}

function fromHeader(ans) {
    const raw = ans.headers['sl-violations'];
    if (!raw)
        return [];
    try {
        return fromValidation(JSON.parse(raw), 'response');
    } catch (e) {
        return [{side: 'response', severity: 'Error', location: '', message: `unreadable sl-violations: ${raw}`}];
    }
}

function isBrokenJson(req, body) {
    if (body.length === 0 || !/json/i.test(String(req.headers['content-type'] || '')))
        return false;
    try {
        JSON.parse(body.toString('utf8'));
        return false;
    } catch (e) {
        return true;
    }
}

async function exchange(opts, req, body) {
    const rec = {method: req.method, path: req.url, via: 'prism', violations: []};
    let ans;
    if (req.url.startsWith('/oauth2/')) {
        rec.via = 'direct';
        rec.note = 'outside the management spec';
        ans = await send(opts.sandbox, req, body, true);
    } else if (req.headers['dpop'] !== undefined) {
        // A DPoP proof names the URL called (htu): Prism would change the
        // Host the sandbox compares it with. The same calls with other
        // credentials are checked.
        rec.via = 'direct';
        rec.note = 'a DPoP proof names the URL called';
        ans = await send(opts.sandbox, req, body, true);
    } else if (isBrokenJson(req, body)) {
        rec.via = 'direct';
        rec.note = 'malformed JSON body: Prism cannot carry it';
        ans = await send(opts.sandbox, req, body, false);
    } else {
        ans = await send(opts.strict, req, body, false);
        const problem = ans.error ? null : prismProblem(ans);
        if (problem && NOT_FORWARDED.has(problem.kind)) {
            // Refused before forwarding: record why, then let the lenient Prism forward it.
            rec.violations = problem.kind === 'UNPROCESSABLE_ENTITY'
                ? fromValidation(problem.json.validation, 'request')
                : [{side: 'request', severity: 'Error', location: problem.kind,
                    message: `${problem.json.title}: ${problem.json.detail}`}];
            rec.via = 'prism-lenient';
            ans = await send(opts.lenient, req, body, false);
            if (!ans.error) {
                // The lenient Prism repeats the request findings; keep the new ones.
                const seen = new Set(rec.violations.map(v => `${v.side}|${v.location}|${v.message}`));
                for (const v of fromHeader(ans))
                    if (v.side !== 'request')
                        rec.violations.push(v);
                    else if (!seen.has(`${v.side}|${v.location}|${v.message}`) &&
                             v.message !== 'Selected route not found' && problem.kind !== 'UNAUTHORIZED')
                        rec.violations.push(v);
            }
        } else if (problem && problem.kind === 'VIOLATIONS') {
            rec.violations = fromValidation(problem.json.validation, 'response');
        } else if (problem) {
            rec.violations = [{side: 'prism', severity: 'Error', location: problem.kind,
                               message: `${problem.json.title}: ${problem.json.detail || ''}`}];
        } else if (!ans.error) {
            rec.violations = fromHeader(ans);
        }
    }
    if (ans.error) {
        rec.status = 0;
        rec.error = ans.error;
    } else {
        rec.status = ans.status;
        const ct = String(ans.headers['content-type'] || '');
        if (ct.includes('json') && ans.body.length < 4096)
            rec.body = ans.body.toString('utf8'); // small answers only: enough to tell an error code
    }
    return {rec, ans};
}

function main() {
    const opts = parseArgs(process.argv.slice(2));
    let seq = 0;
    const server = http.createServer((req, res) => {
        const chunks = [];
        let size = 0;
        req.on('data', c => {
            size += c.length;
            if (size <= MAX_BODY)
                chunks.push(c);
        });
        req.on('end', async () => {
            const body = Buffer.concat(chunks);
            let out;
            if (size > MAX_BODY) {
                out = {rec: {method: req.method, path: req.url, via: 'none', status: 413, violations: [],
                             error: `body over ${MAX_BODY} bytes`},
                       ans: {status: 413, headers: {}, body: Buffer.alloc(0)}};
            } else {
                out = await exchange(opts, req, body);
            }
            out.rec.seq = ++seq;
            fs.appendFileSync(opts.log, JSON.stringify(out.rec) + '\n');
            if (out.ans.error) {
                res.writeHead(502, {'content-type': 'text/plain'});
                res.end(`conformance front: ${out.ans.error}\n`);
                return;
            }
            const headers = {};
            for (const [k, v] of Object.entries(out.ans.headers))
                if (!HOP_BY_HOP.has(k) && k !== 'content-length')
                    headers[k] = v;
            headers['content-length'] = String(out.ans.body.length);
            res.writeHead(out.ans.status, headers);
            res.end(out.ans.body);
        });
    });
    server.keepAliveTimeout = 60000;
    server.listen(0, '127.0.0.1', () => {
        process.stdout.write(`front listening on http://127.0.0.1:${server.address().port}\n`);
    });
    const stop = () => server.close(() => process.exit(0));
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
}

main();
