import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CliError } from '../src/errors.js';
import { inspectSettings } from '../src/inspect-options.js';

const defaults = { inspectKeep: '100', inspectBodyLimit: '64KiB' };

test('--inspect: off unless given; a port alone is 127.0.0.1; loopback names and addresses are taken', () => {
  assert.equal(inspectSettings(defaults), undefined);
  assert.deepEqual(inspectSettings({ ...defaults, inspect: '4040' }), { host: '127.0.0.1', port: 4040, keep: 100, bodyLimit: 65536, unmask: false });
  for (const [value, host] of [['localhost:4040', 'localhost'], ['127.0.0.2:1', '127.0.0.2'], ['[::1]:4040', '::1']] as const) {
    assert.equal(inspectSettings({ ...defaults, inspect: value })?.host, host, value);
  }
  assert.equal(inspectSettings({ ...defaults, inspect: '4040', inspectBodyLimit: '1MiB', inspectUnmask: true })?.bodyLimit, 1024 * 1024);
});

test('--inspect refuses a host that is not loopback, in one line naming it; bad sizes and counts name their flag', () => {
  for (const host of ['0.0.0.0', '192.168.1.5', '[::]', 'example.com', '[2001:db8::1]']) {
    assert.throws(
      () => inspectSettings({ ...defaults, inspect: `${host}:4040` }),
      (e: unknown) => e instanceof CliError && /listens on loopback only/.test(e.message) && !e.message.includes('\n'),
      host,
    );
  }
  assert.throws(() => inspectSettings({ ...defaults, inspect: '4040', inspectBodyLimit: 'huge' }), /--inspect-body-limit must be a size/);
  assert.throws(() => inspectSettings({ ...defaults, inspect: '4040', inspectBodyLimit: '1GiB' }), /--inspect-body-limit must be a size/);
  assert.throws(() => inspectSettings({ ...defaults, inspect: '4040', inspectKeep: '0' }), /--inspect-keep/);
});
