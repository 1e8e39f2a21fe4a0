import type { ConnectorEvents, RequestLogEntry } from '@postern/connector';
import type { SocketView } from '@postern/edge';
import { out } from './output.js';
import { clock, printable, requestLine, type RequestLineLayout } from './request-line.js';
import { describeRules } from './rule-options.js';

export interface ConnectViewOptions {
  /** JSON lines instead of human lines. */
  readonly json: boolean;
  /** No request lines; the ready block, warnings and tunnel state changes still show. */
  readonly quiet: boolean;
}

type ConnectionChange = ConnectorEvents['connection'][0];

/** The user column where people sign in: most addresses fit, longer ones are cut. */
const USER_WIDTH = 24;
/** Path column bounds: wide enough to read, narrow enough that short paths leave no gulf. */
const PATH_WIDTH = { min: 16, max: 40 } as const;
/** A request line without its user and path columns: time, method, status, duration and the gaps. */
const FIXED_WIDTH = 8 + 7 + 3 + 8 + 5 * 2;

/**
 * What `connect` shows while it runs: the ready block, then a live log of tunnel state changes and
 * requests. JSON lines with --json, aligned human lines otherwise.
 */
export class ConnectView {
  /** Nothing is printed before the ready line: scripts read the first JSON line for the URL. */
  private isReady = false;

  constructor(
    private readonly socket: SocketView,
    private readonly target: string,
    private readonly options: ConnectViewOptions,
  ) {}

  ready(connectionId: string): void {
    this.isReady = true;
    const { socket } = this;
    if (this.options.json) {
      out.json({
        event: 'ready',
        url: socket.url,
        protocol: socket.protocol,
        socket_id: socket.id,
        name: socket.name,
        hostname: socket.hostname,
        target: this.target,
        connection_id: connectionId,
        public: !socket.cloudauth,
        cloudauth: socket.cloudauth,
        allowed_email_domains: socket.allowed_email_domains,
        allowed_email_addresses: socket.allowed_email_addresses,
      });
      return;
    }
    if (socket.protocol === 'tcp') {
      out.success(`${socket.name} (TCP) is live → ${this.target}`);
      out.info(`reach it with: postern tcp --socket ${socket.hostname} --listen 127.0.0.1:<port>   (or --stdio for ssh ProxyCommand)`);
      out.info(`allowed: ${describeRules(socket)}`);
      out.info('press Ctrl-C to stop');
      return;
    }
    out.success(`${socket.name} is live at ${out.highlight(socket.url)} → ${this.target}`);
    if (!socket.cloudauth && socket.rules.length === 0) out.warn('this socket is public: anyone who knows the URL can reach it (no sign-in; add --cloudauth)');
    else if (!socket.cloudauth) out.info(`public except where a rule says otherwise; allowed: ${describeRules(socket)}`);
    else out.info(`sign-in required; allowed: ${describeRules(socket)}`);
    out.info('press Ctrl-C to stop');
  }

  nothingListening(): void {
    const text = `nothing is listening on ${this.target} yet: visitors get a 502 page until the app starts`;
    if (this.options.json) out.json({ event: 'warning', message: text });
    else out.warn(text);
  }

  connection(event: ConnectionChange): void {
    if (!this.isReady) return;
    if (this.options.json) {
      // snake_case like every other field the CLI prints as JSON (the ready line's connection_id).
      out.json({
        event: 'connection',
        slot: event.slot,
        state: event.state,
        ...(event.connectionId !== undefined ? { connection_id: event.connectionId } : {}),
        ...(event.retryInMs !== undefined ? { retry_in_ms: event.retryInMs } : {}),
        ...(event.reason !== undefined ? { reason: event.reason } : {}),
      });
      return;
    }
    const tunnel = `${clock(new Date())}  tunnel ${event.slot + 1}`;
    if (event.state === 'up') out.line(`${tunnel}: ${out.good('up')}`);
    else if (event.state === 'reconnecting') {
      const retryIn = `${((event.retryInMs ?? 0) / 1000).toFixed(1)}s`;
      out.notice(`${tunnel}: ${out.caution(`reconnecting in ${retryIn}`)} (${printable(event.reason ?? 'disconnected')})`);
    }
  }

  request(entry: RequestLogEntry): void {
    if (!this.isReady || this.options.quiet) return;
    if (this.options.json) {
      out.json({
        event: entry.kind,
        time: entry.time.toISOString(),
        email: entry.email,
        method: entry.method,
        path: entry.path,
        status: entry.status,
        duration_ms: entry.durationMs,
        bytes_out: entry.bytesOut,
      });
      return;
    }
    out.line(requestLine(entry, this.layout()));
  }

  stopping(graceMs: number): void {
    if (this.options.json) out.json({ event: 'stopping', grace_ms: graceMs });
    else out.info(`stopping: letting in-flight requests finish (up to ${graceMs / 1000}s)...`);
  }

  stopped(): void {
    if (this.options.json) out.json({ event: 'stopped' });
    else out.info('stopped');
  }

  /** Re-read on every line, so the columns follow a resized terminal. */
  private layout(): RequestLineLayout {
    const userWidth = this.socket.cloudauth ? USER_WIDTH : 1;
    const room = (out.columns() ?? Infinity) - FIXED_WIDTH - userWidth;
    return { userWidth, pathWidth: Math.max(PATH_WIDTH.min, Math.min(PATH_WIDTH.max, room)) };
  }
}
