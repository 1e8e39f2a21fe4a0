import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileCidrs, normaliseCidr, parseAddress } from '../src/policy/cidr.js';
import { compileWindow, describeWindow, normaliseDays, normaliseHours, normaliseInstant, normaliseZone } from '../src/policy/time.js';
import type { TimeWindow } from '../src/policy/types.js';

// [as written, normal form]
const CIDRS: Array<[string, string]> = [
  ['10.0.0.0/8', '10.0.0.0/8'],
  ['10.1.2.3/8', '10.0.0.0/8'],
  [' 192.168.1.7 ', '192.168.1.7/32'],
  ['0.0.0.0/0', '0.0.0.0/0'],
  ['172.16.5.4/12', '172.16.0.0/12'],
  ['2001:DB8::1/32', '2001:db8::/32'],
  ['2001:db8:0:0:0:0:0:1', '2001:db8::1/128'],
  ['::1', '::1/128'],
  ['::ffff:10.1.2.3/104', '10.0.0.0/8'],
  ['fe80::1:2/64', 'fe80::/64'],
];
for (const [raw, normal] of CIDRS) {
  test(`CIDR ${JSON.stringify(raw)} is written ${normal}`, () => assert.equal(normaliseCidr(raw), normal));
}

for (const bad of ['10.0.0.0/33', '10.0.0/8', '10.0.0.0/8/1', 'corp.com', '::1/129', '[::1]', '10.0.0.0/-1', '10.0.0.0/', 'fe80::1%eth0', '']) {
  test(`CIDR ${JSON.stringify(bad)} is refused`, () => assert.throws(() => normaliseCidr(bad)));
}

// [blocks, client address, inside]
const MEMBERSHIP: Array<[string[], string, boolean]> = [
  [['10.0.0.0/8'], '10.200.3.4', true],
  [['10.0.0.0/8'], '11.0.0.1', false],
  [['10.0.0.0/8'], '::ffff:10.0.0.1', true],
  [['10.0.0.0/8'], '[::ffff:10.0.0.1]', true],
  [['192.168.1.0/25'], '192.168.1.127', true],
  [['192.168.1.0/25'], '192.168.1.128', false],
  [['203.0.113.7/32'], '203.0.113.7', true],
  [['203.0.113.7/32'], '203.0.113.8', false],
  [['2001:db8::/32'], '2001:db8:ffff::1', true],
  [['2001:db8::/32'], '2001:db9::1', false],
  [['2001:db8::/32'], '10.0.0.1', false],
  [['10.0.0.0/8'], '2001:db8::1', false],
  [['0.0.0.0/0'], '8.8.8.8', true],
  [['0.0.0.0/0'], '::1', false],
  [['::/0'], '::1', true],
  [['10.0.0.0/8', '::1/128'], '::1', true],
];
for (const [blocks, address, inside] of MEMBERSHIP) {
  test(`${address} is ${inside ? 'in' : 'not in'} ${blocks.join(', ')}`, () => {
    const bytes = parseAddress(address);
    assert.ok(bytes, 'parses');
    assert.equal(compileCidrs(blocks.map(normaliseCidr))(bytes), inside);
  });
}

test('addresses that are not IP addresses do not parse', () => {
  for (const bad of ['', 'localhost', '10.0.0', '1.2.3.4.5', 'fe80::1%eth0', '::g']) assert.equal(parseAddress(bad), null, bad);
});

// [as written, normal form or error]
const INSTANTS: Array<[string, string | RegExp]> = [
  ['2027-01-31T18:00:00Z', '2027-01-31T18:00:00Z'],
  ['2027-01-31T18:00:00+01:00', '2027-01-31T17:00:00Z'],
  ['2027-01-31t18:00z', '2027-01-31T18:00:00Z'],
  ['2027-01-31 18:00:00-05:00', '2027-01-31T23:00:00Z'],
  ['2027-01-31T18:00:00.250Z', '2027-01-31T18:00:00.250Z'],
  ['2027-01-31', /needs a time and an offset/],
  ['2027-01-31T18:00:00', /RFC 3339/],
  ['next friday', /RFC 3339/],
  ['2027-13-31T18:00:00Z', /RFC 3339/],
];
for (const [raw, expected] of INSTANTS) {
  test(`instant ${JSON.stringify(raw)}`, () => {
    if (typeof expected === 'string') assert.equal(normaliseInstant(raw), expected);
    else assert.throws(() => normaliseInstant(raw), expected);
  });
}

test('time zones are IANA names in the spelling Intl gives them', () => {
  assert.equal(normaliseZone('europe/paris'), 'Europe/Paris');
  assert.equal(normaliseZone('UTC'), 'UTC');
  assert.throws(() => normaliseZone('Mars/Olympus'), /not an IANA time zone/);
});

test('days: names, ranges (also across the week end), weekdays and weekends, each once in week order', () => {
  assert.deepEqual(normaliseDays(['mon-fri']), ['mon', 'tue', 'wed', 'thu', 'fri']);
  assert.deepEqual(normaliseDays(['fri-mon']), ['mon', 'fri', 'sat', 'sun']);
  assert.deepEqual(normaliseDays(['Sunday', 'weekdays', 'mon']), ['mon', 'tue', 'wed', 'thu', 'fri', 'sun']);
  assert.deepEqual(normaliseDays(['weekends']), ['sat', 'sun']);
  assert.throws(() => normaliseDays(['funday']), /not a day/);
  assert.throws(() => normaliseDays(['mon-xyz']), /range of days/);
});

test('hours: HH:MM-HH:MM, 24:00 as an end, never empty', () => {
  assert.equal(normaliseHours('9:00-17:30'), '09:00-17:30');
  assert.equal(normaliseHours('00:00 - 24:00'), '00:00-24:00');
  assert.equal(normaliseHours('22:00-06:00'), '22:00-06:00');
  for (const bad of ['09:00-09:00', '25:00-26:00', '09:60-10:00', '9-17', '24:00-01:00']) assert.throws(() => normaliseHours(bad), /span of hours/, bad);
});

const WORKDAY: TimeWindow = { days: ['mon', 'tue', 'wed', 'thu', 'fri'], hours: '09:00-18:00', zone: 'Europe/Paris' };
const NIGHT: TimeWindow = { days: ['fri'], hours: '22:00-06:00', zone: 'America/New_York' };

// [window, instant, inside]
const WINDOWS: Array<[TimeWindow, string, boolean]> = [
  [WORKDAY, '2026-12-07T08:00:00Z', true], // Monday 09:00 in Paris (UTC+1)
  [WORKDAY, '2026-12-07T07:59:00Z', false], // Monday 08:59
  [WORKDAY, '2026-12-07T16:59:00Z', true], // 17:59
  [WORKDAY, '2026-12-07T17:00:00Z', false], // 18:00: the end is not inside
  [WORKDAY, '2026-12-05T10:00:00Z', false], // Saturday
  [WORKDAY, '2026-12-06T23:30:00Z', false], // Monday 00:30 in Paris, Sunday in UTC
  [WORKDAY, '2027-03-29T07:00:00Z', true], // after the spring change Paris is UTC+2: 09:00
  [WORKDAY, '2027-03-29T06:30:00Z', false], // 08:30 summer time
  [WORKDAY, '2027-03-26T07:30:00Z', false], // before the change (UTC+1): 08:30
  [NIGHT, '2026-12-12T03:30:00Z', true], // Friday 22:30 in New York
  [NIGHT, '2026-12-12T10:00:00Z', true], // Saturday 05:00: the Friday window runs past midnight
  [NIGHT, '2026-12-12T11:00:00Z', false], // Saturday 06:00
  [NIGHT, '2026-12-13T03:30:00Z', false], // Saturday 22:30: no Saturday window
  [NIGHT, '2026-12-11T10:00:00Z', false], // Friday 05:00 belongs to Thursday's window
];
for (const [window, at, inside] of WINDOWS) {
  test(`${describeWindow(window)}: ${at} is ${inside ? 'inside' : 'outside'}`, () => {
    assert.equal(compileWindow(window)(Date.parse(at)), inside);
  });
}

test('a window computed once per minute still answers each minute correctly', () => {
  const inside = compileWindow({ days: ['mon'], hours: '09:00-09:01', zone: 'UTC' });
  assert.equal(inside(Date.parse('2026-12-07T09:00:10Z')), true);
  assert.equal(inside(Date.parse('2026-12-07T09:00:59Z')), true);
  assert.equal(inside(Date.parse('2026-12-07T09:01:00Z')), false);
  assert.equal(inside(Date.parse('2026-12-07T09:00:30Z')), true);
});

test('windows in words', () => {
  assert.equal(describeWindow(WORKDAY), 'Mon-Fri 09:00-18:00 Europe/Paris');
  assert.equal(describeWindow({ days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], hours: '00:00-24:00', zone: 'UTC' }), 'every day 00:00-24:00 UTC');
  assert.equal(describeWindow({ days: ['mon', 'wed'], hours: '10:00-11:00', zone: 'UTC' }), 'Mon,Wed 10:00-11:00 UTC');
});
