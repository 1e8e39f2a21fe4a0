import { boolean, ConfigError, duration, email, hostedDomain, invalid, list, oneOf, readConfigFile, text, url, type ValueType } from './config-values.js';
import { setting, type SettingSpec } from './setting.js';

/**
 * The identity rows of the edge's settings table (settings.ts) and the per-issuer table of the
 * `oidc` section: OIDC issuers repeat (flags by position, a YAML list, one issuer in POSTERN_OIDC_*),
 * so they are a structured section with rows of their own, read by the same parsers.
 */

/** A file whose content is a credential: the settings keep the path (what --print-config shows) and the secret. */
export interface SecretFile {
  readonly file: string;
  readonly secret: string;
}

/** A file holding a client secret (read once, trimmed, never empty). */
const secretFile: ValueType<SecretFile> = {
  metavar: '<file>',
  parse: (raw, name) => {
    const file = text('<file>').parse(raw, name);
    const secret = readConfigFile(file, name).trim();
    if (!secret) throw new ConfigError(`${name} names an empty file: ${file}`);
    return Object.freeze({ file, secret });
  },
  format: (value) => value.file,
};

/** A Google service account key file (the JSON the Cloud console downloads), validated. */
export interface ServiceAccountKey {
  readonly file: string;
  readonly clientEmail: string;
  /** PKCS #8 PEM. */
  readonly privateKey: string;
  readonly privateKeyId: string | undefined;
  readonly tokenUri: string;
  /** Pomerium's users add `impersonate_user` to the key file (the seeds show this): it stands in for --google-directory-admin. */
  readonly impersonateUser?: string | undefined;
}

const GOOGLE_TOKEN_URI = 'https://oauth2.googleapis.com/token';
export const GOOGLE_ISSUER = 'https://accounts.google.com';
export const GOOGLE_DIRECTORY_URL = 'https://admin.googleapis.com';

export const serviceAccountFile: ValueType<ServiceAccountKey> = {
  metavar: '<file>',
  parse: (raw, name) => {
    const file = text('<file>').parse(raw, name);
    let doc: unknown;
    try {
      doc = JSON.parse(readConfigFile(file, name));
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      throw new ConfigError(`${name} must be a service account key (JSON), and ${file} is not JSON`);
    }
    const d = (typeof doc === 'object' && doc !== null ? doc : {}) as Record<string, unknown>;
    if (d.type !== 'service_account') throw new ConfigError(`${name} must be a service account key, and ${file} is not one (its "type" is not "service_account")`);
    const str = (k: string) => (typeof d[k] === 'string' && d[k] ? (d[k] as string) : undefined);
    const clientEmail = str('client_email');
    const privateKey = str('private_key');
    if (!clientEmail || !privateKey?.includes('-----BEGIN PRIVATE KEY-----')) {
      throw new ConfigError(`${name} must be a service account key with "client_email" and a PKCS #8 "private_key", and ${file} has not both (download a new JSON key for the service account)`);
    }
    const key = { file, clientEmail, privateKey, privateKeyId: str('private_key_id'), tokenUri: str('token_uri') ?? GOOGLE_TOKEN_URI, impersonateUser: str('impersonate_user') };
    return Object.freeze(key);
  },
  format: (value) => value.file,
};

const TENANT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const TENANT_EXPECTED = 'directory (tenant) ids such as 72f988bf-86f1-41af-91ab-2d7cd011db47';

/** An Entra ID directory (tenant) id, lower-case. */
const tenantId: ValueType<string> = {
  metavar: '<tid>',
  parse: (raw, name) => {
    const id = text('<tid>').parse(raw, name).toLowerCase();
    if (!TENANT_ID.test(id)) throw invalid(name, TENANT_EXPECTED, raw);
    return id;
  },
  format: (id) => id,
};

const tenantIds = list('<t1,t2>', /,/, (item, name, raw) => {
  const id = item.toLowerCase();
  if (!TENANT_ID.test(id)) throw invalid(name, TENANT_EXPECTED, raw);
  return id;
});

/** Claim names: letters, digits and the punctuation of namespaced claims (`https://corp.example/groups`). */
const claim: ValueType<string> = {
  metavar: '<claim>',
  parse: (raw, name) => {
    const value = text('<claim>').parse(raw, name);
    if (!/^[A-Za-z0-9_.:/#-]{1,128}$/.test(value)) throw invalid(name, 'a claim name such as email or groups', raw);
    return value;
  },
  format: (value) => value,
};

/** RFC 6749 §3.3 scope-tokens, space- or comma-separated (or a YAML list). */
const scopes = list('<scopes>', /[\s,]+/, (item, name) => {
  if (!/^[\x21\x23-\x5b\x5d-\x7e]+$/.test(item)) throw new ConfigError(`${name} has an invalid scope ${JSON.stringify(item)}`);
  return item;
});

const OIDC_KINDS = ['oidc', 'entra'] as const;
export type IssuerKind = (typeof OIDC_KINDS)[number];

/** How `postern edge` reads a per-issuer setting from the command line. */
export type IssuerFlagRole = 'starts' | 'positional' | 'switch';

export interface OidcSettingSpec<T> extends SettingSpec<T> {
  readonly role: IssuerFlagRole;
}

const issuerSetting = <const S extends OidcSettingSpec<unknown>>(spec: S): S => spec;

/**
 * One OIDC issuer. Flags: `--oidc-<key>` (`--entra-tenant`); each valued flag belongs to the issuer in
 * the same position, each switch to the issuer it follows. Env: `POSTERN_OIDC_<KEY>` (one issuer).
 * YAML: an entry of the `oidc:` list with the snake_case keys.
 */
export const OIDC_SETTINGS = {
  issuer: issuerSetting({ role: 'starts', value: url, group: 'oidc', help: 'an OpenID Connect issuer (repeatable; redirect URI: <edge URL>/auth/callback)', defaultHelp: 'from --entra-tenant' }),
  entraTenant: issuerSetting({
    role: 'starts',
    value: tenantId,
    group: 'oidc',
    flag: '--entra-tenant',
    env: 'POSTERN_ENTRA_TENANT',
    help: 'a Microsoft Entra ID issuer: https://login.microsoftonline.com/<tid>/v2.0, kind entra, tenants <tid> (repeatable)',
  }),
  clientId: issuerSetting({ role: 'positional', value: text('<id>'), group: 'oidc', help: 'client id at that issuer' }),
  clientSecretFile: issuerSetting({ role: 'positional', value: secretFile, group: 'oidc', secret: true, help: 'file holding the client secret' }),
  name: issuerSetting({ role: 'positional', value: text('<name>'), group: 'oidc', help: 'name on the login page, e.g. "Corp SSO"', defaultHelp: "the issuer's host name; Microsoft for entra" }),
  kind: issuerSetting({ role: 'positional', value: oneOf(OIDC_KINDS), group: 'oidc', help: 'oidc or entra (Microsoft Entra ID: tenant pin, xms_edov)', defaultHelp: 'oidc; entra with --entra-tenant' }),
  tenants: issuerSetting({ role: 'positional', value: tenantIds, group: 'oidc', help: 'entra: directory (tenant) ids whose users may sign in', defaultHelp: 'the --entra-tenant' }),
  emailClaim: issuerSetting({ role: 'positional', value: claim, group: 'oidc', default: 'email', help: 'claim holding the email' }),
  groupsClaim: issuerSetting({ role: 'positional', value: claim, group: 'oidc', default: 'groups', help: 'claim holding the groups' }),
  scopes: issuerSetting({ role: 'positional', value: scopes, group: 'oidc', default: '', help: 'scopes besides "openid email profile", e.g. "groups offline_access" (dex)' }),
  idTokenAlg: issuerSetting({ role: 'positional', value: text('<alg>'), group: 'oidc', default: 'RS256', help: 'the one algorithm ID tokens may be signed with' }),
  trustEmail: issuerSetting({
    role: 'switch',
    value: boolean,
    group: 'oidc',
    default: 'false',
    help: 'count the email as verified without email_verified (only for IdPs that issue verified addresses only)',
  }),
  requireMfa: issuerSetting({ role: 'switch', value: boolean, group: 'oidc', default: 'false', help: 'refuse sign-ins whose amr claim does not contain mfa' }),
  rpLogout: issuerSetting({ role: 'switch', value: boolean, group: 'oidc', default: 'false', help: 'signing out at the edge also ends the IdP session (RP-initiated logout)' }),
} as const;

export type OidcSettingKey = keyof typeof OIDC_SETTINGS;

/** The single-valued identity rows of the edge's table (settings.ts spreads them in). */
export const IDENTITY_SETTINGS = {
  googleClientId: setting({ value: text('<id>'), group: 'identity', help: 'Google sign-in (OAuth client of type "Web application")' }),
  googleClientSecretFile: setting({ value: secretFile, group: 'identity', secret: true, help: 'file holding the Google OAuth client secret' }),
  googleHostedDomain: setting({ value: hostedDomain, group: 'identity', help: 'accept only Google Workspace accounts of this domain (the hd claim)' }),
  googleDirectoryCredentialsFile: setting({
    value: serviceAccountFile,
    group: 'identity',
    secret: true,
    help: 'service account key (JSON) with domain-wide delegation: Workspace groups for --allowed-groups',
  }),
  googleDirectoryAdmin: setting({ value: email, group: 'identity', help: 'the Workspace administrator the service account acts for', defaultHelp: "the key file's impersonate_user" }),
  googleIssuer: setting({ value: url, group: 'identity', defaultHelp: GOOGLE_ISSUER, help: "Google's issuer (for tests and proxies)" }),
  googleDirectoryUrl: setting({ value: url, group: 'identity', defaultHelp: GOOGLE_DIRECTORY_URL, help: 'Admin SDK base URL (for tests and proxies)' }),
  githubClientId: setting({ value: text('<id>'), group: 'identity', help: 'GitHub OAuth app client id' }),
  githubClientSecretFile: setting({ value: secretFile, group: 'identity', secret: true, help: 'file holding the GitHub OAuth app secret' }),
  githubWebUrl: setting({ value: url, group: 'identity', help: 'GitHub Enterprise Server URL', defaultHelp: 'https://github.com' }),
  githubApiUrl: setting({ value: url, group: 'identity', help: 'GitHub API URL', defaultHelp: 'https://api.github.com' }),
  facebookClientId: setting({ value: text('<id>'), group: 'identity', help: 'Facebook app id (Facebook Login)' }),
  facebookClientSecretFile: setting({ value: secretFile, group: 'identity', secret: true, help: 'file holding the Facebook app secret' }),
  facebookWebUrl: setting({ value: url, group: 'identity', help: 'Facebook login dialog URL (for tests)', defaultHelp: 'https://www.facebook.com' }),
  facebookGraphUrl: setting({ value: url, group: 'identity', help: 'Graph API URL (for tests)', defaultHelp: 'https://graph.facebook.com' }),
  localAccounts: setting({
    value: boolean,
    group: 'identity',
    default: ({ providers }) => String(providers === 0),
    defaultHelp: 'on only when no other provider is set',
    help: 'allow sign-in with local accounts (passwords set with postern admin user add --password-file)',
  }),
  sessionTtl: setting({ value: duration(), group: 'identity', default: '24h', help: 'sessions end this long after sign-in' }),
  sessionIdle: setting({ value: duration(), group: 'identity', default: '8h', help: 'sessions end after this long without a request' }),
  sessionRevalidate: setting({ value: duration(), group: 'identity', default: '15m', help: 'check each session with its IdP this often; refused ones end, live streams included' }),
} as const;
