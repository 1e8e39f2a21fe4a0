import type { RateLimitsConfig } from './config.js';

// The rate limits' defaults and flag names, apart from config.ts so that the CLI can list them in
// `postern edge --help` without loading the config parser (client.ts).

export const RATE_LIMIT_DEFAULTS: Readonly<Record<keyof RateLimitsConfig, string>> = {
  loginPerEmail: '10/1m',
  loginPerAddress: '30/1m',
  signinPerAddress: '120/1m',
  deviceCodePerAddress: '20/1m',
  deviceApprovePerSession: '30/1m',
  apiPerAccount: '600/1m',
  apiBadTokenPerAddress: '60/1m',
  handoffPerSession: '60/1m',
  handoffPerAddress: '600/1m',
  badTokenPerAddress: '60/1m',
};

/** The flag of each rate limit (its env variable and YAML key follow from it). */
export const RATE_LIMIT_FLAGS: Readonly<Record<keyof RateLimitsConfig, string>> = {
  loginPerEmail: '--rate-login-per-email',
  loginPerAddress: '--rate-login-per-address',
  signinPerAddress: '--rate-signin-per-address',
  deviceCodePerAddress: '--rate-device-code-per-address',
  deviceApprovePerSession: '--rate-device-approve-per-session',
  apiPerAccount: '--rate-api-per-account',
  apiBadTokenPerAddress: '--rate-api-bad-token-per-address',
  handoffPerSession: '--rate-handoff-per-session',
  handoffPerAddress: '--rate-handoff-per-address',
  badTokenPerAddress: '--rate-bad-token-per-address',
};
