/**
 * docs/BENCHMARKS.md is what the committed results render, nothing else: the committed doc must equal
 * the generator's output, a changed figure must change the doc, and the generator must refuse a
 * template it does not understand rather than publish a placeholder.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { GENERATED_NOTICE, loadInputs, renderBenchmarks } from './docs.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

describe('docs/BENCHMARKS.md is generated', () => {
  const inputs = loadInputs(ROOT);

  it('the committed doc is exactly what bench/results/*.json and the template render (run `npm run bench:docs`)', () => {
    const committed = readFileSync(join(ROOT, 'docs/BENCHMARKS.md'), 'utf8');
    assert.equal(committed, renderBenchmarks(inputs), 'docs/BENCHMARKS.md differs from its sources: run `npm run bench:docs` and commit the result');
    assert.ok(committed.startsWith(GENERATED_NOTICE));
  });

  it('every figure comes from the results: a changed rate shows in the doc', () => {
    assert.ok(inputs.latest, 'bench/results/latest.json is committed');
    const postern = inputs.latest.results.find((r) => r.key === 'postern');
    assert.ok(postern?.small, 'the latest run measured Postern small GETs');
    const rate = Math.round(postern.small.rps);
    const doc = renderBenchmarks(inputs);
    assert.ok(doc.includes(` ${rate} `), `the doc shows Postern's ${rate} req/s`);
    const changed = { ...inputs.latest, results: inputs.latest.results.map((r) => (r === postern ? { ...r, small: { ...postern.small!, rps: 123_457 } } : r)) };
    const redone = renderBenchmarks({ ...inputs, latest: changed });
    assert.ok(redone.includes(' 123457 '));
    assert.notEqual(redone, doc);
  });

  it('the edge profile is rendered from its results file', () => {
    const before = inputs.profiles.find((p) => p.label === 'before');
    assert.ok(before, 'bench/results/profile-before.json is committed');
    const doc = renderBenchmarks(inputs);
    assert.ok(before.profile.layers.length > 3, 'the profile has layers');
    for (const layer of before.profile.layers.slice(0, 3)) assert.ok(doc.includes(layer.name), `the doc names the layer "${layer.name}"`);
    assert.ok(doc.includes(`before: share`));
  });

  it('refuses an unknown placeholder, and says "not measured" without results', () => {
    assert.throws(() => renderBenchmarks({ ...inputs, template: '# x\n\n{{no_such_section}}\n' }), /unknown placeholder \{\{no_such_section\}\}/);
    assert.throws(() => renderBenchmarks({ ...inputs, template: 'inline {{targets}} here\n' }), /not on a line of its own/);
    const empty = renderBenchmarks({ template: '{{targets}}\n{{profile}}\n{{soak_long}}\n', latest: undefined, soak: undefined, profiles: [] });
    assert.match(empty, /Not measured yet: run `npm run bench`/);
    assert.match(empty, /No profile yet: run `npm run bench:profile`/);
    assert.match(empty, /run `npm run soak`/);
  });
});

describe('the relayed row (two edges on one PostgreSQL)', () => {
  it('shows as its own column with both edges metered, and only when it was measured', () => {
    const inputs = loadInputs(ROOT);
    assert.ok(inputs.latest);
    const postern = inputs.latest.results.find((r) => r.key === 'postern')!;
    const small = { ...postern.small!, rps: 12_345, cpuUs: { origin: 10, edge: 41, 'tunnel edge': 37, connector: 30 } };
    const relayed = { key: 'postern-relayed' as const, label: 'Postern (relayed)', foreignCpu: {}, errors: [], small };
    const template = '{{comparison}}\n{{cpu}}\n{{details}}\n';
    // The committed run may hold a relayed row of its own: render from the others, then with this one.
    const others = inputs.latest.results.filter((r) => r.key !== 'postern-relayed');
    const without = renderBenchmarks({ ...inputs, template, latest: { ...inputs.latest, results: others } });
    const doc = renderBenchmarks({ ...inputs, template, latest: { ...inputs.latest, results: [...others, relayed] } });
    assert.doesNotMatch(without, /relayed/i, 'a run without it renders nothing about it');
    assert.match(doc, /\| Postern \(relayed\) \|/);
    assert.match(doc, /\| both edges \(relayed\) [^\n]*\|\s+78\.0 \|\n/, 'both edges summed, in the relayed column (the last)');
    assert.match(doc, /edge taking the request 41\.0, edge holding the tunnel 37\.0/);
    assert.match(doc, / 12345 req\/s against \d+ local/);
  });
});
