#!/usr/bin/env node
// report.js — reads the exchanges front.js recorded and says whether they
// conform to Okta's spec, allowing only the findings listed (each with its
// reason) under "findings" in exceptions.json. A finding covers a violation
// when all its given fields match: method (exact), path (regex on path and
// query), status, side (request|response), match (regex on "location
// message"), body (regex on the answer's body, e.g. its errorCode).
//
//   node report.js EXCEPTIONS.json LOG.jsonl [--label NAME] [--summary]
//
// Prints one line per violation that no exception covers:
//   violation: METHOD PATH -> STATUS [side] location: message
// then, with --summary, the counts and the exceptions never used, and last
//   conformance: N requests checked, M violations
// Without --summary it prints one line: "LABEL: N checked, M violations, ...".
// Exit status: 0 when M is 0, 1 otherwise, 2 on bad input.
'use strict';

const fs = require('fs');

function loadExceptions(file) {
    const doc = JSON.parse(fs.readFileSync(file, 'utf8'));
    const list = doc.findings || [];
    for (const e of list) {
        if (!e.id || !e.reason || !e.match || !e.path)
            throw new Error(`finding ${JSON.stringify(e)}: id, path, match and reason are required`);
        e.pathRe = new RegExp(e.path);
        e.matchRe = new RegExp(e.match);
        e.bodyRe = e.body ? new RegExp(e.body) : null;
        e.used = 0;
    }
    return list;
}

function covers(e, x, v) {
    return (!e.method || e.method === x.method) && e.pathRe.test(x.path) &&
           (e.status === undefined || e.status === x.status) && (!e.side || e.side === v.side) &&
           e.matchRe.test(`${v.location} ${v.message}`) && (!e.bodyRe || e.bodyRe.test(x.body || ''));
}

function main(argv) {
    const files = argv.filter(a => !a.startsWith('--'));
    const summary = argv.includes('--summary');
    const li = argv.indexOf('--label');
    const label = li >= 0 ? argv[li + 1] : 'conformance';
    if (li >= 0)
        files.splice(files.indexOf(label), 1);
    if (files.length !== 2) {
        process.stderr.write('usage: report.js EXCEPTIONS.json LOG.jsonl [--label NAME] [--summary]\n');
        return 2;
    }
    const exceptions = loadExceptions(files[0]);
    const text = fs.existsSync(files[1]) ? fs.readFileSync(files[1], 'utf8') : '';
    const exchanges = text.split('\n').filter(l => l.trim()).map(l => JSON.parse(l));

    let checked = 0, excepted = 0;
    const bad = [], direct = {};
    for (const x of exchanges) {
        if (x.via === 'prism' || x.via === 'prism-lenient')
            checked++;
        else
            direct[x.note || x.via] = (direct[x.note || x.via] || 0) + 1;
        const vs = x.violations.slice();
        if (x.error)
            vs.push({side: 'exchange', severity: 'Error', location: '', message: x.error});
        for (const v of vs) {
            const e = exceptions.find(c => covers(c, x, v));
            if (e) {
                e.used++;
                excepted++;
            } else {
                bad.push({x, v});
            }
        }
    }
    for (const {x, v} of bad)
        process.stdout.write(`violation: ${x.method} ${x.path} -> ${x.status} [${v.side}] ` +
                             `${v.location ? v.location + ': ' : ''}${v.message}` +
                             `${x.body && x.status >= 400 ? '  (body ' + x.body.slice(0, 200) + ')' : ''}\n`);
    const notChecked = Object.entries(direct).map(([k, n]) => `${n} ${k}`).join('; ');
    if (!summary) {
        process.stdout.write(`${label}: ${checked} requests checked, ${bad.length} violations, ${excepted} excepted` +
                             `${notChecked ? ', not checked: ' + notChecked : ''}\n`);
        return bad.length ? 1 : 0;
    }
    process.stdout.write(`excepted: ${excepted} findings covered by exceptions.json\n`);
    for (const e of exceptions)
        if (e.used)
            process.stdout.write(`  ${String(e.used).padStart(4)} x ${e.id}\n`);
    const unused = exceptions.filter(e => !e.used).map(e => e.id);
    if (unused.length)
        process.stdout.write(`unused exceptions (no longer needed? remove them): ${unused.join(', ')}\n`);
    if (notChecked)
        process.stdout.write(`not checked (sent straight to the sandbox): ${notChecked}\n`);
    process.stdout.write(`conformance: ${checked} requests checked, ${bad.length} violations\n`);
    return bad.length ? 1 : 0;
}

try {
    process.exitCode = main(process.argv.slice(2));
} catch (e) {
    process.stderr.write(`report.js: ${e.message}\n`);
    process.exitCode = 2;
}
