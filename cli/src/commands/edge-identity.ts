import type { Command } from 'commander';
import type { IdentityInput, OidcInput } from '@postern/edge';
import { ConfigError } from '@postern/edge/client';

/** A repeatable option's values, in order. */
export const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** Per-issuer flags that take a value: the n-th one belongs to the n-th issuer (--oidc-issuer or --entra-tenant, in order). */
const BY_POSITION = {
  oidcClientId: ['--oidc-client-id <id>', 'client id at that issuer', 'clientId'],
  oidcClientSecretFile: ['--oidc-client-secret-file <file>', 'file holding the client secret', 'clientSecretFile'],
  oidcName: ['--oidc-name <name>', 'name on the login page, e.g. "Corp SSO"', 'name'],
  oidcKind: ['--oidc-kind <kind>', 'oidc (default) or entra (Microsoft Entra ID: tenant pin, xms_edov)', 'kind'],
  oidcTenants: ['--oidc-tenants <t1,t2>', 'entra: directory (tenant) ids whose users may sign in', 'tenants'],
  oidcEmailClaim: ['--oidc-email-claim <claim>', 'claim holding the email (default email)', 'emailClaim'],
  oidcGroupsClaim: ['--oidc-groups-claim <claim>', 'claim holding the groups (default groups)', 'groupsClaim'],
  oidcScopes: ['--oidc-scopes <scopes>', 'scopes besides "openid email profile", e.g. "groups offline_access" (dex)', 'scopes'],
  oidcIdTokenAlg: ['--oidc-id-token-alg <alg>', 'the one algorithm ID tokens may be signed with (default RS256)', 'idTokenAlg'],
} as const satisfies Record<string, readonly [string, string, keyof OidcInput]>;

/** Per-issuer switches: each applies to the issuer it follows on the command line. */
const SWITCHES = {
  'oidc-trust-email': ['--oidc-trust-email', 'count the email as verified without email_verified (only for IdPs that issue verified addresses only)', 'trustEmail'],
  'oidc-require-mfa': ['--oidc-require-mfa', 'refuse sign-ins whose amr claim does not contain mfa', 'requireMfa'],
  'oidc-rp-logout': ['--oidc-rp-logout', 'signing out at the edge also ends the IdP session (RP-initiated logout)', 'rpLogout'],
} as const satisfies Record<string, readonly [string, string, keyof OidcInput]>;

type PositionalKey = keyof typeof BY_POSITION;

export interface IdentityFlags extends Partial<Record<PositionalKey, string[]>> {
  githubClientId?: string;
  githubClientSecretFile?: string;
  githubWebUrl?: string;
  githubApiUrl?: string;
  googleClientId?: string;
  googleClientSecretFile?: string;
  googleHostedDomain?: string;
  googleDirectoryCredentialsFile?: string;
  googleDirectoryAdmin?: string;
  googleIssuer?: string;
  googleDirectoryUrl?: string;
  facebookClientId?: string;
  facebookClientSecretFile?: string;
  facebookWebUrl?: string;
  facebookGraphUrl?: string;
  localAccounts?: boolean;
  sessionTtl?: string;
  sessionIdle?: string;
  sessionRevalidate?: string;
}

/**
 * The edge's sign-in options. Issuers are numbered in command-line order whether given as
 * `--oidc-issuer URL` or `--entra-tenant TID`; returns what reads the parsed flags into IdentityInput.
 */
export function registerIdentityOptions(command: Command): (opts: IdentityFlags) => IdentityInput {
  const issuers: { issuer?: string; entraTenant?: string; switches: Partial<Record<keyof OidcInput, boolean>> }[] = [];
  const stray: string[] = [];
  command
    .option('--oidc-issuer <url>', 'an OpenID Connect issuer (repeatable; redirect URI: <edge URL>/auth/callback)', collect)
    .option('--entra-tenant <tid>', 'a Microsoft Entra ID issuer: https://login.microsoftonline.com/<tid>/v2.0, kind entra, tenants <tid> (repeatable)', collect);
  for (const [flags, description] of Object.values(BY_POSITION)) command.option(flags, `${description} (repeatable, by position)`, collect);
  for (const [flags, description] of Object.values(SWITCHES)) command.option(flags, `${description} (applies to the issuer it follows)`);
  command.on('option:oidc-issuer', (issuer: string) => issuers.push({ issuer, switches: {} }));
  command.on('option:entra-tenant', (entraTenant: string) => issuers.push({ entraTenant, switches: {} }));
  for (const [name, [, , key]] of Object.entries(SWITCHES)) {
    command.on(`option:${name}`, () => {
      const last = issuers[issuers.length - 1];
      if (last) last.switches[key] = true;
      else stray.push(`--${name}`);
    });
  }
  command
    .option('--google-client-id <id>', 'Google sign-in (OAuth client of type "Web application")')
    .option('--google-client-secret-file <file>', 'file holding the Google OAuth client secret')
    .option('--google-hosted-domain <domain>', 'accept only Google Workspace accounts of this domain (the hd claim)')
    .option('--google-directory-credentials-file <file>', 'service account key (JSON) with domain-wide delegation: Workspace groups for --allowed-groups')
    .option('--google-directory-admin <email>', 'the Workspace administrator the service account acts for')
    .option('--google-issuer <url>', 'Google\'s issuer (default https://accounts.google.com; for tests and proxies)')
    .option('--google-directory-url <url>', 'Admin SDK base URL (default https://admin.googleapis.com; for tests and proxies)')
    .option('--github-client-id <id>', 'GitHub OAuth app client id')
    .option('--github-client-secret-file <file>', 'file holding the GitHub OAuth app secret')
    .option('--github-web-url <url>', 'GitHub Enterprise Server URL (default https://github.com)')
    .option('--github-api-url <url>', 'GitHub API URL (default https://api.github.com)')
    .option('--facebook-client-id <id>', 'Facebook app id (Facebook Login)')
    .option('--facebook-client-secret-file <file>', 'file holding the Facebook app secret')
    .option('--facebook-web-url <url>', 'Facebook login dialog URL (default https://www.facebook.com; for tests)')
    .option('--facebook-graph-url <url>', 'Graph API URL (default https://graph.facebook.com; for tests)')
    .option('--local-accounts', 'allow sign-in with local accounts (default: on only when no other provider is set)')
    .option('--no-local-accounts', 'never allow local-account sign-in')
    .option('--session-ttl <duration>', 'sessions end this long after sign-in (default 24h)')
    .option('--session-idle <duration>', 'sessions end after this long without a request (default 8h)')
    .option('--session-revalidate <duration>', 'check each session with its IdP this often; refused ones end, live streams included (default 15m)');

  return (opts) => {
    if (stray.length > 0) throw new ConfigError(`${stray[0]} must follow the --oidc-issuer (or --entra-tenant) it applies to`);
    for (const [key, [flags]] of Object.entries(BY_POSITION) as [PositionalKey, (typeof BY_POSITION)[PositionalKey]][]) {
      const given = opts[key]?.length ?? 0;
      if (given > issuers.length) throw new ConfigError(`${flags.split(' ')[0]} is given ${given} times for ${issuers.length} issuer(s) (--oidc-issuer or --entra-tenant)`);
    }
    const oidc = issuers.map((slot, i): OidcInput => {
      const entry: Record<string, unknown> = { issuer: slot.issuer, entraTenant: slot.entraTenant, ...slot.switches };
      for (const [key, [, , field]] of Object.entries(BY_POSITION) as [PositionalKey, (typeof BY_POSITION)[PositionalKey]][]) entry[field] = opts[key]?.[i];
      return entry as OidcInput;
    });
    return {
      oidc: oidc.length > 0 ? oidc : undefined,
      githubClientId: opts.githubClientId,
      githubClientSecretFile: opts.githubClientSecretFile,
      githubWebUrl: opts.githubWebUrl,
      githubApiUrl: opts.githubApiUrl,
      googleClientId: opts.googleClientId,
      googleClientSecretFile: opts.googleClientSecretFile,
      googleHostedDomain: opts.googleHostedDomain,
      googleDirectoryCredentialsFile: opts.googleDirectoryCredentialsFile,
      googleDirectoryAdmin: opts.googleDirectoryAdmin,
      googleIssuer: opts.googleIssuer,
      googleDirectoryUrl: opts.googleDirectoryUrl,
      facebookClientId: opts.facebookClientId,
      facebookClientSecretFile: opts.facebookClientSecretFile,
      facebookWebUrl: opts.facebookWebUrl,
      facebookGraphUrl: opts.facebookGraphUrl,
      localAccounts: opts.localAccounts,
      sessionTtl: opts.sessionTtl,
      sessionIdle: opts.sessionIdle,
      sessionRevalidate: opts.sessionRevalidate,
    };
  };
}
