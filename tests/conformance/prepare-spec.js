#!/usr/bin/env node
// prepare-spec.js — turns Okta's published management spec into a JSON file
// that Prism can load, changing only what Prism cannot load.
//
//   node prepare-spec.js IN.yaml OUT.json [EXCEPTIONS.json]
//
// Two kinds of change, both listed in docs/sandbox.md, "Conformance":
//
// 1. What Prism cannot load. Inside example *data* (a schema's or media type's
// `example`, an Example Object's `value`), keys named `$ref` are renamed to
// `x-example-$ref`. The spec's examples of JSON Schemas (UserSchemaResponse,
// GroupSchemaResponse, ...) contain `$ref: '#/definitions/base'` as data, and
// LogDevice's example is a `$ref` to a missing `#/components/examples/
// LogDeviceObject`; Prism's ref parser tries to resolve both and refuses to
// start. Examples are never used to validate traffic, so renaming them
// changes no rule. Real references (`examples: {name: {$ref}}`, schema refs)
// are left alone, and so is a schema *property* that is named `$ref` or
// `example`.
//
// The number of renamed keys is checked against EXPECTED_RENAMES so that a
// new copy of the spec is looked at again instead of patched blindly.
//
// 2. Corrections of the spec where it contradicts itself (e.g. a schema that
// its own example does not match): the "spec_fixes" of EXCEPTIONS.json, each
// {id, pointer (JSON pointer), set (the new value) or remove: true, reason}.
// A pointer that no longer exists stops the run: the fix must be reviewed.
// Never a way around a sandbox bug: a fix must name the spec's own evidence.
'use strict';

const fs = require('fs');
const yaml = require('js-yaml');

const EXPECTED_RENAMES = 13;
const RENAMED_KEY = 'x-example-$ref';

function renameRefs(value, path, log) {
    if (Array.isArray(value)) {
        value.forEach((v, i) => renameRefs(v, path.concat(i), log));
        return;
    }
    if (!value || typeof value !== 'object')
        return;
    for (const key of Object.keys(value)) {
        if (key === '$ref') {
            log.push(path.join('/'));
            value[RENAMED_KEY] = value[key];
            delete value[key];
            renameRefs(value[RENAMED_KEY], path.concat(RENAMED_KEY), log);
        } else {
            renameRefs(value[key], path.concat(key), log);
        }
    }
}

// Walks the spec; example data found on the way goes to renameRefs.
function walk(node, path, log) {
    if (Array.isArray(node)) {
        node.forEach((v, i) => walk(v, path.concat(i), log));
        return;
    }
    if (!node || typeof node !== 'object')
        return;
    const parentKey = path[path.length - 1];
    for (const key of Object.keys(node)) {
        const child = node[key];
        const here = path.concat(key);
        if (parentKey === 'properties') {
            walk(child, here, log); // a property name, whatever it is called
        } else if (key === 'example') {
            renameRefs(child, here, log);
        } else if (key === 'examples' && child && typeof child === 'object' && !Array.isArray(child)) {
            for (const name of Object.keys(child)) {
                const ex = child[name];
                if (ex && typeof ex === 'object' && 'value' in ex)
                    renameRefs(ex.value, here.concat(name, 'value'), log);
            }
        } else {
            walk(child, here, log);
        }
    }
}

// Applies one spec fix; returns an error text or null.
function applyFix(doc, fix) {
    if (!fix.id || !fix.reason || typeof fix.pointer !== 'string' || (!('set' in fix) && fix.remove !== true))
        return `spec fix ${JSON.stringify(fix)}: id, pointer, reason and set or remove are required`;
    const keys = fix.pointer.split('/').slice(1).map(k => k.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = keys.pop();
    let parent = doc;
    for (const k of keys) {
        parent = parent && typeof parent === 'object' ? parent[k] : undefined;
        if (parent === undefined)
            return `spec fix ${fix.id}: ${fix.pointer} does not exist (the spec changed: review the fix)`;
    }
    if (!parent || typeof parent !== 'object' || !(last in parent))
        return `spec fix ${fix.id}: ${fix.pointer} does not exist (the spec changed: review the fix)`;
    if (fix.remove)
        delete parent[last];
    else
        parent[last] = fix.set;
    return null;
}

function main(argv) {
    if (argv.length !== 2 && argv.length !== 3) {
        process.stderr.write('usage: prepare-spec.js IN.yaml OUT.json [EXCEPTIONS.json]\n');
        return 2;
    }
    const [input, output, exceptions] = argv;
    const doc = yaml.safeLoad(fs.readFileSync(input, 'utf8'));
    if (!doc || typeof doc.openapi !== 'string' || !doc.paths) {
        process.stderr.write(`prepare-spec: ${input} is not an OpenAPI 3 document\n`);
        return 1;
    }
    const log = [];
    walk(doc, [], log);
    if (log.length !== EXPECTED_RENAMES) {
        process.stderr.write(`prepare-spec: renamed ${log.length} $ref keys in examples, expected ` +
                             `${EXPECTED_RENAMES}; review the new spec and update docs/sandbox.md:\n  ` +
                             log.join('\n  ') + '\n');
        return 1;
    }
    const fixes = exceptions ? JSON.parse(fs.readFileSync(exceptions, 'utf8')).spec_fixes || [] : [];
    for (const fix of fixes) {
        const why = applyFix(doc, fix);
        if (why) {
            process.stderr.write(`prepare-spec: ${why}\n`);
            return 1;
        }
    }
    const tmp = `${output}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(doc));
    fs.renameSync(tmp, output);
    process.stdout.write(`prepare-spec: OpenAPI ${doc.openapi} "${doc.info.title}" ${doc.info.version}, ` +
                         `${Object.keys(doc.paths).length} paths; ${log.length} example $ref keys renamed; ` +
                         `${fixes.length} spec fixes (${fixes.map(f => f.id).join(', ') || 'none'})\n`);
    return 0;
}

process.exitCode = main(process.argv.slice(2));
