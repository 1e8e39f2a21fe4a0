/**
 * Clients that check every answer exactly, for the soak (bench/lib/soak.ts) and the restart phases.
 * Each call ends in an Outcome: ok, or a failure of one of three severities:
 *
 * - `error`: the failure was visible to the client (an error status, a refused or reset connection,
 *   a response cut short that the HTTP framing reports as incomplete, a closed WebSocket, a timeout).
 *   Expected while a connector restarts; a user sees an error and retries.
 * - `truncated`: the answer ended *cleanly* (complete framing, status 200) but with less than was
 *   sent. A client would take it for the whole thing: silent truncation.
 * - `corrupt`: different bytes, a response meant for another request, SSE events missing or out
 *   of order, an echo that differs from what was sent.
 *
 * `truncated` and `corrupt` must never happen.
 */
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import WebSocket from 'ws';
import { request, requestHashed, requestTimed, nextMessage, openWebSocket } from '#test-lib/http.js';
import { patternStream } from '#test-lib/pattern.js';
import type { Endpoint } from './transfer.js';

export type Severity = 'error' | 'truncated' | 'corrupt';

export type Outcome =
  | { readonly ok: true; readonly units: number; readonly bytes: number }
  | { readonly ok: false; readonly severity: Severity; readonly reason: string; readonly detail: string };

const ok = (units: number, bytes: number): Outcome => ({ ok: true, units, bytes });
const failed = (severity: Severity, reason: string, detail = reason): Outcome => ({ ok: false, severity, reason, detail });

/** A short, countable reason for an exception (the detail keeps the message). */
function errorReason(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e?.name === 'TimeoutError') return 'timeout';
  if (e?.message === 'aborted') return 'response cut short (aborted)';
  if (e?.code) return e.code;
  return (e?.message ?? String(err)).split('\n')[0]!.slice(0, 80);
}

const errorOutcome = (err: unknown): Outcome => failed('error', errorReason(err), (err as Error)?.message ?? String(err));

function statusReason(status: number, headers: http.IncomingHttpHeaders): string {
  const code = headers['postern-error'];
  return `HTTP ${status}${typeof code === 'string' ? ` ${code}` : ''}`;
}

const hostOf = (ep: Endpoint): string => ep.host ?? `127.0.0.1:${ep.port}`;

// ------------------------------------------------------------------------------------- small GETs

/** GET /small?id=ID on a keep-alive agent: the body must be exactly "small ID\n". */
export function smallGet(ep: Endpoint, agent: http.Agent, id: string, timeoutMs: number): Promise<Outcome> {
  const expected = `small ${id}\n`;
  return new Promise((resolve) => {
    let settled = false;
    const settle = (outcome: Outcome): void => {
      if (settled) return;
      settled = true;
      resolve(outcome);
    };
    const req = http.request(
      { host: '127.0.0.1', port: ep.port, path: `/small?id=${id}`, agent, headers: { host: hostOf(ep), ...ep.headers }, timeout: timeoutMs },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.once('error', (err) => settle(errorOutcome(err)));
        res.once('end', () => {
          const status = res.statusCode ?? 0;
          if (status !== 200) return settle(failed('error', statusReason(status, res.headers)));
          const body = Buffer.concat(chunks).toString('latin1');
          if (body === expected) return settle(ok(1, body.length));
          if (expected.startsWith(body)) return settle(failed('truncated', 'body shorter than sent', `${JSON.stringify(body)} instead of ${JSON.stringify(expected)}`));
          settle(failed('corrupt', body.startsWith('small ') ? 'answer to another request' : 'body differs', `${JSON.stringify(body.slice(0, 80))} instead of ${JSON.stringify(expected)}`));
        });
      },
    );
    req.once('timeout', () => {
      const err = new Error(`GET /small timed out after ${timeoutMs} ms`);
      err.name = 'TimeoutError';
      req.destroy(err);
    });
    req.once('error', (err) => settle(errorOutcome(err)));
    req.end();
  });
}

// -------------------------------------------------------------------------------------- transfers

/** GET /pattern?n=N&seed=S, hashed as it streams; `expectedSha` is patternSha256(n, seed). */
export async function checkedDownload(ep: Endpoint, n: number, seed: number, expectedSha: string, timeoutMs: number): Promise<Outcome> {
  try {
    const res = await requestHashed({ port: ep.port, host: hostOf(ep), path: `/pattern?n=${n}&seed=${seed}`, headers: { ...ep.headers }, timeoutMs });
    if (res.status !== 200) return failed('error', statusReason(res.status, res.headers));
    if (res.length < n) return failed('truncated', 'download ended cleanly but short', `${res.length} of ${n} bytes, complete framing`);
    if (res.length > n) return failed('corrupt', 'download longer than sent', `${res.length} bytes instead of ${n}`);
    if (res.sha256 !== expectedSha) return failed('corrupt', 'download sha256 differs', `sha256 ${res.sha256} instead of ${expectedSha} (${n} bytes, seed ${seed})`);
    return ok(1, n);
  } catch (err) {
    return errorOutcome(err);
  }
}

/** POST n pattern bytes to /sha256; the app's answer must name exactly what was sent. */
export async function checkedUpload(ep: Endpoint, n: number, seed: number, expectedSha: string, timeoutMs: number): Promise<Outcome> {
  try {
    const res = await request({
      port: ep.port,
      host: hostOf(ep),
      method: 'POST',
      path: '/sha256',
      headers: { ...ep.headers, 'content-type': 'application/octet-stream', 'content-length': String(n) },
      body: patternStream(n, seed),
      timeoutMs,
    });
    if (res.status !== 200) return failed('error', statusReason(res.status, res.headers));
    let seen: { sha256?: unknown; length?: unknown };
    try {
      seen = JSON.parse(res.body.toString('utf8')) as typeof seen;
    } catch {
      return failed('corrupt', "the app's answer is not its JSON", res.body.toString('latin1').slice(0, 120));
    }
    if (typeof seen.length !== 'number' || typeof seen.sha256 !== 'string') return failed('corrupt', "the app's answer is not its JSON", JSON.stringify(seen).slice(0, 120));
    if (seen.length < n) return failed('truncated', 'app got a short body as complete', `the app received ${seen.length} of ${n} bytes as a complete body`);
    if (seen.length > n) return failed('corrupt', 'app got more than was sent', `the app received ${seen.length} bytes, ${n} were sent`);
    if (seen.sha256 !== expectedSha) return failed('corrupt', 'upload sha256 differs', `the app hashed ${seen.sha256}, sent ${expectedSha} (${n} bytes, seed ${seed})`);
    return ok(1, n);
  } catch (err) {
    return errorOutcome(err);
  }
}

// -------------------------------------------------------------------------------------------- SSE

/**
 * GET /sse?n=N&gap=MS: events 0..N-1 in order, each exactly once, then the app's `end` event.
 * `onEvents` counts the events received in order (also those of a stream that failed later), so
 * the ok outcome itself carries no units.
 */
export async function checkedSse(ep: Endpoint, n: number, gapMs: number, onEvents: (count: number) => void): Promise<Outcome> {
  let buffer = '';
  let next = 0;
  let ended = false;
  let broken: Outcome | undefined;
  const onBlock = (block: string): void => {
    if (broken) return;
    const fields = new Map<string, string>();
    for (const line of block.split('\n')) {
      const colon = line.indexOf(':');
      if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 1).trim());
    }
    if (ended) {
      broken = failed('corrupt', 'data after the end event', block.slice(0, 80));
    } else if (fields.get('event') === 'end') {
      if (fields.get('data') !== String(n) || next !== n) broken = failed('corrupt', 'end event early or wrong', `end "${fields.get('data')}" after ${next} of ${n} events`);
      ended = true;
    } else if (fields.get('id') !== String(next) || fields.get('data') !== String(next)) {
      const got = fields.get('id');
      const kind = got !== undefined && Number(got) > next ? 'SSE event missing (gap)' : 'SSE event repeated or out of order';
      broken = failed('corrupt', kind, `event ${JSON.stringify(block.slice(0, 40))} where ${next} was due`);
    } else {
      next++;
      onEvents(1);
    }
  };
  try {
    const res = await requestTimed(
      { port: ep.port, host: hostOf(ep), path: `/sse?n=${n}&gap=${gapMs}`, headers: { ...ep.headers, accept: 'text/event-stream' }, timeoutMs: n * gapMs + 20_000 },
      (chunk) => {
        buffer += chunk;
        for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
          onBlock(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
        }
      },
    );
    if (res.status !== 200) return failed('error', statusReason(res.status, res.headers));
    if (broken) return broken;
    if (!ended) return failed('truncated', 'SSE stream ended cleanly before its end event', `${next} of ${n} events, then a clean end`);
    if (buffer.trim() !== '') return failed('corrupt', 'data after the end event', buffer.slice(0, 80));
    return ok(0, 0);
  } catch (err) {
    // An event stream that broke is already corrupt, whatever happened next.
    return broken ?? errorOutcome(err);
  }
}

// -------------------------------------------------------------------------------------- WebSocket

/** Message sizes: log-uniform from 1 byte to `maxBytes`, and now and then an empty message. */
function randomSize(maxBytes: number): number {
  if (Math.random() < 0.05) return 0;
  return Math.min(maxBytes, Math.floor(Math.exp(Math.random() * Math.log(maxBytes + 1))));
}

export interface EchoSessionOptions {
  readonly messages: number;
  readonly maxBytes: number;
  readonly pauseMs: number;
  readonly timeoutMs: number;
  /** Checked before each message: false ends the session early (cleanly). */
  readonly going: () => boolean;
}

/**
 * One WebSocket to /echo: up to `messages` messages of random size and type, each echo compared
 * byte for byte before the next is sent. Calls `record` once per message (and once for a failed
 * open), then closes the socket normally.
 */
export async function echoSession(ep: Endpoint, opts: EchoSessionOptions, record: (outcome: Outcome) => void): Promise<void> {
  let ws: WebSocket;
  try {
    ws = await openWebSocket(ep.port, hostOf(ep), '/echo', { ...ep.headers }, opts.timeoutMs);
  } catch (err) {
    record(failed('error', `open: ${errorReason(err)}`, (err as Error).message));
    return;
  }
  let closeCode: number | undefined;
  let lastError: string | undefined;
  ws.on('close', (code) => (closeCode = code));
  ws.on('error', (err) => (lastError = err.message));
  try {
    for (let i = 0; i < opts.messages && opts.going(); i++) {
      if (ws.readyState !== WebSocket.OPEN) {
        // Closed by the other side between two messages: visible, so a clean error.
        record(failed('error', `closed ${closeCode ?? 'while closing'}`, `closed between messages${lastError ? ` (${lastError})` : ''}`));
        return;
      }
      const size = randomSize(opts.maxBytes);
      const binary = Math.random() < 0.8;
      // Text messages must be valid UTF-8: random bytes as base64, cut to size.
      const payload = binary ? randomBytes(size) : Buffer.from(randomBytes(Math.ceil(size * 0.75) + 3).toString('base64').slice(0, size), 'latin1');
      ws.send(payload, { binary });
      let echo: { data: Buffer; isBinary: boolean };
      try {
        echo = await nextMessage(ws, opts.timeoutMs);
      } catch (err) {
        const reason = closeCode !== undefined || ws.readyState !== WebSocket.OPEN ? `closed ${closeCode ?? 'while closing'}` : errorReason(err);
        record(failed('error', reason, `${(err as Error).message}${lastError ? ` (${lastError})` : ''}`));
        return;
      }
      if (echo.isBinary !== binary) record(failed('corrupt', 'echo changed the message type', `${binary ? 'binary' : 'text'} came back as ${echo.isBinary ? 'binary' : 'text'}`));
      else if (echo.data.equals(payload)) record(ok(1, size));
      else if (echo.data.length < size && payload.subarray(0, echo.data.length).equals(echo.data)) {
        record(failed('truncated', 'echo shorter than sent', `${echo.data.length} of ${size} bytes came back`));
      } else {
        const digest = (b: Buffer): string => createHash('sha256').update(b).digest('hex').slice(0, 16);
        record(failed('corrupt', 'echo differs', `${echo.data.length} bytes (sha256 ${digest(echo.data)}…) for ${size} sent (${digest(payload)}…)`));
      }
      if (opts.pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, opts.pauseMs));
    }
  } finally {
    if (ws.readyState === WebSocket.OPEN) ws.close(1000, 'done');
    const closed = new Promise<void>((resolve) => (ws.readyState === WebSocket.CLOSED ? resolve() : ws.once('close', () => resolve())));
    await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 5000))]);
    ws.terminate();
  }
}

// -------------------------------------------------------------------------------------- tallying

interface KindTally {
  ok: number;
  units: number;
  bytes: number;
  failures: Record<Severity, Map<string, number>>;
  examples: string[];
}

export interface KindSummary {
  readonly ok: number;
  /** Messages or events for streaming kinds; equal to `ok` for request kinds. */
  readonly units: number;
  readonly bytes: number;
  readonly errors: Record<string, number>;
  readonly truncated: Record<string, number>;
  readonly corrupt: Record<string, number>;
  /** Details of the first failures (integrity failures first). */
  readonly examples: readonly string[];
}

/** Outcomes counted per kind, failures per severity and reason. */
export class Tally {
  private readonly kinds = new Map<string, KindTally>();

  constructor(kinds: readonly string[] = []) {
    for (const kind of kinds) this.kind(kind);
  }

  private kind(name: string): KindTally {
    let k = this.kinds.get(name);
    if (!k) {
      k = { ok: 0, units: 0, bytes: 0, failures: { error: new Map(), truncated: new Map(), corrupt: new Map() }, examples: [] };
      this.kinds.set(name, k);
    }
    return k;
  }

  record(kind: string, outcome: Outcome, at?: number): void {
    const k = this.kind(kind);
    if (outcome.ok) {
      k.ok++;
      k.units += outcome.units;
      k.bytes += outcome.bytes;
      return;
    }
    const reasons = k.failures[outcome.severity];
    reasons.set(outcome.reason, (reasons.get(outcome.reason) ?? 0) + 1);
    const line = `${outcome.severity}${at === undefined ? '' : ` at ${at.toFixed(1)} s`}: ${outcome.detail}`;
    if (outcome.severity !== 'error') k.examples.unshift(line);
    else if (k.examples.length < 8) k.examples.push(line);
    if (k.examples.length > 8) k.examples.length = 8;
  }

  /** Events or bytes that belong to a kind without being an outcome of their own (SSE events). */
  addUnits(kind: string, units: number): void {
    this.kind(kind).units += units;
  }

  count(kind: string, severity: Severity | 'ok'): number {
    const k = this.kinds.get(kind);
    if (!k) return 0;
    if (severity === 'ok') return k.ok;
    let n = 0;
    for (const v of k.failures[severity].values()) n += v;
    return n;
  }

  /** Truncated + corrupt, over every kind. */
  integrityFailures(): number {
    let n = 0;
    for (const kind of this.kinds.keys()) n += this.count(kind, 'truncated') + this.count(kind, 'corrupt');
    return n;
  }

  cleanErrors(): number {
    let n = 0;
    for (const kind of this.kinds.keys()) n += this.count(kind, 'error');
    return n;
  }

  kindNames(): string[] {
    return [...this.kinds.keys()];
  }

  summary(): Record<string, KindSummary> {
    const out: Record<string, KindSummary> = {};
    for (const [name, k] of this.kinds) {
      out[name] = {
        ok: k.ok,
        units: k.units,
        bytes: k.bytes,
        errors: Object.fromEntries(k.failures.error),
        truncated: Object.fromEntries(k.failures.truncated),
        corrupt: Object.fromEntries(k.failures.corrupt),
        examples: k.examples,
      };
    }
    return out;
  }
}

// ------------------------------------------------------------------------------ paced small GETs

export interface PacedGetsOptions {
  /** Concurrent keep-alive connections. */
  readonly workers: number;
  /** Requests per second over all workers. */
  readonly rate: number;
  readonly timeoutMs: number;
  /** Request ids start with this (ids are unique within a run). */
  readonly idPrefix: string;
  /** Checked before each request: false stops the load. */
  readonly going: () => boolean;
}

export interface PacedGetsResult {
  /** Response times of the successful requests, ms. */
  readonly latencies: number[];
  readonly total: number;
  readonly seconds: number;
}

/**
 * Small GETs at a fixed offered rate: each worker sends on its own schedule, one request at a time
 * (a slow answer delays that worker's next request, never bunches them up). `record` gets every
 * outcome with its start time (ms since the load began).
 */
export async function pacedSmallGets(ep: Endpoint, opts: PacedGetsOptions, record: (outcome: Outcome, startedMs: number, ms: number) => void): Promise<PacedGetsResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: opts.workers });
  const latencies: number[] = [];
  let total = 0;
  const started = performance.now();
  const intervalMs = (1000 * opts.workers) / opts.rate;
  const worker = async (w: number): Promise<void> => {
    let due = started + (intervalMs * w) / opts.workers;
    for (let i = 0; opts.going(); i++) {
      const wait = due - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      if (!opts.going()) return;
      const t0 = performance.now();
      const outcome = await smallGet(ep, agent, `${opts.idPrefix}-${w}-${i}`, opts.timeoutMs);
      const ms = performance.now() - t0;
      total++;
      if (outcome.ok) latencies.push(ms);
      record(outcome, t0 - started, ms);
      due = Math.max(due + intervalMs, performance.now());
    }
  };
  try {
    await Promise.all(Array.from({ length: opts.workers }, (_, w) => worker(w)));
  } finally {
    agent.destroy();
  }
  return { latencies, total, seconds: (performance.now() - started) / 1000 };
}
