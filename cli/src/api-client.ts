import type { CreateSocketBody, SocketView } from '@postern/edge';
import { request } from 'undici';
import type { Credentials } from './credentials.js';
import { CliError } from './errors.js';

/** A thin client of the edge's REST API; every failure becomes one readable CliError. */
export class ApiClient {
  constructor(private readonly creds: Credentials) {}

  createSocket(input: CreateSocketBody): Promise<SocketView> {
    return this.call<SocketView>('POST', '/api/v1/sockets', input);
  }

  getSocket(id: string): Promise<SocketView> {
    return this.call<SocketView>('GET', `/api/v1/sockets/${encodeURIComponent(id)}`);
  }

  async deleteSocket(id: string): Promise<void> {
    await this.call('DELETE', `/api/v1/sockets/${encodeURIComponent(id)}`);
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res;
    try {
      res = await request(new URL(path, this.creds.edgeUrl), {
        method: method as 'GET',
        headers: {
          authorization: `Bearer ${this.creds.token}`,
          accept: 'application/json',
          ...(body ? { 'content-type': 'application/json' } : {}),
        },
        body: body ? JSON.stringify(body) : null,
        headersTimeout: 15_000,
        bodyTimeout: 15_000,
      });
    } catch (err) {
      const code = (err as { code?: string }).code ?? (err as Error).message;
      throw new CliError(`cannot reach the edge at ${this.creds.edgeUrl}: ${code}`);
    }
    const text = await res.body.text();
    if (res.statusCode >= 400) {
      let message = text.slice(0, 200);
      try {
        message = (JSON.parse(text) as { error: { message: string } }).error.message;
      } catch {
        /* keep the raw text */
      }
      throw new CliError(`the edge answered ${res.statusCode}: ${message}`);
    }
    return (text ? JSON.parse(text) : undefined) as T;
  }
}
