import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { buildProgram } from '../src/program.js';
import { cliReference, REFERENCE_END, REFERENCE_START, withReference } from '../src/reference.js';

const readme = readFileSync(fileURLToPath(new URL('../../../README.md', import.meta.url)), 'utf8');

test('the README CLI reference matches the commands (run `npm run docs:cli` after changing a command)', () => {
  const reference = cliReference(buildProgram());
  assert.equal(withReference(readme, reference), readme);
});

test('the reference documents every command and every option', () => {
  const reference = cliReference(buildProgram());
  for (const command of ['postern connect', 'postern login', 'postern socket create', 'postern tunnel create', 'postern audit', 'postern edge', 'postern demo']) {
    assert.ok(reference.includes(`#### \`${command}\``), command);
  }
  for (const flag of ['--allowed-email-domains <list>', '--tunnel <id>', '--token-file <file>', '--print-config', '--protocol <protocol>']) {
    assert.ok(reference.includes(flag), flag);
  }
  assert.ok(reference.startsWith(REFERENCE_START) && reference.endsWith(REFERENCE_END));
});
