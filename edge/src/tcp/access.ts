import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { HandshakeHeader } from '@postern/shared';
import type { FastifyBaseLogger } from 'fastify';
import { domainHost, socketAuthority } from '../api/socket-view.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { BadTokenGuard } from '../auth/bad-token-guard.js';
import { TOKEN_CREDENTIAL } from '../auth/context.js';
import { posternBearerToken } from '../auth/postern-token.js';
import type { TokenCache } from '../auth/token-cache.js';
import { tokenFailure } from '../auth/token-failure.js';
import type { EdgeConfig } from '../config.js';
import { EdgeError } from '../errors.js';
import { clientAddress } from '../net/client-address.js';
import { tcpFacts } from '../policy/facts.js';
import type { StreamGrant } from '../policy/open-streams.js';
import type { SocketGate } from '../proxy/gate.js';
import type { Store } from '../store/index.js';
import type { SocketRecord } from '../store/sockets.js';
import type { TunnelConnection } from '../tunnel/connection.js';
import type { TunnelRegistry } from '../tunnel/registry.js';

/** Who may open streams to which socket, once the policy allowed it. */
export interface TcpGrant {
  readonly socket: SocketRecord;
  /** The socket's public host name (`ssh-x1y2.edge.example.com`), for messages. */
  readonly hostname: string;
  /** Who asked, for the audit log. */
  readonly actor: string;
  /** `token:<id>`: revoking the token closes the stream (see auth/live-connections.ts). */
  readonly credential: string;
  /** What the policy decided on: an expiring rule closes the stream (see SocketGate.trackStream). */
  readonly policy: StreamGrant;
}

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * Decides a TCP stream request, in order: token, socket, protocol, policy. Any account's socket may
 * be opened if its policy allows the token's holder: ownership does not matter, exactly as for HTTP.
 * Throws the EdgeError the client shows.
 */
export class TcpAccess {
  constructor(
    private readonly config: EdgeConfig,
    private readonly store: Store,
    private readonly registry: TunnelRegistry,
    private readonly gate: SocketGate,
    private readonly audit: AuditLog,
    private readonly log: FastifyBaseLogger,
    private readonly badTokens: BadTokenGuard,
    private readonly tokens: Pick<TokenCache, 'check'>,
  ) {}

  async authorize(req: IncomingMessage): Promise<TcpGrant> {
    const token = posternBearerToken(header(req, 'authorization'));
    const tokenCheck = token ? await this.tokens.check(token) : undefined;
    if (!token || !tokenCheck) throw tokenFailure(undefined);
    if (!tokenCheck.ok) throw this.badTokens.failed(req, tokenFailure(tokenCheck));

    const name = header(req, HandshakeHeader.SOCKET)?.trim();
    if (!name) throw new EdgeError('BAD_REQUEST', `the ${HandshakeHeader.SOCKET} header is required (a socket id, name label or host name)`);
    const socket = await this.findSocket(name);
    if (!socket) throw new EdgeError('SOCKET_NOT_FOUND', `there is no socket "${name}" on this edge`);
    const hostname = `${socket.hostname}.${domainHost(this.config)}`;
    if (socket.protocol !== 'tcp') {
      throw new EdgeError('WRONG_PROTOCOL', `${hostname} is an HTTP socket: open ${this.config.publicScheme}://${socketAuthority(socket.hostname, this.config)} instead`);
    }

    const decision = await this.gate.checkToken(token, socket, tcpFacts(req));
    if (decision.kind === 'unauthorized') throw tokenFailure(undefined);
    if (decision.kind === 'forbidden') {
      this.log.info({ socket: socket.id, user: decision.who, reason: decision.reason }, 'access denied');
      this.audit.denied({ accountId: socket.accountId, socketId: socket.id, actor: decision.who, remote: clientAddress(req) || null, reason: decision.reason, via: 'tcp', access: decision.access });
      throw new EdgeError('POLICY_DENIED', `${decision.who} may not use ${hostname}: ${decision.reason}`);
    }

    const actor = decision.identity?.email ?? decision.identity?.userId ?? tokenCheck.token.accountId;
    const credential = decision.credential ?? `${TOKEN_CREDENTIAL}${tokenCheck.token.id}`;
    return { socket, hostname, actor, credential, policy: decision.grant };
  }

  /** Follows an open stream under the policy that let it in. */
  track(grant: TcpGrant, client: Duplex): void {
    this.gate.trackStream(grant.policy, 'tcp', client);
  }

  /** The least busy connector connection serving the socket, or undefined when none is online or has a free stream. */
  connection(grant: TcpGrant): TunnelConnection | undefined {
    return this.registry.pick(grant.socket.id);
  }

  /** Connectors are online for the socket, but every connection carries its maximum of streams. */
  busy(grant: TcpGrant): boolean {
    return this.registry.isBusy(grant.socket.id);
  }

  /** A socket by id (`sck_…`), DNS label (`ssh-x1y2`) or host name (`ssh-x1y2.edge.example.com[:port]`). */
  private async findSocket(name: string): Promise<SocketRecord | undefined> {
    const lower = name.toLowerCase();
    if (lower.startsWith('sck_')) return this.store.sockets.findById(lower);
    const suffix = [`.${this.config.domain}`, `.${domainHost(this.config)}`].find((s) => lower.endsWith(s));
    const label = suffix ? lower.slice(0, -suffix.length) : lower;
    return LABEL.test(label) ? this.store.sockets.findByHostname(label) : undefined;
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}
