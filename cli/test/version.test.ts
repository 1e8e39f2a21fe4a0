import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { PROTOCOL_VERSION } from '@postern/shared';
import { VERSION, versionLine } from '../src/version.js';

const versionOf = (path: string): string => (JSON.parse(readFileSync(new URL(path, import.meta.url), 'utf8')) as { version: string }).version;

test('the CLI version is the release version (root and cli package.json)', () => {
  assert.equal(VERSION, versionOf('../../../package.json'));
  assert.equal(VERSION, versionOf('../../package.json'));
});

test('--version names the wire protocol', () => {
  assert.equal(versionLine(), `postern ${VERSION} (wire protocol ${PROTOCOL_VERSION})`);
});
