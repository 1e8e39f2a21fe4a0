import type {
  AuditView,
  CreateSocketBody,
  CreateTunnelBody,
  DeviceStart,
  DeviceToken,
  PolicyDiff,
  PolicyDiffBody,
  PolicyTestBody,
  PolicyTestResult,
  SocketView,
  TokenView,
  TunnelView,
  UpdateSocketBody,
} from '@postern/edge';
import { request } from 'undici';
import { EdgeRoute, notConnected } from './edge-route.js';
import { CliError } from './errors.js';

/** A socket as the API lists it: the public view plus its live status. */
export type SocketInfo = SocketView & {
  readonly online: boolean;
  readonly connections: number;
  /** A quick share without a connector: when the edge removes it (null otherwise, or not known yet). */
  readonly removal_at?: string | null;
};

export interface WhoAmI {
  readonly id: string;
  readonly email: string;
  readonly publisher: boolean;
  readonly token: TokenView;
}

/** An error answer of the edge, with its stable code (e.g. AUTHORIZATION_PENDING, TOKEN_EXPIRED). */
export class ApiError extends CliError {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const enc = encodeURIComponent;

/**
 * A thin client of the edge's REST API (`/api/v1`); every failure becomes one readable error. Given
 * several edges of one cluster, each call goes to the first that answers (see EdgeRoute); a call
 * that changes something moves on only when the connection was never made, so it never runs twice.
 */
export class ApiClient {
  private readonly edges: EdgeRoute;

  constructor(
    edgeUrls: string | readonly string[],
    private readonly token?: string,
  ) {
    this.edges = new EdgeRoute(typeof edgeUrls === 'string' ? [edgeUrls] : edgeUrls);
  }

  /** The edge that answered last (the first given, before any call). */
  get edgeUrl(): string {
    return this.edges.current;
  }

  whoami = () => this.call<WhoAmI>('GET', '/whoami');

  createSocket = (input: CreateSocketBody) => this.call<SocketInfo>('POST', '/sockets', input);
  listSockets = () => this.call<SocketInfo[]>('GET', '/sockets');
  getSocket = (id: string) => this.call<SocketInfo>('GET', `/sockets/${enc(id)}`);
  updateSocket = (id: string, patch: UpdateSocketBody) => this.call<SocketInfo>('PATCH', `/sockets/${enc(id)}`, patch);
  deleteSocket = (id: string) => this.call<void>('DELETE', `/sockets/${enc(id)}`);
  testPolicy = (id: string, body: PolicyTestBody) => this.call<PolicyTestResult>('POST', `/sockets/${enc(id)}/policy/test`, body);
  diffPolicy = (id: string, body: PolicyDiffBody) => this.call<PolicyDiff>('POST', `/sockets/${enc(id)}/policy/diff`, body);

  createTunnel = (input: CreateTunnelBody) => this.call<TunnelView>('POST', '/tunnels', input);
  listTunnels = (socketId?: string) => this.call<TunnelView[]>('GET', socketId ? `/tunnels?socket=${enc(socketId)}` : '/tunnels');
  getTunnel = (id: string) => this.call<TunnelView>('GET', `/tunnels/${enc(id)}`);
  deleteTunnel = (id: string) => this.call<void>('DELETE', `/tunnels/${enc(id)}`);

  listTokens = () => this.call<TokenView[]>('GET', '/tokens');
  createToken = (input: { name?: string; expires_in_seconds?: number }) =>
    this.call<{ token: string; id: string; name: string; expires_at: string | null }>('POST', '/tokens', input);
  revokeToken = (id: string) => this.call<void>('DELETE', `/tokens/${enc(id)}`);

  audit = (query: { socket?: string; since?: string; limit?: number }) => {
    const params = new URLSearchParams(Object.entries(query).filter(([, v]) => v !== undefined).map(([k, v]): [string, string] => [k, String(v)]));
    return this.call<AuditView[]>('GET', `/audit${params.size > 0 ? `?${params}` : ''}`);
  };

  startDeviceLogin = (clientName: string) => this.call<DeviceStart>('POST', '/device/code', { client_name: clientName });
  pollDeviceLogin = (deviceCode: string) => this.call<DeviceToken>('POST', '/device/token', { device_code: deviceCode });

  private async call<T>(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', path: string, body?: unknown): Promise<T> {
    const send = (edgeUrl: string) =>
      request(new URL(`/api/v1${path}`, edgeUrl), {
        method,
        headers: {
          ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
          accept: 'application/json',
          ...(body ? { 'content-type': 'application/json' } : {}),
        },
        body: body ? JSON.stringify(body) : null,
        headersTimeout: 15_000,
        bodyTimeout: 15_000,
      });
    const res = await this.edges.first(send, (err) => method === 'GET' || notConnected(err));
    const text = await res.body.text();
    const parsed = parseJson(text);
    if (res.statusCode >= 400) {
      const error = (parsed as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
      if (typeof error?.code === 'string' && typeof error.message === 'string') throw new ApiError(res.statusCode, error.code, error.message);
      throw this.notAnEdge(method, path, res.statusCode, res.headers['content-type']);
    }
    if (text && parsed === undefined) throw this.notAnEdge(method, path, res.statusCode, res.headers['content-type']);
    return parsed as T;
  }

  /**
   * Something answered that is not the edge's API (a web server on that port, or a proxy whose
   * edge is down): one line that says so, instead of the page it sent.
   */
  private notAnEdge(method: string, path: string, status: number, type: string | string[] | undefined): ApiError {
    const kind = String(type ?? 'no content type').split(';')[0];
    const what = `${status} ${kind} to ${method} /api/v1${path}`;
    // 502-504: a proxy in front answered for an edge that is down.
    const message =
      status >= 502 && status <= 504
        ? `the edge at ${this.edgeUrl} is not answering its API (${what}): if a proxy fronts it, is the edge behind it running?`
        : `${this.edgeUrl} does not look like a Postern edge (it answered ${what}): check the edge URL (--edge or POSTERN_EDGE)`;
    return new ApiError(status, 'NOT_AN_EDGE', message);
  }
}

/** The body as JSON, or undefined when it is not JSON. */
function parseJson(text: string): unknown {
  try {
    return text ? JSON.parse(text) : undefined;
  } catch {
    return undefined;
  }
}
