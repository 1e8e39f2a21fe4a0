import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { generateKeyPairSync } from 'node:crypto';
import { parse as parseYaml } from 'yaml';
import type { OidcProviderConfig } from '../src/config-identity.js';
import { printConfig } from '../src/config-print.js';
import { ConfigError, edgeConfigFromEnv, edgeConfigFromFile, resolveEdgeConfig, type EdgeConfigInput } from '../src/config.js';

const dir = mkdtempSync(join(tmpdir(), 'postern-identity-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const secret = join(dir, 'client.secret');
writeFileSync(secret, 'the-secret\n');
const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';

const oidcOf = (input: EdgeConfigInput): OidcProviderConfig[] =>
  resolveEdgeConfig(input).auth.providers.filter((p): p is OidcProviderConfig => p.kind !== 'github' && p.kind !== 'facebook');

const fails = (input: EdgeConfigInput, message: RegExp) =>
  assert.throws(() => resolveEdgeConfig(input), (err: unknown) => err instanceof ConfigError && message.test(err.message));

function keyFile(name: string, fields: Record<string, unknown>): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(fields));
  return path;
}

const pem = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const serviceAccount = { type: 'service_account', client_email: 'dir@p.iam.gserviceaccount.com', private_key: pem, private_key_id: 'k1', token_uri: 'https://oauth2.googleapis.com/token' };

test('--entra-tenant stands for the tenant issuer, kind entra and that tenant; the name is Microsoft', () => {
  const [p] = oidcOf({ oidc: [{ entraTenant: TENANT.toUpperCase(), clientId: 'app', clientSecretFile: secret }] });
  assert.equal(p!.kind, 'entra');
  assert.equal(p!.issuer, `https://login.microsoftonline.com/${TENANT}/v2.0`);
  assert.deepEqual(p!.tenants, [TENANT]);
  assert.equal(p!.name, 'Microsoft');
  assert.equal(p!.id, 'microsoft');
});

test('an Entra issuer needs its tenants, and refuses --oidc-trust-email (nOAuth)', () => {
  const entra = { issuer: 'https://login.microsoftonline.com/organizations/v2.0', kind: 'entra', clientId: 'app', clientSecretFile: secret };
  fails({ oidc: [entra] }, /--oidc-kind entra needs --oidc-tenants/);
  fails({ oidc: [{ ...entra, tenants: 'contoso.onmicrosoft.com' }] }, /--oidc-tenants must be directory \(tenant\) ids/);
  fails({ oidc: [{ ...entra, tenants: TENANT, trustEmail: true }] }, /--oidc-trust-email is refused for Entra ID.*nOAuth/);
  const [p] = oidcOf({ oidc: [{ ...entra, tenants: `${TENANT}, 0d9e8f7a-6b5c-4d3e-8f1a-2b3c4d5e6f70` }] });
  assert.deepEqual(p!.tenants, [TENANT, '0d9e8f7a-6b5c-4d3e-8f1a-2b3c4d5e6f70']);
  fails({ oidc: [{ entraTenant: TENANT, issuer: 'https://login.microsoftonline.com/common/v2.0', clientId: 'app', clientSecretFile: secret }] }, /means issuer/);
  fails({ oidc: [{ entraTenant: TENANT, kind: 'oidc', clientId: 'app', clientSecretFile: secret }] }, /--entra-tenant is an Entra ID issuer/);
});

test('per-issuer knobs: kinds, tenants only for entra, claim names, scopes as a string or a list', () => {
  const base = { issuer: 'https://idp.example.com', clientId: 'c', clientSecretFile: secret };
  fails({ oidc: [{ ...base, kind: 'okta' }] }, /--oidc-kind must be one of oidc, entra/);
  fails({ oidc: [{ ...base, tenants: TENANT }] }, /--oidc-tenants applies only to --oidc-kind entra/);
  fails({ oidc: [{ ...base, emailClaim: 'e mail' }] }, /--oidc-email-claim must be a claim name/);
  fails({ oidc: [{ ...base, scopes: 'groups "x' }] }, /--oidc-scopes has an invalid scope/);
  const [p] = oidcOf({ oidc: [{ ...base, scopes: 'groups offline_access', groupsClaim: 'https://corp.example/groups', emailClaim: 'upn', trustEmail: true, requireMfa: true, idTokenAlg: 'ES256', rpLogout: true }] });
  assert.deepEqual(p!.scopes, ['groups', 'offline_access']);
  assert.equal(p!.groupsClaim, 'https://corp.example/groups');
  assert.deepEqual([p!.emailClaim, p!.trustEmail, p!.requireMfa, p!.idTokenAlg, p!.rpLogout], ['upn', true, true, 'ES256', true]);
  const [q] = oidcOf({ oidc: [{ ...base, scopes: ['groups', 'offline_access'] }] });
  assert.deepEqual(q!.scopes, ['groups', 'offline_access']);
  const [d] = oidcOf({ oidc: [base] });
  assert.deepEqual([d!.kind, d!.emailClaim, d!.groupsClaim, d!.trustEmail, d!.requireMfa, d!.idTokenAlg, d!.rpLogout], ['oidc', 'email', 'groups', false, false, 'RS256', false]);
});

test('the YAML oidc list takes every per-issuer key; an unknown one is named', () => {
  const path = join(dir, 'edge.yaml');
  writeFileSync(path, `oidc:
  - entra_tenant: ${TENANT}
    client_id: app
    client_secret_file: ${secret}
    require_mfa: true
  - issuer: https://dex.example.com
    client_id: pomerium
    client_secret_file: ${secret}
    scopes: [groups, offline_access]
    rp_logout: true
session_revalidate: 5m
`);
  const config = resolveEdgeConfig({}, {}, edgeConfigFromFile(path));
  const [entra, dex] = config.auth.providers as OidcProviderConfig[];
  assert.equal(entra!.kind, 'entra');
  assert.equal(entra!.requireMfa, true);
  assert.deepEqual(dex!.scopes, ['groups', 'offline_access']);
  assert.equal(dex!.rpLogout, true);
  assert.equal(config.auth.sessionRevalidateMs, 300_000);
  writeFileSync(path, 'oidc:\n  - issuer: https://x.example\n    client_secret: inline\n');
  assert.throws(() => edgeConfigFromFile(path), /oidc entry 1: unknown key "client_secret"/);
});

test('the Google preset: hosted domain, directory credentials (with Pomerium\'s impersonate_user), and what needs the client id', () => {
  const google = { googleClientId: 'g.apps.googleusercontent.com', googleClientSecretFile: secret };
  const [p] = oidcOf({ ...google, googleHostedDomain: 'Corp.Example' });
  assert.deepEqual([p!.kind, p!.id, p!.issuer, p!.hostedDomain, p!.directory], ['google', 'google', 'https://accounts.google.com', 'corp.example', undefined]);
  fails({ googleHostedDomain: 'corp.example' }, /--google-hosted-domain needs --google-client-id/);
  fails({ ...google, googleHostedDomain: 'corp' }, /--google-hosted-domain must be a domain/);
  const key = keyFile('sa.json', serviceAccount);
  const [d] = oidcOf({ ...google, googleDirectoryCredentialsFile: key, googleDirectoryAdmin: 'admin@corp.example' });
  assert.equal(d!.directory?.admin, 'admin@corp.example');
  assert.equal(d!.directory?.serviceAccount.clientEmail, 'dir@p.iam.gserviceaccount.com');
  assert.equal(d!.directory?.apiUrl, 'https://admin.googleapis.com');
  fails({ ...google, googleDirectoryCredentialsFile: key }, /needs --google-directory-admin/);
  const impersonating = keyFile('sa-imp.json', { ...serviceAccount, impersonate_user: 'boss@corp.example' });
  assert.equal(oidcOf({ ...google, googleDirectoryCredentialsFile: impersonating })[0]!.directory?.admin, 'boss@corp.example');
  fails({ ...google, googleDirectoryCredentialsFile: keyFile('user.json', { type: 'authorized_user' }) }, /--google-directory-credentials-file must be a service account key, and .*user\.json is not one/);
  fails({ ...google, googleDirectoryCredentialsFile: keyFile('nokey.json', { type: 'service_account', client_email: 'x@y' }) }, /must be a service account key with "client_email" and a PKCS #8 "private_key"/);
  fails({ ...google, googleDirectoryCredentialsFile: join(dir, 'missing.json') }, /cannot read --google-directory-credentials-file .*missing\.json: ENOENT/);
  fails({ ...google, googleDirectoryAdmin: 'admin@corp.example' }, /--google-directory-admin needs --google-directory-credentials-file/);
});

test('Facebook, GitHub and an issuer named like a preset keep distinct ids; session_revalidate defaults to 15m', () => {
  const config = resolveEdgeConfig({
    oidc: [{ issuer: 'https://idp.example.com', name: 'Google', clientId: 'c', clientSecretFile: secret }],
    googleClientId: 'g',
    googleClientSecretFile: secret,
    facebookClientId: 'fb',
    facebookClientSecretFile: secret,
    githubClientId: 'gh',
    githubClientSecretFile: secret,
  });
  assert.deepEqual(config.auth.providers.map((p) => p.id), ['google-2', 'google', 'github', 'facebook']);
  assert.equal(config.auth.sessionRevalidateMs, 15 * 60_000);
  fails({ facebookClientSecretFile: secret }, /--facebook-client-secret-file needs --facebook-client-id/);
  fails({ facebookClientId: 'fb' }, /--facebook-client-id needs --facebook-client-secret-file/);
  fails({ sessionRevalidate: 'often' }, /--session-revalidate must be a positive duration/);
});

test('one issuer from POSTERN_* variables, with its knobs', () => {
  const env = edgeConfigFromEnv({
    POSTERN_ENTRA_TENANT: TENANT,
    POSTERN_OIDC_CLIENT_ID: 'app',
    POSTERN_OIDC_CLIENT_SECRET_FILE: secret,
    POSTERN_OIDC_REQUIRE_MFA: 'true',
    POSTERN_SESSION_REVALIDATE: '10m',
  });
  const config = resolveEdgeConfig({}, env);
  const [p] = config.auth.providers as OidcProviderConfig[];
  assert.equal(p!.kind, 'entra');
  assert.equal(p!.requireMfa, true);
  assert.equal(config.auth.sessionRevalidateMs, 600_000);
  assert.throws(() => resolveEdgeConfig({}, edgeConfigFromEnv({ POSTERN_OIDC_ISSUER: 'https://x.example', POSTERN_OIDC_TRUST_EMAIL: 'maybe' })), /POSTERN_OIDC_TRUST_EMAIL must be true or false/);
});

test('--print-config shows each issuer\'s knobs and presets, never a secret or a private key', () => {
  const key = keyFile('sa-print.json', serviceAccount);
  const config = resolveEdgeConfig({
    oidc: [{ entraTenant: TENANT, clientId: 'app', clientSecretFile: secret, requireMfa: true }],
    googleClientId: 'g',
    googleClientSecretFile: secret,
    googleHostedDomain: 'corp.example',
    googleDirectoryCredentialsFile: key,
    googleDirectoryAdmin: 'admin@corp.example',
    facebookClientId: 'fb',
    facebookClientSecretFile: secret,
  });
  const text = printConfig(config);
  assert.ok(!text.includes('the-secret') && !text.includes('PRIVATE KEY'), text);
  assert.match(text, /back-channel logout URI http:\/\/localhost:8080\/auth\/backchannel-logout/);
  const doc = parseYaml(text) as Record<string, unknown>;
  assert.deepEqual(doc.oidc, [{
    issuer: `https://login.microsoftonline.com/${TENANT}/v2.0`,
    entra_tenant: TENANT,
    client_id: 'app',
    client_secret_file: secret,
    name: 'Microsoft',
    kind: 'entra',
    tenants: [TENANT],
    email_claim: 'email',
    groups_claim: 'groups',
    scopes: [],
    id_token_alg: 'RS256',
    trust_email: false,
    require_mfa: true,
    rp_logout: false,
  }]);
  assert.equal(doc.google_hosted_domain, 'corp.example');
  assert.equal(doc.google_directory_credentials_file, key);
  assert.equal(doc.facebook_client_secret_file, secret);
  assert.equal(doc.session_revalidate, '15m');
});
