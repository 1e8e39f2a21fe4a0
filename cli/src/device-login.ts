import { hostname } from 'node:os';
import type { DeviceToken } from '@postern/edge';
import { ApiError, type ApiClient } from './api-client.js';
import { CliError } from './errors.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** What the person must do in the browser. */
export interface DevicePrompt {
  readonly url: string;
  readonly urlWithCode: string;
  readonly code: string;
}

/**
 * The CLI half of the device authorization flow: ask for a code, show it, poll until the person
 * approves or denies in the browser, or the code expires (every wait is bounded by that expiry).
 */
export async function deviceLogin(api: ApiClient, show: (prompt: DevicePrompt) => void): Promise<DeviceToken> {
  const start = await api.startDeviceLogin(hostname().slice(0, 100));
  show({ url: start.verification_uri, urlWithCode: start.verification_uri_complete, code: start.user_code });
  const deadline = Date.now() + start.expires_in * 1000;
  let intervalMs = start.interval * 1000;
  while (Date.now() < deadline) {
    await sleep(intervalMs);
    try {
      return await api.pollDeviceLogin(start.device_code);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      if (err.code === 'AUTHORIZATION_PENDING') continue;
      if (err.code === 'SLOW_DOWN') {
        intervalMs += 1000;
        continue;
      }
      throw new CliError(`login failed: ${err.message}`);
    }
  }
  throw new CliError('login timed out: the code was not approved in time; run "postern login" again');
}
