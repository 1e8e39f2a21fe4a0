import { readFileSync } from 'node:fs';
import { ConfigError, parseDuration } from './config-values.js';

/**
 * The identity part of the edge's settings: sign-in providers (OIDC issuers with their per-issuer
 * knobs, the Google and Facebook presets, GitHub), local accounts and session lifetimes. config.ts
 * merges the sources and calls resolveAuth; everything here validates once and says precisely what
 * is wrong.
 */

/** `oidc`: any issuer by discovery; `entra`: Microsoft Entra ID rules; `google`: the Google preset. */
export type OidcKind = 'oidc' | 'entra' | 'google';

export interface OidcProviderConfig {
  readonly kind: OidcKind;
  readonly id: string;
  readonly name: string;
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** Entra ID: the tenant ids (`tid`) whose users may sign in (lower-case); empty for other kinds. */
  readonly tenants: readonly string[];
  /** The claim that holds the email address (default `email`). */
  readonly emailClaim: string;
  /** The claim that holds the groups (default `groups`). */
  readonly groupsClaim: string;
  /** Scopes asked for besides `openid email profile` (`offline_access` is added when the IdP advertises it). */
  readonly scopes: readonly string[];
  /** The email counts as verified without `email_verified: true` (IdPs that issue only verified addresses). */
  readonly trustEmail: boolean;
  /** Sign-ins whose `amr` claim does not contain `mfa` are refused. */
  readonly requireMfa: boolean;
  /** The one algorithm ID tokens (and logout tokens) may be signed with. */
  readonly idTokenAlg: string;
  /** Signing out at the edge also ends the session at the IdP (RP-initiated logout). */
  readonly rpLogout: boolean;
  /** Google: the Workspace domain the ID token's `hd` claim must name. */
  readonly hostedDomain: string | undefined;
  /** Google: Workspace groups from the Admin SDK Directory API. */
  readonly directory: GoogleDirectoryConfig | undefined;
}

/** A Google service account key file (the JSON the Cloud console downloads), validated. */
export interface ServiceAccountKey {
  readonly file: string;
  readonly clientEmail: string;
  /** PKCS #8 PEM. */
  readonly privateKey: string;
  readonly privateKeyId: string | undefined;
  readonly tokenUri: string;
}

export interface GoogleDirectoryConfig {
  readonly serviceAccount: ServiceAccountKey;
  /** The Workspace administrator the service account acts for (domain-wide delegation). */
  readonly admin: string;
  /** Default https://admin.googleapis.com. */
  readonly apiUrl: string;
}

export interface GithubProviderConfig {
  readonly kind: 'github';
  readonly id: 'github';
  readonly name: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly webUrl: string | undefined;
  readonly apiUrl: string | undefined;
}

export interface FacebookProviderConfig {
  readonly kind: 'facebook';
  readonly id: 'facebook';
  readonly name: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly webUrl: string | undefined;
  readonly graphUrl: string | undefined;
}

export type ProviderConfig = OidcProviderConfig | GithubProviderConfig | FacebookProviderConfig;

export interface AuthConfig {
  /** Redirect providers (OIDC issuers, Google, GitHub, Facebook), in the order they were configured. */
  readonly providers: readonly ProviderConfig[];
  /** Local accounts (passwords in SQLite): on by default only when no other provider is set. */
  readonly localAccounts: boolean;
  readonly sessionTtlMs: number;
  readonly sessionIdleMs: number;
  /** How often each session is checked again with its IdP (refresh token or API). */
  readonly sessionRevalidateMs: number;
}

/** One OIDC issuer as given in flags (matched by position, booleans by the issuer they follow) or in the YAML list. */
export interface OidcInput {
  readonly issuer?: string | undefined;
  /** Stands for issuer `https://login.microsoftonline.com/TID/v2.0`, kind `entra`, tenants `TID`. */
  readonly entraTenant?: string | undefined;
  readonly clientId?: string | undefined;
  readonly clientSecretFile?: string | undefined;
  readonly name?: string | undefined;
  readonly kind?: string | undefined;
  /** Comma-separated (flags, env) or a YAML list. */
  readonly tenants?: string | readonly string[] | undefined;
  readonly emailClaim?: string | undefined;
  readonly groupsClaim?: string | undefined;
  /** Space- or comma-separated (flags, env) or a YAML list. */
  readonly scopes?: string | readonly string[] | undefined;
  readonly trustEmail?: boolean | undefined;
  readonly requireMfa?: boolean | undefined;
  readonly idTokenAlg?: string | undefined;
  readonly rpLogout?: boolean | undefined;
}

/** The identity settings of EdgeConfigInput (config.ts). */
export interface IdentityInput {
  readonly oidc?: readonly OidcInput[] | undefined;
  readonly githubClientId?: string | undefined;
  readonly githubClientSecretFile?: string | undefined;
  readonly githubWebUrl?: string | undefined;
  readonly githubApiUrl?: string | undefined;
  readonly googleClientId?: string | undefined;
  readonly googleClientSecretFile?: string | undefined;
  readonly googleHostedDomain?: string | undefined;
  readonly googleDirectoryCredentialsFile?: string | undefined;
  readonly googleDirectoryAdmin?: string | undefined;
  readonly googleIssuer?: string | undefined;
  readonly googleDirectoryUrl?: string | undefined;
  readonly facebookClientId?: string | undefined;
  readonly facebookClientSecretFile?: string | undefined;
  readonly facebookWebUrl?: string | undefined;
  readonly facebookGraphUrl?: string | undefined;
  readonly localAccounts?: boolean | undefined;
  readonly sessionTtl?: string | number | undefined;
  readonly sessionIdle?: string | number | undefined;
  readonly sessionRevalidate?: string | number | undefined;
}

export const ENTRA_ISSUER = (tenant: string): string => `https://login.microsoftonline.com/${tenant}/v2.0`;
export const GOOGLE_ISSUER = 'https://accounts.google.com';
export const GOOGLE_DIRECTORY_URL = 'https://admin.googleapis.com';
const GOOGLE_TOKEN_URI = 'https://oauth2.googleapis.com/token';
const OIDC_KINDS = ['oidc', 'entra'] as const;
/** Ids the presets and local accounts use: an issuer named "Google" gets `google-2`. */
const RESERVED_IDS = ['local', 'google', 'github', 'facebook'];
const TENANT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** Claim names: letters, digits and the punctuation of namespaced claims (`https://corp.example/groups`). */
const CLAIM_NAME = /^[A-Za-z0-9_.:/#-]{1,128}$/;
/** RFC 6749 §3.3 scope-token. */
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

/** Reads POSTERN_* identity variables (one OIDC issuer at most; more go in flags or the YAML file). */
export function identityFromEnv(env: NodeJS.ProcessEnv): IdentityInput {
  const issuer = env.POSTERN_OIDC_ISSUER;
  const entraTenant = env.POSTERN_ENTRA_TENANT;
  return {
    oidc: issuer || entraTenant
      ? [{
          issuer,
          entraTenant,
          clientId: env.POSTERN_OIDC_CLIENT_ID,
          clientSecretFile: env.POSTERN_OIDC_CLIENT_SECRET_FILE,
          name: env.POSTERN_OIDC_NAME,
          kind: env.POSTERN_OIDC_KIND,
          tenants: env.POSTERN_OIDC_TENANTS,
          emailClaim: env.POSTERN_OIDC_EMAIL_CLAIM,
          groupsClaim: env.POSTERN_OIDC_GROUPS_CLAIM,
          scopes: env.POSTERN_OIDC_SCOPES,
          trustEmail: envBoolean(env.POSTERN_OIDC_TRUST_EMAIL, 'POSTERN_OIDC_TRUST_EMAIL'),
          requireMfa: envBoolean(env.POSTERN_OIDC_REQUIRE_MFA, 'POSTERN_OIDC_REQUIRE_MFA'),
          idTokenAlg: env.POSTERN_OIDC_ID_TOKEN_ALG,
          rpLogout: envBoolean(env.POSTERN_OIDC_RP_LOGOUT, 'POSTERN_OIDC_RP_LOGOUT'),
        }]
      : undefined,
    githubClientId: env.POSTERN_GITHUB_CLIENT_ID,
    githubClientSecretFile: env.POSTERN_GITHUB_CLIENT_SECRET_FILE,
    googleClientId: env.POSTERN_GOOGLE_CLIENT_ID,
    googleClientSecretFile: env.POSTERN_GOOGLE_CLIENT_SECRET_FILE,
    googleHostedDomain: env.POSTERN_GOOGLE_HOSTED_DOMAIN,
    googleDirectoryCredentialsFile: env.POSTERN_GOOGLE_DIRECTORY_CREDENTIALS_FILE,
    googleDirectoryAdmin: env.POSTERN_GOOGLE_DIRECTORY_ADMIN,
    facebookClientId: env.POSTERN_FACEBOOK_CLIENT_ID,
    facebookClientSecretFile: env.POSTERN_FACEBOOK_CLIENT_SECRET_FILE,
    sessionTtl: env.POSTERN_SESSION_TTL,
    sessionIdle: env.POSTERN_SESSION_IDLE,
    sessionRevalidate: env.POSTERN_SESSION_REVALIDATE,
  };
}

function envBoolean(value: string | undefined, name: string): boolean | undefined {
  if (value === undefined || value === '') return undefined;
  if (/^(1|true|yes|on)$/i.test(value)) return true;
  if (/^(0|false|no|off)$/i.test(value)) return false;
  throw new ConfigError(`${name} must be true or false, not "${value}"`);
}

/** YAML keys of the identity settings (the `oidc` list is read by oidcFromYaml). */
export const IDENTITY_YAML_KEYS: Readonly<Record<string, keyof IdentityInput>> = {
  github_client_id: 'githubClientId',
  github_client_secret_file: 'githubClientSecretFile',
  github_web_url: 'githubWebUrl',
  github_api_url: 'githubApiUrl',
  google_client_id: 'googleClientId',
  google_client_secret_file: 'googleClientSecretFile',
  google_hosted_domain: 'googleHostedDomain',
  google_directory_credentials_file: 'googleDirectoryCredentialsFile',
  google_directory_admin: 'googleDirectoryAdmin',
  google_issuer: 'googleIssuer',
  google_directory_url: 'googleDirectoryUrl',
  facebook_client_id: 'facebookClientId',
  facebook_client_secret_file: 'facebookClientSecretFile',
  facebook_web_url: 'facebookWebUrl',
  facebook_graph_url: 'facebookGraphUrl',
  local_accounts: 'localAccounts',
  session_ttl: 'sessionTtl',
  session_idle: 'sessionIdle',
  session_revalidate: 'sessionRevalidate',
};

const OIDC_YAML_KEYS: Readonly<Record<string, keyof OidcInput>> = {
  issuer: 'issuer',
  entra_tenant: 'entraTenant',
  client_id: 'clientId',
  client_secret_file: 'clientSecretFile',
  name: 'name',
  kind: 'kind',
  tenants: 'tenants',
  email_claim: 'emailClaim',
  groups_claim: 'groupsClaim',
  scopes: 'scopes',
  trust_email: 'trustEmail',
  require_mfa: 'requireMfa',
  id_token_alg: 'idTokenAlg',
  rp_logout: 'rpLogout',
};

/** The YAML `oidc:` list: one mapping per issuer, in OIDC_YAML_KEYS's snake_case. */
export function oidcFromYaml(value: unknown, path: string): OidcInput[] {
  if (!Array.isArray(value)) throw new ConfigError(`config file ${path}: "oidc" must be a list of {issuer, client_id, client_secret_file, name, …}`);
  return value.map((item: unknown, i) => {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) throw new ConfigError(`config file ${path}: oidc entry ${i + 1} must be a mapping`);
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(item)) {
      const target = OIDC_YAML_KEYS[key];
      if (!target) throw new ConfigError(`config file ${path}: oidc entry ${i + 1}: unknown key "${key}" (known: ${Object.keys(OIDC_YAML_KEYS).join(', ')})`);
      out[target] = v;
    }
    return out as OidcInput;
  });
}

type Pick = <K extends keyof IdentityInput>(key: K) => IdentityInput[K];

export function resolveAuth(pick: Pick): AuthConfig {
  const providers: ProviderConfig[] = [];
  const ids = new Set<string>(RESERVED_IDS);
  for (const [i, oidc] of (pick('oidc') ?? []).entries()) providers.push(resolveOidc(oidc, i + 1, ids));
  const google = resolveGoogle(pick);
  if (google) providers.push(google);
  const githubClientId = pick('githubClientId');
  if (githubClientId) {
    providers.push({
      kind: 'github',
      id: 'github',
      name: 'GitHub',
      clientId: githubClientId,
      clientSecret: readSecret(pick('githubClientSecretFile'), '--github-client-secret-file'),
      webUrl: pick('githubWebUrl'),
      apiUrl: pick('githubApiUrl'),
    });
  } else if (pick('githubClientSecretFile')) {
    throw new ConfigError('--github-client-secret-file needs --github-client-id');
  }
  const facebookClientId = pick('facebookClientId');
  if (facebookClientId) {
    providers.push({
      kind: 'facebook',
      id: 'facebook',
      name: 'Facebook',
      clientId: facebookClientId,
      clientSecret: readSecret(pick('facebookClientSecretFile'), '--facebook-client-secret-file'),
      webUrl: pick('facebookWebUrl'),
      graphUrl: pick('facebookGraphUrl'),
    });
  } else if (pick('facebookClientSecretFile')) {
    throw new ConfigError('--facebook-client-secret-file needs --facebook-client-id');
  }
  return {
    providers,
    localAccounts: pick('localAccounts') ?? providers.length === 0,
    sessionTtlMs: parseDuration(pick('sessionTtl') ?? '24h', '--session-ttl'),
    sessionIdleMs: parseDuration(pick('sessionIdle') ?? '8h', '--session-idle'),
    sessionRevalidateMs: parseDuration(pick('sessionRevalidate') ?? '15m', '--session-revalidate'),
  };
}

const slug = (s: string): string => s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 32) || 'oidc';

function uniqueId(name: string, ids: Set<string>): string {
  let id = slug(name);
  for (let k = 2; ids.has(id); k++) id = `${slug(name)}-${k}`;
  ids.add(id);
  return id;
}

function resolveOidc(oidc: OidcInput, n: number, ids: Set<string>): OidcProviderConfig {
  const entraTenant = oidc.entraTenant === undefined ? undefined : tenantId(oidc.entraTenant, '--entra-tenant');
  const kind = entraTenant ? 'entra' : (oidc.kind ?? 'oidc');
  if (!(OIDC_KINDS as readonly string[]).includes(kind)) throw new ConfigError(`OIDC provider ${n}: --oidc-kind must be one of ${OIDC_KINDS.join(', ')}, not "${kind}"`);
  if (entraTenant && oidc.kind !== undefined && oidc.kind !== 'entra') throw new ConfigError(`OIDC provider ${n}: --entra-tenant is an Entra ID issuer, not --oidc-kind ${oidc.kind}`);
  const issuerText = oidc.issuer ?? (entraTenant ? ENTRA_ISSUER(entraTenant) : undefined);
  if (!issuerText) throw new ConfigError(`OIDC provider ${n}: --oidc-issuer (or --entra-tenant) is required`);
  if (entraTenant && oidc.issuer !== undefined && oidc.issuer !== ENTRA_ISSUER(entraTenant)) {
    throw new ConfigError(`OIDC provider ${n}: --entra-tenant ${entraTenant} means issuer ${ENTRA_ISSUER(entraTenant)}, not ${oidc.issuer}`);
  }
  let issuer: URL;
  try {
    issuer = new URL(issuerText);
  } catch {
    throw new ConfigError(`--oidc-issuer must be a URL, not "${issuerText}"`);
  }
  const where = `OIDC provider ${issuerText}`;
  if (!oidc.clientId) throw new ConfigError(`${where}: --oidc-client-id is required`);
  const tenants = list(oidc.tenants, /,/).map((t) => tenantId(t, '--oidc-tenants'));
  if (entraTenant && tenants.length === 0) tenants.push(entraTenant);
  if (kind === 'entra' && tenants.length === 0) {
    throw new ConfigError(`${where}: --oidc-kind entra needs --oidc-tenants (the directory (tenant) ids whose users may sign in)`);
  }
  if (kind !== 'entra' && tenants.length > 0) throw new ConfigError(`${where}: --oidc-tenants applies only to --oidc-kind entra`);
  if (kind === 'entra' && oidc.trustEmail) {
    throw new ConfigError(`${where}: --oidc-trust-email is refused for Entra ID: a tenant's admin can set any user's email (nOAuth); add the xms_edov optional claim instead`);
  }
  const name = oidc.name ?? (kind === 'entra' ? 'Microsoft' : issuer.hostname);
  return {
    kind: kind as OidcKind,
    id: uniqueId(name, ids),
    name,
    issuer: issuerText,
    clientId: oidc.clientId,
    clientSecret: readSecret(oidc.clientSecretFile, '--oidc-client-secret-file'),
    tenants,
    emailClaim: claimName(oidc.emailClaim ?? 'email', '--oidc-email-claim'),
    groupsClaim: claimName(oidc.groupsClaim ?? 'groups', '--oidc-groups-claim'),
    scopes: list(oidc.scopes, /[\s,]+/).map((s) => {
      if (!SCOPE_TOKEN.test(s)) throw new ConfigError(`${where}: --oidc-scopes has an invalid scope ${JSON.stringify(s)}`);
      return s;
    }),
    trustEmail: oidc.trustEmail === true,
    requireMfa: oidc.requireMfa === true,
    idTokenAlg: oidc.idTokenAlg ?? 'RS256',
    rpLogout: oidc.rpLogout === true,
    hostedDomain: undefined,
    directory: undefined,
  };
}

function resolveGoogle(pick: Pick): OidcProviderConfig | undefined {
  const clientId = pick('googleClientId');
  const dependents = ['googleClientSecretFile', 'googleHostedDomain', 'googleDirectoryCredentialsFile', 'googleDirectoryAdmin'] as const;
  if (!clientId) {
    const stray = dependents.find((key) => pick(key) !== undefined);
    if (stray) throw new ConfigError(`--${stray.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} needs --google-client-id`);
    return undefined;
  }
  const hd = pick('googleHostedDomain');
  const hostedDomain = hd === undefined ? undefined : hd.trim().toLowerCase();
  if (hostedDomain !== undefined && !/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/.test(hostedDomain)) {
    throw new ConfigError(`--google-hosted-domain must be a domain such as corp.com, not "${hd}"`);
  }
  return {
    kind: 'google',
    id: 'google',
    name: 'Google',
    issuer: pick('googleIssuer') ?? GOOGLE_ISSUER,
    clientId,
    clientSecret: readSecret(pick('googleClientSecretFile'), '--google-client-secret-file'),
    tenants: [],
    emailClaim: 'email',
    groupsClaim: 'groups',
    scopes: [],
    trustEmail: false,
    requireMfa: false,
    idTokenAlg: 'RS256',
    rpLogout: false,
    hostedDomain,
    directory: resolveDirectory(pick),
  };
}

function resolveDirectory(pick: Pick): GoogleDirectoryConfig | undefined {
  const file = pick('googleDirectoryCredentialsFile');
  const admin = pick('googleDirectoryAdmin');
  if (!file) {
    if (admin) throw new ConfigError('--google-directory-admin needs --google-directory-credentials-file (the service account key)');
    return undefined;
  }
  const { key, impersonateUser } = readServiceAccount(file);
  const who = admin ?? impersonateUser;
  if (!who) {
    throw new ConfigError(`--google-directory-credentials-file ${file} needs --google-directory-admin (a Workspace administrator the service account acts for)`);
  }
  if (!/^[^@\s]+@[^@\s]+$/.test(who)) throw new ConfigError(`--google-directory-admin must be an email address, not "${who}"`);
  return { serviceAccount: key, admin: who, apiUrl: pick('googleDirectoryUrl') ?? GOOGLE_DIRECTORY_URL };
}

/**
 * A service account key file. Pomerium's users add `impersonate_user` to it (the seeds show this);
 * it stands in for --google-directory-admin.
 */
function readServiceAccount(file: string): { key: ServiceAccountKey; impersonateUser: string | undefined } {
  const flag = '--google-directory-credentials-file';
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? 'not JSON';
    throw new ConfigError(`cannot read ${flag} ${file}: ${reason}`);
  }
  const d = (typeof doc === 'object' && doc !== null ? doc : {}) as Record<string, unknown>;
  if (d.type !== 'service_account') throw new ConfigError(`${flag} ${file} is not a service account key (its "type" is not "service_account")`);
  const str = (k: string) => (typeof d[k] === 'string' && d[k] ? (d[k] as string) : undefined);
  const clientEmail = str('client_email');
  const privateKey = str('private_key');
  if (!clientEmail || !privateKey?.includes('-----BEGIN PRIVATE KEY-----')) {
    throw new ConfigError(`${flag} ${file} needs "client_email" and a PKCS #8 "private_key" (download a new JSON key for the service account)`);
  }
  return {
    key: { file, clientEmail, privateKey, privateKeyId: str('private_key_id'), tokenUri: str('token_uri') ?? GOOGLE_TOKEN_URI },
    impersonateUser: str('impersonate_user'),
  };
}

function tenantId(value: string, flag: string): string {
  const id = value.trim().toLowerCase();
  if (!TENANT_ID.test(id)) throw new ConfigError(`${flag} must be directory (tenant) ids such as 72f988bf-86f1-41af-91ab-2d7cd011db47, not "${value}"`);
  return id;
}

function claimName(value: string, flag: string): string {
  if (!CLAIM_NAME.test(value)) throw new ConfigError(`${flag} must be a claim name such as email or groups, not "${value}"`);
  return value;
}

function list(value: string | readonly string[] | undefined, separator: RegExp): string[] {
  if (value === undefined) return [];
  const items = Array.isArray(value) ? value.map(String) : String(value).split(separator);
  return items.map((s) => s.trim()).filter(Boolean);
}

function readSecret(path: string | undefined, flag: string): string {
  if (!path) throw new ConfigError(`${flag} is required (a file holding the client secret)`);
  let secret: string;
  try {
    secret = readFileSync(path, 'utf8').trim();
  } catch (err) {
    throw new ConfigError(`cannot read ${flag} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (!secret) throw new ConfigError(`${flag} ${path} is empty`);
  return secret;
}
