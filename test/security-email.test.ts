import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import { request } from './lib/http.js';
import { IdentityApp } from './lib/identity-app.js';
import { startEdgeWithIdp, type IdpAccount, type TestIdp } from './lib/idp.js';
import { ConnectorProcess, createAccount, makeTempDir, type EdgeProcess } from './lib/postern.js';
import { killAll } from './lib/process.js';
import { WebClient } from './lib/web-client.js';

/** What one identity may reach: the domain socket, the `*.` socket, the exact-address socket. */
interface EmailCase {
  readonly what: string;
  readonly claims: IdpAccount;
  /** The normalised address the app is told, or null when the email does not count at all. */
  readonly seenAs: string | null;
  readonly domain: boolean;
  readonly wildcard: boolean;
  readonly address: boolean;
}

const verified = (email: string): IdpAccount => ({ email, email_verified: true });

/**
 * Email-rule edge cases (SECURITY.md rule 5) end to end: each identity signs in through a real
 * OpenID provider and tries three sockets, whose rules are `corp.com`, `*.corp.com` and the exact
 * addresses alice@corp.com, kate@corp.com, bob+tag@corp.com. The unit table of the same rules is
 * shared/test/policy-evaluate.test.ts.
 */
const CASES: readonly EmailCase[] = [
  { what: 'the plain address', claims: verified('alice@corp.com'), seenAs: 'alice@corp.com', domain: true, wildcard: false, address: true },
  { what: 'upper case', claims: verified('ALICE@CORP.COM'), seenAs: 'alice@corp.com', domain: true, wildcard: false, address: true },
  { what: 'an extra @ (oauth2-proxy GHSA-c5c4-8r6x-56w3)', claims: verified('a@evil.com@corp.com'), seenAs: null, domain: false, wildcard: false, address: false },
  { what: 'a trailing dot', claims: verified('alice@corp.com.'), seenAs: null, domain: false, wildcard: false, address: false },
  { what: 'a suffix without its dot', claims: verified('alice@evilcorp.com'), seenAs: 'alice@evilcorp.com', domain: false, wildcard: false, address: false },
  { what: 'our domain as a prefix', claims: verified('alice@corp.com.evil.com'), seenAs: 'alice@corp.com.evil.com', domain: false, wildcard: false, address: false },
  { what: 'a subdomain', claims: verified('alice@x.corp.com'), seenAs: 'alice@x.corp.com', domain: false, wildcard: true, address: false },
  { what: 'a deeper subdomain', claims: verified('alice@a.b.corp.com'), seenAs: 'alice@a.b.corp.com', domain: false, wildcard: true, address: false },
  { what: 'a Cyrillic а in the local part', claims: verified('\u0430lice@corp.com'), seenAs: null, domain: false, wildcard: false, address: false },
  { what: 'Cyrillic с and о in the domain', claims: verified('alice@\u0441\u043erp.com'), seenAs: null, domain: false, wildcard: false, address: false },
  { what: 'a fullwidth local part', claims: verified('\uff41\uff4c\uff49\uff43\uff45@corp.com'), seenAs: null, domain: false, wildcard: false, address: false },
  { what: 'a fullwidth domain', claims: verified('alice@\uff43\uff4f\uff52\uff50.com'), seenAs: null, domain: false, wildcard: false, address: false },
  { what: 'an ideographic full stop', claims: verified('alice@corp\u3002com'), seenAs: null, domain: false, wildcard: false, address: false },
  { what: 'KELVIN SIGN, which lower-cases to k', claims: verified('\u212Aate@corp.com'), seenAs: null, domain: false, wildcard: false, address: false },
  { what: 'a zero-width space', claims: verified('alice@corp.com\u200b'), seenAs: null, domain: false, wildcard: false, address: false },
  { what: 'a trailing newline', claims: verified('alice@corp.com\n'), seenAs: null, domain: false, wildcard: false, address: false },
  { what: 'a quoted local part', claims: verified('"alice@corp.com"@evil.com'), seenAs: null, domain: false, wildcard: false, address: false },
  { what: 'plus-addressing against an exact rule', claims: verified('alice+x@corp.com'), seenAs: 'alice+x@corp.com', domain: true, wildcard: false, address: false },
  { what: 'the exact plus address', claims: verified('bob+tag@corp.com'), seenAs: 'bob+tag@corp.com', domain: true, wildcard: false, address: true },
  { what: 'the base of a plus address rule', claims: verified('bob@corp.com'), seenAs: 'bob@corp.com', domain: true, wildcard: false, address: false },
  { what: 'email_verified: false', claims: { email: 'alice@corp.com', email_verified: false }, seenAs: null, domain: false, wildcard: false, address: false },
  { what: 'no email_verified at all', claims: { email: 'alice@corp.com' }, seenAs: null, domain: false, wildcard: false, address: false },
  { what: 'email_verified: "true" (a string)', claims: { email: 'alice@corp.com', email_verified: 'true' }, seenAs: null, domain: false, wildcard: false, address: false },
];

describe('email rules end to end: extra @, suffixes, case, trailing dot, look-alikes, plus-addressing, unverified', () => {
  const tmp = makeTempDir('security-email');
  let edge: EdgeProcess;
  let idp: TestIdp;
  const apps: IdentityApp[] = [];
  /** [domain corp.com, wildcard *.corp.com, exact addresses] */
  const sockets: ConnectorProcess[] = [];
  let jwks: JSONWebKeySet;

  before(async () => {
    const db = `${tmp.dir}/edge.db`;
    const owner = await createAccount(db, 'owner@owner.test');
    const accounts: Record<string, IdpAccount> = {};
    CASES.forEach((c, i) => (accounts[`user${i}`] = { sub: `sub-${i}`, name: `User ${i}`, ...c.claims }));
    ({ edge, idp } = await startEdgeWithIdp({ db, dir: tmp.dir, accounts }));
    const rules = [
      ['--allowed-email-domains', 'corp.com'],
      ['--allowed-email-domains', '*.corp.com'],
      ['--allowed-email-addresses', 'alice@corp.com,kate@corp.com,bob+tag@corp.com'],
    ];
    for (const [i, rule] of rules.entries()) {
      const app = await IdentityApp.start(`rules-${i}`);
      apps.push(app);
      sockets.push(await ConnectorProcess.start({ edge, token: owner, appPort: app.port, label: `connect:${i}`, args: ['--name', `rules${i}`, '--cloudauth', ...rule] }));
    }
    const res = await request({ port: edge.port, host: edge.domain, path: '/.well-known/jwks.json' });
    jwks = JSON.parse(res.body.toString('utf8')) as JSONWebKeySet;
  });

  after(async () => {
    await killAll();
    await Promise.all([...apps.map((a) => a.close()), idp?.close()]);
    tmp.remove();
  });

  for (const [i, c] of CASES.entries()) {
    it(`${c.what}: ${JSON.stringify(c.claims.email)} → corp.com ${c.domain ? 'in' : 'out'}, *.corp.com ${c.wildcard ? 'in' : 'out'}, exact ${c.address ? 'in' : 'out'}`, { timeout: 60_000 }, async () => {
      const client = new WebClient(`user${i}`);
      const expected = [c.domain, c.wildcard, c.address];
      for (const [s, socket] of sockets.entries()) {
        const origin = `http://${socket.publicHost}`;
        const app = apps[s]!;
        const before = app.requests.length;
        const nav = await client.navigate(`${origin}/headers`, { login: `user${i}` });
        const last = nav.last;
        if (!expected[s]) {
          assert.equal(last.status, 403, `socket ${s}: ${last.status} ${last.url}`);
          assert.equal(app.requests.length, before, `socket ${s}: nothing reached the app`);
          if (c.seenAs === null) assert.match(last.body, /no verified email/i, `socket ${s}: the 403 page says the email does not count`);
          else assert.ok(last.body.includes(c.seenAs), `socket ${s}: the 403 page names ${c.seenAs}`);
          continue;
        }
        assert.equal(last.status, 200, `socket ${s}: ${last.status} ${last.url}`);
        const seen = app.requests.slice(before);
        assert.equal(seen.length, 1, `socket ${s}: one request reached the app`);
        assert.equal(seen[0]!.headers['x-auth-email'], c.seenAs, `socket ${s}: the app is told the normalised address`);
        const { payload } = await jwtVerify(String(seen[0]!.headers['x-postern-assertion']), createLocalJWKSet(jwks), { issuer: edge.url, audience: origin, algorithms: ['ES256'], typ: 'postern-assertion+jwt' });
        assert.equal(payload.email, c.seenAs, `socket ${s}: the signed assertion carries the same address`);
      }
    });
  }
});
