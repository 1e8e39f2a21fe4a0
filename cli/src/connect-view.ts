import type { ConnectorEvents, RequestLogEntry } from '@postern/connector';
import type { SocketView } from '@postern/edge';
import type { ConfigChange } from './config-sockets.js';
import { out } from './output.js';
import { clock, fit, printable, requestLine, type RequestLineLayout } from './request-line.js';
import { describeRules } from './rule-options.js';

export interface ConnectViewOptions {
  /** JSON lines instead of human lines. */
  readonly json: boolean;
  /** No request lines; the ready block, warnings and tunnel state changes still show. */
  readonly quiet: boolean;
  /** The request inspector's page, when --inspect serves one. */
  readonly inspectUrl?: string | undefined;
  /** The socket's name, on every line (`connect --config` shows several sockets in one view). */
  readonly label?: string;
  /** What `connect --config` did to the socket and its tunnel before serving it. */
  readonly change?: ConfigChange | undefined;
  /** The edges given: with more than one, human lines name each connection's edge. */
  readonly edges?: readonly string[];
}

type ConnectionChange = ConnectorEvents['connection'][0];

/** The user column where people sign in: most addresses fit, longer ones are cut. */
const USER_WIDTH = 24;
/** Path column bounds: wide enough to read, narrow enough that short paths leave no gulf. */
const PATH_WIDTH = { min: 16, max: 40 } as const;
/** The socket column of `connect --config`: most names fit, longer ones are cut. */
const LABEL_WIDTH = 12;
/** A request line without its user and path columns: time, method, status, duration and the gaps. */
const FIXED_WIDTH = 8 + 7 + 3 + 8 + 5 * 2;

/**
 * What `connect` shows while it runs: the ready block, then a live log of tunnel state changes and
 * requests. JSON lines with --json, aligned human lines otherwise.
 */
export class ConnectView {
  /** Nothing is printed before the ready line: scripts read the first JSON line for the URL. */
  private isReady = false;
  /**
   * Request lines of this turn, printed in one write: the edge sends request events in batches,
   * and a write per line (stdout to a pipe is synchronous) cost the connector a third of its CPU
   * under load. Anything else the view prints goes after them, in order.
   */
  private pending: string[] = [];

  constructor(
    private readonly socket: SocketView,
    private readonly target: string,
    private readonly options: ConnectViewOptions,
  ) {}

  ready(connectionId: string, edge: string): void {
    this.isReady = true;
    const { socket } = this;
    if (this.options.json) {
      out.json({
        event: 'ready',
        ...this.labelField(),
        url: socket.url,
        protocol: socket.protocol,
        socket_id: socket.id,
        name: socket.name,
        hostname: socket.hostname,
        target: this.target,
        connection_id: connectionId,
        edge,
        public: !socket.cloudauth,
        cloudauth: socket.cloudauth,
        allowed_email_domains: socket.allowed_email_domains,
        allowed_email_addresses: socket.allowed_email_addresses,
        ...(this.options.inspectUrl ? { inspect_url: this.options.inspectUrl } : {}),
        ...(this.options.change ? { socket_change: this.options.change.socket, tunnel_change: this.options.change.tunnel } : {}),
      });
      return;
    }
    const change = this.options.change ? ` (socket ${this.options.change.socket}, tunnel ${this.options.change.tunnel})` : '';
    if (socket.protocol === 'tcp') {
      out.success(`${socket.name} (TCP) is live → ${this.target}${change}`);
      out.info(`reach it with: postern tcp --socket ${socket.hostname} --listen 127.0.0.1:<port>   (or --stdio for ssh ProxyCommand)`);
      out.info(`allowed: ${describeRules(socket)}`);
      out.info('press Ctrl-C to stop');
      return;
    }
    out.success(`${socket.name} is live at ${out.highlight(socket.url)} → ${this.target}${change}`);
    if (!socket.cloudauth && socket.rules.length === 0) out.warn('this socket is public: anyone who knows the URL can reach it (no sign-in; add --cloudauth)');
    else if (!socket.cloudauth) out.info(`public except where a rule says otherwise; allowed: ${describeRules(socket)}`);
    else out.info(`sign-in required; allowed: ${describeRules(socket)}`);
    if (this.options.inspectUrl) out.info(`inspector: ${out.highlight(this.options.inspectUrl)} (requests with headers and bodies, replay)`);
    out.info('press Ctrl-C to stop');
  }

  nothingListening(): void {
    this.flush();
    const text = `nothing is listening on ${this.target} yet: visitors get a 502 page until the app starts`;
    if (this.options.json) out.json({ event: 'warning', ...this.labelField(), message: text });
    else out.warn(text);
  }

  connection(event: ConnectionChange): void {
    this.flush();
    if (!this.isReady) return;
    if (this.options.json) {
      // snake_case like every other field the CLI prints as JSON (the ready line's connection_id).
      out.json({
        event: 'connection',
        ...this.labelField(),
        slot: event.slot,
        state: event.state,
        edge: event.edge,
        ...(event.connectionId !== undefined ? { connection_id: event.connectionId } : {}),
        ...(event.retryInMs !== undefined ? { retry_in_ms: event.retryInMs } : {}),
        ...(event.reason !== undefined ? { reason: event.reason } : {}),
      });
      return;
    }
    const tunnel = `${clock(new Date())}  ${this.options.label ? `${printable(this.options.label)} ` : ''}tunnel ${event.slot + 1}`;
    // One edge given: lines as they always were, unless a connection moved to an announced peer.
    const given = this.options.edges ?? [];
    const on = given.length > 1 || (given.length === 1 && event.edge !== given[0]) ? ` on ${printable(event.edge)}` : '';
    if (event.state === 'up') out.line(`${tunnel}: ${out.good('up')}${on}`);
    else if (event.state === 'reconnecting') {
      const retryIn = `${((event.retryInMs ?? 0) / 1000).toFixed(1)}s`;
      out.notice(`${tunnel}: ${out.caution(`reconnecting in ${retryIn}`)}${on} (${printable(event.reason ?? 'disconnected')})`);
    }
  }

  request(entry: RequestLogEntry): void {
    if (!this.isReady || this.options.quiet) return;
    if (this.options.json) {
      this.queue(JSON.stringify({
        event: entry.kind,
        ...this.labelField(),
        time: entry.time.toISOString(),
        email: entry.email,
        method: entry.method,
        path: entry.path,
        status: entry.status,
        duration_ms: entry.durationMs,
        bytes_out: entry.bytesOut,
      }));
      return;
    }
    this.queue(requestLine(entry, this.layout()));
  }

  /** Prints the request lines still waiting for the end of this turn. */
  flush(): void {
    if (this.pending.length === 0) return;
    const lines = this.pending;
    this.pending = [];
    out.raw(`${lines.join('\n')}\n`);
  }

  private queue(line: string): void {
    if (this.pending.push(line) === 1) setImmediate(() => this.flush());
  }

  stopping(graceMs: number): void {
    this.flush();
    if (this.options.json) out.json({ event: 'stopping', grace_ms: graceMs });
    else out.info(`stopping: letting in-flight requests finish (up to ${graceMs / 1000}s)...`);
  }

  stopped(): void {
    this.flush();
    if (this.options.json) out.json({ event: 'stopped' });
    else out.info('stopped');
  }

  /** `socket: NAME` in JSON lines when the view shows several sockets. */
  private labelField(): { socket?: string } {
    return this.options.label === undefined ? {} : { socket: this.options.label };
  }

  /** Re-read on every line, so the columns follow a resized terminal. */
  private layout(): RequestLineLayout {
    const userWidth = this.socket.cloudauth ? USER_WIDTH : 1;
    const label = this.options.label === undefined ? undefined : fit(printable(this.options.label), LABEL_WIDTH);
    const room = (out.columns() ?? Infinity) - FIXED_WIDTH - userWidth - (label === undefined ? 0 : LABEL_WIDTH + 2);
    return { userWidth, pathWidth: Math.max(PATH_WIDTH.min, Math.min(PATH_WIDTH.max, room)), ...(label !== undefined ? { label } : {}) };
  }
}
