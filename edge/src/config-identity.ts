import { ConfigError, type RawValue } from './config-values.js';
import type { SettingNames } from './setting.js';
import { OIDC_SETTING_ROWS, type EdgeSettingKey, type EdgeSettings, type OidcSettings } from './settings.js';
import { GOOGLE_DIRECTORY_URL, GOOGLE_ISSUER, OIDC_SETTINGS, type OidcSettingKey, type ServiceAccountKey } from './settings-identity.js';

export type { ServiceAccountKey } from './settings-identity.js';

/**
 * The identity part of the edge's configuration: sign-in providers (OIDC issuers with their
 * per-issuer settings, the Google and Facebook presets, GitHub), local accounts and session
 * lifetimes, built from the parsed settings. What one setting requires of another is checked here,
 * naming each setting as its source does.
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

const ENTRA_ISSUER = (tenant: string): string => `https://login.microsoftonline.com/${tenant}/v2.0`;
/** Ids the presets and local accounts use: an issuer named "Google" gets `google-2`. */
const RESERVED_IDS = ['local', 'google', 'github', 'facebook'];

/**
 * One issuer's settings from one source: each value through its row's parser, then what follows
 * from `entra_tenant` (issuer, kind, tenants) and the defaults, checked together.
 */
export function resolveIssuer(entry: Readonly<Record<string, RawValue>>, nameOf: (setting: SettingNames) => string): OidcSettings {
  const row = (key: OidcSettingKey) => OIDC_SETTING_ROWS.find((r) => r.key === key)!;
  const name = (key: OidcSettingKey) => nameOf(row(key));
  const parsed: Record<string, unknown> = {};
  for (const r of OIDC_SETTING_ROWS) {
    const raw = entry[r.key] ?? (typeof r.default === 'string' ? r.default : undefined);
    if (raw !== undefined) parsed[r.key] = r.value.parse(raw, nameOf(r));
  }
  const given = parsed as Partial<Record<OidcSettingKey, unknown>> & Partial<OidcSettings>;
  const { entraTenant, issuer } = given;
  if (entraTenant && given.kind !== undefined && given.kind !== 'entra') throw new ConfigError(`${name('entraTenant')} is an Entra ID issuer, not ${name('kind')} ${given.kind}`);
  if (entraTenant && issuer !== undefined && issuer !== ENTRA_ISSUER(entraTenant)) {
    throw new ConfigError(`${name('entraTenant')} ${entraTenant} means issuer ${ENTRA_ISSUER(entraTenant)}, not ${issuer}`);
  }
  const kind = given.kind ?? (entraTenant ? 'entra' : 'oidc');
  const issuerText = issuer ?? (entraTenant ? ENTRA_ISSUER(entraTenant) : undefined);
  if (!issuerText) throw new ConfigError(`${name('issuer')} (or ${name('entraTenant')}) is required`);
  const where = `OIDC provider ${issuerText}`;
  if (given.clientId === undefined) throw new ConfigError(`${where}: ${name('clientId')} is required`);
  if (given.clientSecretFile === undefined) throw new ConfigError(`${where}: ${name('clientSecretFile')} is required (a file holding the client secret)`);
  const tenants = given.tenants && given.tenants.length > 0 ? given.tenants : entraTenant ? [entraTenant] : [];
  if (kind === 'entra' && tenants.length === 0) {
    throw new ConfigError(`${where}: ${name('kind')} entra needs ${name('tenants')} (the directory (tenant) ids whose users may sign in)`);
  }
  if (kind !== 'entra' && tenants.length > 0) throw new ConfigError(`${where}: ${name('tenants')} applies only to ${name('kind')} entra`);
  if (kind === 'entra' && given.trustEmail) {
    throw new ConfigError(`${where}: ${name('trustEmail')} is refused for Entra ID: a tenant's admin can set any user's email (nOAuth); add the xms_edov optional claim instead`);
  }
  const settings = { ...parsed, kind, issuer: issuerText, tenants: Object.freeze([...tenants]), name: given.name ?? (kind === 'entra' ? 'Microsoft' : new URL(issuerText).hostname) };
  // Every row's key is present (undefined where unset), in the table's order.
  return Object.fromEntries(Object.keys(OIDC_SETTINGS).map((key) => [key, settings[key as keyof typeof settings]])) as unknown as OidcSettings;
}

const slug = (s: string): string => s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 32) || 'oidc';

function uniqueId(name: string, ids: Set<string>): string {
  let id = slug(name);
  for (let k = 2; ids.has(id); k++) id = `${slug(name)}-${k}`;
  ids.add(id);
  return id;
}

/**
 * How config.ts names a setting for an error: as the source it came from does; one left at its
 * default as the source of `partner` (the setting it is checked against) would, else by its flag.
 */
export type NameOf = (key: EdgeSettingKey, partner?: EdgeSettingKey) => string;

/** A setting that means nothing without another: named as its source names both. */
function needs(settings: EdgeSettings, name: NameOf, dependent: EdgeSettingKey, required: EdgeSettingKey, why = ''): void {
  if (settings[dependent] !== undefined && settings[required] === undefined) throw new ConfigError(`${name(dependent, required)} needs ${name(required, dependent)}${why}`);
}

export function resolveAuth(s: EdgeSettings, name: NameOf): AuthConfig {
  const ids = new Set<string>(RESERVED_IDS);
  const providers: ProviderConfig[] = s.oidc.map((o) => ({
    kind: o.kind,
    id: uniqueId(o.name, ids),
    name: o.name,
    issuer: o.issuer,
    clientId: o.clientId,
    clientSecret: o.clientSecretFile.secret,
    tenants: o.tenants,
    emailClaim: o.emailClaim,
    groupsClaim: o.groupsClaim,
    scopes: o.scopes,
    trustEmail: o.trustEmail,
    requireMfa: o.requireMfa,
    idTokenAlg: o.idTokenAlg,
    rpLogout: o.rpLogout,
    hostedDomain: undefined,
    directory: undefined,
  }));
  for (const dependent of ['googleClientSecretFile', 'googleHostedDomain', 'googleDirectoryCredentialsFile', 'googleDirectoryAdmin'] as const) needs(s, name, dependent, 'googleClientId');
  needs(s, name, 'googleDirectoryAdmin', 'googleDirectoryCredentialsFile', ' (the service account key)');
  if (s.googleClientId !== undefined) {
    needs(s, name, 'googleClientId', 'googleClientSecretFile', ' (a file holding the client secret)');
    providers.push({
      kind: 'google',
      id: 'google',
      name: 'Google',
      issuer: s.googleIssuer ?? GOOGLE_ISSUER,
      clientId: s.googleClientId,
      clientSecret: s.googleClientSecretFile!.secret,
      tenants: [],
      emailClaim: 'email',
      groupsClaim: 'groups',
      scopes: [],
      trustEmail: false,
      requireMfa: false,
      idTokenAlg: 'RS256',
      rpLogout: false,
      hostedDomain: s.googleHostedDomain,
      directory: googleDirectory(s, name),
    });
  }
  needs(s, name, 'githubClientSecretFile', 'githubClientId');
  if (s.githubClientId !== undefined) {
    needs(s, name, 'githubClientId', 'githubClientSecretFile', ' (a file holding the client secret)');
    const secret = s.githubClientSecretFile!.secret;
    providers.push({ kind: 'github', id: 'github', name: 'GitHub', clientId: s.githubClientId, clientSecret: secret, webUrl: s.githubWebUrl, apiUrl: s.githubApiUrl });
  }
  needs(s, name, 'facebookClientSecretFile', 'facebookClientId');
  if (s.facebookClientId !== undefined) {
    needs(s, name, 'facebookClientId', 'facebookClientSecretFile', ' (a file holding the client secret)');
    const secret = s.facebookClientSecretFile!.secret;
    providers.push({ kind: 'facebook', id: 'facebook', name: 'Facebook', clientId: s.facebookClientId, clientSecret: secret, webUrl: s.facebookWebUrl, graphUrl: s.facebookGraphUrl });
  }
  return {
    providers,
    localAccounts: s.localAccounts,
    sessionTtlMs: s.sessionTtl,
    sessionIdleMs: s.sessionIdle,
    sessionRevalidateMs: s.sessionRevalidate,
  };
}

function googleDirectory(s: EdgeSettings, name: NameOf): GoogleDirectoryConfig | undefined {
  const key = s.googleDirectoryCredentialsFile;
  if (!key) return undefined;
  const admin = s.googleDirectoryAdmin ?? key.impersonateUser;
  if (!admin) {
    throw new ConfigError(`${name('googleDirectoryCredentialsFile')} ${key.file} needs ${name('googleDirectoryAdmin', 'googleDirectoryCredentialsFile')} (a Workspace administrator the service account acts for)`);
  }
  if (!/^[^@\s]+@[^@\s]+$/.test(admin)) throw new ConfigError(`the impersonate_user of ${name('googleDirectoryCredentialsFile')} ${key.file} must be an email address, not "${admin}"`);
  return { serviceAccount: key, admin, apiUrl: s.googleDirectoryUrl ?? GOOGLE_DIRECTORY_URL };
}
