import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { IdentityApp } from './lib/identity-app.js';
import { startEdgeWithIdp, type TestIdp } from './lib/idp.js';
import { ConnectorProcess, createAccount, makeTempDir, type EdgeProcess } from './lib/postern.js';
import { killAll } from './lib/process.js';
import { pollUntil } from './lib/wait.js';
import { WebClient, type Hop } from './lib/web-client.js';

const TENANT = '6f1c2a4e-8d3b-4c1a-9e7f-0a1b2c3d4e5f';
const OTHER_TENANT = '0d9e8f7a-6b5c-4d3e-8f1a-2b3c4d5e6f70';
/** Entra group object ids, as the groups claim carries them. */
const OPS_GROUP = 'c2f1e0d9-0000-4000-8000-00000000a11c';

/** What an Entra ID token says about a member of TENANT: no email_verified, tid, xms_edov, amr, groups. */
const member = (email: string, extra: Record<string, unknown> = {}) => ({
  email,
  name: email.split('@')[0],
  claims: { tid: TENANT, xms_edov: true, amr: ['pwd', 'mfa'], ...extra },
});

/**
 * Microsoft Entra ID, with a real oidc-provider shaped like it: the issuer is
 * `<host>/<tenant>/v2.0`, ID tokens carry `tid`, `xms_edov`, `amr` and group object ids and never
 * `email_verified`. The edge pins the tenant (--oidc-kind entra --oidc-tenants) and requires MFA.
 */
describe('Entra ID: tenant pin, xms_edov, groups and overage, MFA', () => {
  const tmp = makeTempDir('identity-entra');
  let edge: EdgeProcess;
  let idp: TestIdp;
  let app: IdentityApp;
  let domainSocket: ConnectorProcess;
  let groupSocket: ConnectorProcess;
  const db = () => `${tmp.dir}/edge.db`;

  before(async () => {
    const owner = await createAccount(db(), 'owner@corp.example');
    ({ edge, idp } = await startEdgeWithIdp({
      db: db(),
      dir: tmp.dir,
      name: 'Microsoft',
      shape: { issuerPath: `/${TENANT}/v2.0` },
      accounts: {
        ada: member('ada@corp.example', { groups: [OPS_GROUP] }),
        // The nOAuth attack: another tenant's admin sets a user's email to ada's.
        mallory: { email: 'ada@corp.example', name: 'not ada', claims: { tid: OTHER_TENANT, xms_edov: true, amr: ['pwd', 'mfa'] } },
        // The app registration lacks the xms_edov optional claim: the email proves nothing.
        noedov: { email: 'noedov@corp.example', name: 'No Edov', claims: { tid: TENANT, amr: ['pwd', 'mfa'] } },
        // Member of more groups than a token carries: Entra sends a Graph pointer instead.
        overage: member('overage@corp.example', {
          _claim_names: { groups: 'src1' },
          _claim_sources: { src1: { endpoint: `https://graph.windows.net/${TENANT}/users/overage/getMemberObjects` } },
        }),
        nomfa: { email: 'nomfa@corp.example', name: 'No MFA', claims: { tid: TENANT, xms_edov: true, amr: ['pwd'] } },
      },
      extraArgs: ['--oidc-kind', 'entra', '--oidc-tenants', TENANT, '--oidc-require-mfa'],
    }));
    app = await IdentityApp.start('entra app');
    [domainSocket, groupSocket] = await Promise.all([
      ConnectorProcess.start({ edge, token: owner, appPort: app.port, label: 'connect:domain', args: ['--name', 'wiki', '--allowed-email-domains', 'corp.example'] }),
      ConnectorProcess.start({ edge, token: owner, appPort: app.port, label: 'connect:group', args: ['--name', 'ops', '--allowed-groups', OPS_GROUP] }),
    ]);
  });

  after(async () => {
    await killAll();
    await Promise.all([app?.close(), idp?.close()]);
    tmp.remove();
  });

  const trace = (hops: readonly Hop[]) => `${hops.map((h) => `${h.status} ${h.method} ${h.url}`).join("\n")}\n${(hops[hops.length - 1]?.body ?? "").replace(/<[^>]+>/g, " ").replace(/\s+/g, " ").slice(-600)}`;

  async function visit(login: string, socket: ConnectorProcess) {
    const client = new WebClient(login);
    const before = app.requests.length;
    const nav = await client.navigate(`http://${socket.publicHost}/headers`, { login, maxHops: 15 });
    return { nav, last: nav.last, reached: app.requests.slice(before), client };
  }

  it('a member of the pinned tenant with xms_edov is let in by a domain rule (no email_verified needed)', async () => {
    const { last, reached, nav } = await visit('ada', domainSocket);
    assert.equal(last.status, 200, trace(nav.hops));
    assert.equal(reached[0]?.headers['x-auth-email'], 'ada@corp.example');
    // The ID token came from the Entra-shaped issuer, path and all.
    assert.ok(nav.hops.some((h) => h.url.startsWith(`${idp.issuer}/`)), 'signed in at <host>/<tenant>/v2.0');
  });

  it('the same email from another tenant is refused at sign-in with a clear page, and no session', async () => {
    const { last, reached, nav } = await visit('mallory', domainSocket);
    assert.equal(last.status, 400, trace(nav.hops));
    assert.match(last.body, /Microsoft sign-in failed: Sign-in refused: your account belongs to a Microsoft Entra tenant \(0d9e8f7a-6b5c-4d3e-8f1a-2b3c4d5e6f70\) that this edge does not accept/);
    assert.ok(!nav.hops.some((h) => h.setCookies.some((c) => /^postern_login=[^;]/.test(c))), 'no login cookie');
    assert.equal(reached.length, 0, 'nothing reached the app');
  });

  it('without xms_edov the email does not count: the domain rule refuses (403, "no verified email")', async () => {
    const { last, reached, nav } = await visit('noedov', domainSocket);
    assert.equal(last.status, 403, trace(nav.hops));
    assert.match(last.body, /no verified email/);
    assert.equal(reached.length, 0);
  });

  it('group object ids from the groups claim reach a group rule', async () => {
    const { last, reached } = await visit('ada', groupSocket);
    assert.equal(last.status, 200);
    assert.equal(reached[0]?.headers['x-auth-email'], 'ada@corp.example');
    const denied = await visit('overage', groupSocket);
    assert.equal(denied.last.status, 403, 'no groups: the group rule cannot match');
  });

  it('groups overage is answered with one log line and an audit entry, not silently', async () => {
    const line = await pollUntil(async () => edge.logs().find((l) => l.notice === 'groups_overage'), { timeoutMs: 5_000, what: 'the overage log line' });
    assert.equal(line.user, 'overage@corp.example');
    assert.match(String(line.msg), /groups overage/);
    assert.match(String(line.msg), /Groups assigned to the application/);
    const reader = new Database(db(), { readonly: true });
    try {
      const rows = reader.prepare("SELECT actor, detail FROM audit_events WHERE type = 'signin.notice'").all() as { actor: string; detail: string }[];
      assert.equal(rows.length, 1, 'one entry for the one sign-in');
      assert.equal(rows[0]!.actor, 'overage@corp.example');
      assert.match(JSON.parse(rows[0]!.detail).reason as string, /groups overage/);
    } finally {
      reader.close();
    }
  });

  it('--oidc-require-mfa refuses a sign-in whose amr lacks mfa', async () => {
    const { last, reached } = await visit('nomfa', domainSocket);
    assert.equal(last.status, 400);
    assert.match(last.body, /requires multi-factor sign-in at Microsoft/);
    assert.equal(reached.length, 0);
  });
});
