import type { CreateSocketBody, UpdateSocketBody } from '@postern/edge';
import { DEFAULT_IDENTITY_HEADERS, formatByteSize } from '@postern/edge/client';
import { describePolicy, type Policy, type SocketSpec } from '@postern/shared/policy';
import type { SocketInfo } from './api-client.js';

/** One step of `postern apply`: what it does, in words, and the API call that does it. */
export type Step =
  | { readonly op: 'create'; readonly name: string; readonly changes: readonly string[]; readonly body: CreateSocketBody }
  | { readonly op: 'update'; readonly name: string; readonly id: string; readonly changes: readonly string[]; readonly body: UpdateSocketBody }
  | { readonly op: 'delete'; readonly name: string; readonly id: string; readonly changes: readonly string[] };

export interface Plan {
  readonly steps: readonly Step[];
  readonly unchanged: readonly string[];
  /** Permanent sockets the file does not list (deleted only with --prune). */
  readonly notInFile: readonly string[];
  /** Entries that cannot be applied (a protocol cannot change). */
  readonly conflicts: readonly string[];
}

const key = (name: string): string => name.trim().toLowerCase();

const policyOf = (socket: SocketInfo): Policy => ({ version: 1, rules: socket.rules, default: socket.default });

/** The header names the app would receive; unnamed ones are the edge's defaults. */
const headersOf = (names: SocketSpec['identityHeaders']) => ({
  email: (names?.email ?? DEFAULT_IDENTITY_HEADERS.email).toLowerCase(),
  user: (names?.user ?? DEFAULT_IDENTITY_HEADERS.user).toLowerCase(),
});

const bodyLimit = (bytes: number | null): string => (bytes === null ? "the edge's default" : formatByteSize(bytes));

/** `- rules[0]: …` / `+ rules[0]: …` for the lines of describe() that differ. */
function policyChanges(before: Policy, after: Policy): string[] {
  const old = describePolicy(before);
  const next = describePolicy(after);
  return [...old.filter((l) => !next.includes(l)).map((l) => `- ${l}`), ...next.filter((l) => !old.includes(l)).map((l) => `+ ${l}`)];
}

const samePolicy = (a: Policy, b: Policy): boolean => JSON.stringify([a.rules, a.default]) === JSON.stringify([b.rules, b.default]);

/**
 * What makes the account's permanent sockets match the file: create what is missing, update what
 * differs, delete (with `prune`) what the file does not list. Quick shares are never touched.
 * Sockets are matched by name; the policies compared are both in normal form.
 */
export function planApply(specs: readonly SocketSpec[], sockets: readonly SocketInfo[], prune: boolean): Plan {
  const permanent = sockets.filter((s) => !s.ephemeral);
  const byName = new Map(permanent.map((s) => [key(s.name), s]));
  const steps: Step[] = [];
  const unchanged: string[] = [];
  const conflicts: string[] = [];
  for (const spec of specs) {
    const current = byName.get(key(spec.name));
    const maxBody = spec.maxBodyBytes ?? null;
    const crossOrigin = spec.allowCrossOriginRequests ?? false;
    if (!current) {
      steps.push({
        op: 'create',
        name: spec.name,
        changes: [
          `protocol ${spec.protocol}`,
          ...describePolicy(spec.policy).map((l) => `+ ${l}`),
          ...(maxBody !== null ? [`max body ${bodyLimit(maxBody)}`] : []),
          ...(crossOrigin ? ['cross-origin requests allowed'] : []),
        ],
        body: {
          name: spec.name,
          protocol: spec.protocol,
          rules: spec.policy.rules,
          default: spec.policy.default,
          ...(spec.identityHeaders ? { identity_headers: { ...spec.identityHeaders } } : {}),
          ...(maxBody !== null ? { max_body_bytes: maxBody } : {}),
          ...(crossOrigin ? { allow_cross_origin_requests: true } : {}),
        },
      });
      continue;
    }
    if (current.protocol !== spec.protocol) {
      conflicts.push(`${spec.name}: the socket is ${current.protocol} and the file says ${spec.protocol}; a protocol cannot change (delete the socket first)`);
      continue;
    }
    const changes: string[] = [];
    const body: UpdateSocketBody = {};
    if (!samePolicy(policyOf(current), spec.policy)) {
      changes.push(...policyChanges(policyOf(current), spec.policy));
      Object.assign(body, { rules: spec.policy.rules, default: spec.policy.default });
    }
    const wanted = headersOf(spec.identityHeaders);
    const have = headersOf(current.identity_headers);
    if (wanted.email !== have.email || wanted.user !== have.user) {
      changes.push(`identity headers ${current.identity_headers.email}, ${current.identity_headers.user} → ${spec.identityHeaders?.email ?? DEFAULT_IDENTITY_HEADERS.email}, ${spec.identityHeaders?.user ?? DEFAULT_IDENTITY_HEADERS.user}`);
      body.identity_headers = { ...spec.identityHeaders };
    }
    if (maxBody !== current.max_body_bytes) {
      changes.push(`max body ${bodyLimit(current.max_body_bytes)} → ${bodyLimit(maxBody)}`);
      body.max_body_bytes = maxBody;
    }
    if (crossOrigin !== current.allow_cross_origin_requests) {
      changes.push(`cross-origin requests ${crossOrigin ? 'allowed' : 'refused'}`);
      body.allow_cross_origin_requests = crossOrigin;
    }
    if (changes.length === 0) unchanged.push(current.name);
    else steps.push({ op: 'update', name: current.name, id: current.id, changes, body });
  }
  const listed = new Set(specs.map((s) => key(s.name)));
  const extra = permanent.filter((s) => !listed.has(key(s.name)));
  if (prune) for (const s of extra) steps.push({ op: 'delete', name: s.name, id: s.id, changes: [`${s.hostname}, its tunnels and every connection to it`] });
  return { steps, unchanged, notInFile: prune ? [] : extra.map((s) => s.name), conflicts };
}
