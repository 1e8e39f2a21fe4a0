import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CliError } from '../src/errors.js';
import { checkServiceName, execWord, readRecord, renderUnit, type UnitSpec } from '../src/service/unit.js';

test('execWord leaves plain words alone and escapes what systemd would expand or split', () => {
  assert.equal(execWord('--port'), '--port');
  assert.equal(execWord('https://edge.example.com:8443/x'), 'https://edge.example.com:8443/x');
  assert.equal(execWord('50%'), '50%%');
  assert.equal(execWord('$HOME'), '$$HOME');
  assert.equal(execWord('two words'), '"two words"');
  assert.equal(execWord('say "hi" \\ bye'), '"say \\"hi\\" \\\\ bye"');
  assert.equal(execWord(';'), '";"', 'a lone ; would start a second command');
  assert.equal(execWord(''), '""');
  assert.throws(() => execWord('a\nb'), CliError);
});

test('service names are safe in a unit name and a file name', () => {
  assert.equal(checkServiceName('grafana-2.prod_x'), 'grafana-2.prod_x');
  for (const bad of ['', '-x', 'a b', 'a/b', '../x', 'x'.repeat(64)]) assert.throws(() => checkServiceName(bad), CliError, bad);
});

const spec = (scope: 'system' | 'user'): UnitSpec => ({
  record: { name: 'grafana', command: ['connect', '--socket', 'sck_abcdefghij', '--port', '3000'], edge: 'https://edge.example.com', token_id: 'tok_1' },
  scope,
  version: '9.9.9',
  executable: ['/usr/bin/node', '/usr/lib/node_modules/postern/dist/postern.js'],
  tokenFile: scope === 'system' ? '/etc/postern/services/grafana.token' : '/home/u/.config/postern/services/grafana.token',
  stopTimeoutSeconds: 45,
  environment: { NODE_EXTRA_CA_CERTS: '/etc/postern/ca 100%.pem' },
});

test('a system unit reads the token as a credential and runs confined; a user unit reads its own file', () => {
  const system = renderUnit(spec('system')).split('\n');
  assert.ok(system.includes('ExecStart=/usr/bin/node /usr/lib/node_modules/postern/dist/postern.js connect --socket sck_abcdefghij --port 3000 --edge https://edge.example.com --token-file %d/token'));
  assert.ok(system.includes('LoadCredential=token:/etc/postern/services/grafana.token'));
  assert.ok(system.includes('Environment="NODE_EXTRA_CA_CERTS=/etc/postern/ca 100%%.pem"'));
  for (const line of ['DynamicUser=yes', 'ProtectSystem=strict', 'WantedBy=multi-user.target']) assert.ok(system.includes(line), line);

  const user = renderUnit(spec('user')).split('\n');
  assert.ok(user.some((l) => l.endsWith('--token-file /home/u/.config/postern/services/grafana.token')));
  assert.equal(user.some((l) => l.startsWith('LoadCredential=') || l.startsWith('DynamicUser=')), false);
  assert.ok(user.includes('WantedBy=default.target'));
});

test('the record in a unit reads back; other units have none', () => {
  assert.deepEqual(readRecord(renderUnit(spec('system'))), spec('system').record);
  assert.equal(readRecord('[Unit]\nDescription=someone else\n'), undefined);
});
