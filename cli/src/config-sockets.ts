import { readFileSync } from 'node:fs';
import { parseYamlWithPositions, PolicyFileError, readPosternFile, type SocketSpec } from '@postern/shared/policy';
import type { Target } from '@postern/connector';
import type { ApiClient, SocketInfo } from './api-client.js';
import { planApply, runPlan } from './apply-plan.js';
import { CliError } from './errors.js';
import type { ServedSocket } from './serve-sockets.js';

/** The tunnel `connect --config` connects each socket as, made once and then reused. */
export const CONFIG_TUNNEL_NAME = 'connect --config';

/** A socket of the file, with where its streams go. */
export interface ConfigEntry {
  readonly spec: SocketSpec;
  readonly target: Target;
  readonly hostRewrite: string | undefined;
}

/** What `connect --config` did to one socket and its tunnel before serving it. */
export interface ConfigChange {
  readonly socket: 'created' | 'updated' | 'unchanged';
  readonly tunnel: 'created' | 'reused';
}

export interface ConfiguredSocket extends ServedSocket {
  readonly change: ConfigChange;
}

/** `to:` (already checked by the file's schema: http://HOST[:PORT] or tcp://HOST:PORT) as a target. */
function targetOf(to: string): { target: Target; authority: string } {
  const url = new URL(to);
  const port = Number(url.port || 80);
  return { target: { host: url.hostname.replace(/^\[|\]$/g, ''), port }, authority: `${url.hostname}:${port}` };
}

/**
 * The sockets of a postern.yaml for `connect --config`: the file's own parser and schema (issue
 * 14's, shared with `postern apply`), so an unknown key or a bad value is refused with the file,
 * line and key; every entry must name its local target (`to:`).
 */
export function readConfig(file: string): ConfigEntry[] {
  let specs: SocketSpec[];
  try {
    specs = readPosternFile(file);
  } catch (err) {
    if (err instanceof PolicyFileError) throw new CliError(err.message);
    throw err;
  }
  if (specs.length === 0) throw new CliError(`${file}: lists no sockets: nothing to serve`);
  const missing = specs.findIndex((s) => s.to === undefined);
  if (missing >= 0) {
    const { line, col } = parseYamlWithPositions(readFileSync(file, 'utf8'), file).locate(['sockets', missing]);
    throw new CliError(`${file}:${line}:${col}: sockets[${missing}].to: connect --config needs the local target of "${specs[missing]!.name}" (to: http://127.0.0.1:3000 or tcp://127.0.0.1:22)`);
  }
  return specs.map((spec) => {
    const { target, authority } = targetOf(spec.to!);
    const hostRewrite = spec.rewriteHost === true ? authority : typeof spec.rewriteHost === 'string' ? spec.rewriteHost : undefined;
    return { spec, target, hostRewrite };
  });
}

const key = (name: string): string => name.trim().toLowerCase();

/**
 * Makes the edge match the file (what `postern apply` does, without deleting anything) and finds
 * or makes each socket's permanent tunnel: idempotent, a second run changes nothing.
 */
export async function prepareConfig(api: ApiClient, entries: readonly ConfigEntry[]): Promise<ConfiguredSocket[]> {
  const plan = planApply(entries.map((e) => e.spec), await api.listSockets(), false);
  if (plan.conflicts.length > 0) throw new CliError(`${plan.conflicts[0]}${plan.conflicts.length > 1 ? ` (and ${plan.conflicts.length - 1} more)` : ''}`);
  await runPlan(api, plan);
  const changed = new Map(plan.steps.map((s) => [key(s.name), s.op === 'create' ? 'created' : 'updated'] as const));
  const sockets = new Map<string, SocketInfo>();
  for (const s of await api.listSockets()) if (!s.ephemeral) sockets.set(key(s.name), s);
  const out: ConfiguredSocket[] = [];
  for (const entry of entries) {
    const socket = sockets.get(key(entry.spec.name));
    if (!socket) throw new CliError(`socket ${entry.spec.name} is not on the edge after it was created: try again`);
    const existing = (await api.listTunnels(socket.id)).find((t) => t.name === CONFIG_TUNNEL_NAME && !t.ephemeral);
    const tunnel = existing ?? (await api.createTunnel({ socket_id: socket.id, name: CONFIG_TUNNEL_NAME, ephemeral: false }));
    out.push({
      socket,
      tunnelId: tunnel.id,
      target: entry.target,
      hostRewrite: entry.hostRewrite,
      change: { socket: changed.get(key(socket.name)) ?? 'unchanged', tunnel: existing ? 'reused' : 'created' },
    });
  }
  return out;
}
