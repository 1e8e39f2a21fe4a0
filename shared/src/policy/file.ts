/**
 * `postern.yaml`: sockets and their policies, one entry each. Read by `postern apply` and
 * `postern connect --config`, written by `postern export`. Every error names the file, the line
 * and the key (`postern.yaml:12:9: sockets[0].rules[1].action: must be one of public, allow, deny`).
 */
import { readFileSync } from 'node:fs';
import { Document, isMap, isScalar, isSeq, LineCounter, parseDocument, visit } from 'yaml';
import { HOST_REWRITE_VALUE } from '../frame.js';
import { IDENTITY_FIELDS } from './fields.js';
import { policyInputSchema, resolvePolicy, type PolicyInput } from './normalise.js';
import { at, checkSchema, formatProblem, PolicyError, type KeyPath, type Problem } from './problems.js';
import { fileSchema } from './schema.js';
import type { Policy, SocketProtocol } from './types.js';

/** One socket as the file describes it, normalised. */
export interface SocketSpec {
  readonly name: string;
  readonly protocol: SocketProtocol;
  /** The connector's local target (`http://127.0.0.1:3000`, `tcp://127.0.0.1:22`); the edge never sees it. */
  readonly to?: string;
  readonly rewriteHost?: boolean | string;
  readonly policy: Policy;
  readonly identityHeaders?: { readonly email?: string; readonly user?: string };
  /** Undefined: not set by the file (the edge's default); null: explicitly the edge's default. */
  readonly maxBodyBytes?: number | null;
  /** Signed-in POST/PUT/PATCH/DELETE from other origins reach the app (undefined: no, the default). */
  readonly allowCrossOriginRequests?: boolean;
}

/** A socket entry as written (snake_case, the default in shorthand where it fits). */
export type SocketEntry = Readonly<Record<string, unknown>> & { readonly name: string };

export interface LocatedProblem extends Problem {
  readonly line: number;
  readonly col: number;
}

export class PolicyFileError extends Error {
  override readonly name = 'PolicyFileError';
  constructor(
    readonly file: string,
    readonly problems: readonly LocatedProblem[],
  ) {
    const first = problems[0]!;
    super(`${file}:${first.line}:${first.col}: ${formatProblem(first)}${problems.length > 1 ? ` (and ${problems.length - 1} more)` : ''}`);
  }

  /** Every problem, one line each. */
  lines(): string[] {
    return this.problems.map((p) => `${this.file}:${p.line}:${p.col}: ${formatProblem(p)}`);
  }
}

/** Where a key path sits in the YAML source: the key of a mapping entry, or the item of a list. */
function locate(doc: Document, lines: LineCounter, path: KeyPath): { line: number; col: number } {
  let node: unknown = doc.contents;
  let offset = (doc.contents as { range?: number[] } | null)?.range?.[0] ?? 0;
  for (const key of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(key));
      if (!pair) break;
      offset = (pair.key as { range?: number[] }).range?.[0] ?? offset;
      node = pair.value;
    } else if (isSeq(node)) {
      const item = node.items[Number(key)] as { range?: number[] } | undefined;
      if (!item) break;
      offset = item.range?.[0] ?? offset;
      node = item;
    } else break;
  }
  return lines.linePos(offset);
}

/** Parses YAML (or JSON) text, keeping positions; a syntax error is a PolicyFileError. */
export function parseYamlWithPositions(text: string, file: string): { value: unknown; locate: (path: KeyPath) => { line: number; col: number } } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new PolicyFileError(
      file,
      doc.errors.map((e) => {
        const [line, col] = e.linePos ? [e.linePos[0].line, e.linePos[0].col] : [1, 1];
        return { path: [], message: `${e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}${aliasHint(e.message)}`, line, col };
      }),
    );
  }
  try {
    return { value: doc.toJS({ maxAliasCount: 100 }) as unknown, locate: (path) => locate(doc, lines, path) };
  } catch (err) {
    // An alias with no anchor (`[*.corp.com]`, unquoted) fails only when the value is built.
    let offset = 0;
    visit(doc, { Alias: (_, node) => void (offset ||= node.range?.[0] ?? 0) });
    const message = (err as Error).message;
    throw new PolicyFileError(file, [{ path: [], message: `${message}${aliasHint(message)}`, ...lines.linePos(offset) }]);
  }
}

const aliasHint = (message: string): string => (/alias/i.test(message) ? ' (quote values that start with *, such as "*.corp.com")' : '');

const HTTP_TARGET = /^(http|tcp):\/\/([^/?#]+?)(?::(\d{1,5}))?\/?$/;

function checkTarget(to: string, protocol: SocketProtocol): void {
  const m = HTTP_TARGET.exec(to);
  const port = m?.[3] === undefined ? (m?.[1] === 'http' ? 80 : NaN) : Number(m[3]);
  if (!m || !(port >= 1 && port <= 65535)) throw new Error('must be http://HOST:PORT or tcp://HOST:PORT (the connector adds no path)');
  if ((m[1] === 'tcp') !== (protocol === 'tcp')) throw new Error(`is a ${m[1]}:// target, but the socket's protocol is ${protocol}`);
}

function checkRewriteHost(value: boolean | string): void {
  if (typeof value === 'string' && !HOST_REWRITE_VALUE.test(value)) throw new Error(`must be true, false or a host[:port] such as grafana.internal:3000, not "${value}"`);
}

const POLICY_KEYS = ['cloudauth', ...IDENTITY_FIELDS.map((f) => f.shorthand), 'rules', 'default'] as const;

/** One entry (already schema-checked) → its normalised spec. */
function normaliseEntry(entry: SocketEntry): SocketSpec {
  const to = entry.to as string | undefined;
  const protocol = (entry.protocol as SocketProtocol | undefined) ?? (to?.startsWith('tcp://') ? 'tcp' : 'http');
  if (to !== undefined) at(['to'], () => checkTarget(to, protocol));
  if (entry.rewrite_host !== undefined) at(['rewrite_host'], () => checkRewriteHost(entry.rewrite_host as boolean | string));
  const input = Object.fromEntries(POLICY_KEYS.filter((k) => entry[k] !== undefined).map((k) => [k, entry[k]])) as PolicyInput;
  const policy = resolvePolicy(input, undefined, protocol);
  return {
    name: entry.name.trim(),
    protocol,
    ...(to !== undefined ? { to } : {}),
    ...(entry.rewrite_host !== undefined ? { rewriteHost: entry.rewrite_host as boolean | string } : {}),
    policy,
    ...(entry.identity_headers !== undefined ? { identityHeaders: entry.identity_headers as SocketSpec['identityHeaders'] } : {}),
    ...(entry.max_body_bytes !== undefined ? { maxBodyBytes: entry.max_body_bytes as number | null } : {}),
    ...(entry.allow_cross_origin_requests !== undefined ? { allowCrossOriginRequests: entry.allow_cross_origin_requests as boolean } : {}),
  };
}

/** Checks a parsed file against the schema and normalises every entry; all problems at once. */
export function normaliseFile(value: unknown): SocketSpec[] {
  checkSchema(fileSchema, value);
  const entries = (value as { sockets: SocketEntry[] }).sockets;
  const problems: Problem[] = [];
  const seen = new Map<string, number>();
  const specs = entries.map((entry, i) => {
    const name = entry.name.trim().toLowerCase();
    const first = seen.get(name);
    if (first !== undefined) problems.push({ path: ['sockets', i, 'name'], message: `"${entry.name}" is already the name of sockets[${first}]` });
    else seen.set(name, i);
    try {
      return normaliseEntry(entry);
    } catch (err) {
      if (!(err instanceof PolicyError)) throw err;
      problems.push(...err.under(['sockets', i]).problems);
      return undefined;
    }
  });
  if (problems.length > 0) throw new PolicyError(problems);
  return specs as SocketSpec[];
}

/** The sockets of a `postern.yaml` text. Throws PolicyFileError (file, line, key). */
export function parsePosternFile(text: string, file: string): SocketSpec[] {
  const { value, locate: where } = parseYamlWithPositions(text, file);
  try {
    return normaliseFile(value);
  } catch (err) {
    if (!(err instanceof PolicyError)) throw err;
    throw new PolicyFileError(file, err.problems.map((p) => ({ ...p, ...where(p.path) })));
  }
}

/** Reads and parses a `postern.yaml` file. */
export function readPosternFile(path: string): SocketSpec[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new PolicyFileError(path, [{ path: [], message: `cannot read the file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, line: 1, col: 1 }]);
  }
  return parsePosternFile(text, path);
}

const policyOnlySchema = { ...policyInputSchema, additionalProperties: false };

/**
 * The policy of `--policy-file` and `policy diff --file`: a postern.yaml with one socket (or with
 * several, one of them named `name`), or a file that is only a policy (`rules:`, `default:`,
 * `cloudauth:`, `allowed_*:` at the top). Throws PolicyFileError.
 */
export function readPolicyFile(path: string, protocol: SocketProtocol, name?: string): Policy {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new PolicyFileError(path, [{ path: [], message: `cannot read the file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, line: 1, col: 1 }]);
  }
  const { value, locate: where } = parseYamlWithPositions(text, path);
  try {
    if (typeof value === 'object' && value !== null && 'sockets' in value) {
      const specs = normaliseFile(value);
      const named = name === undefined ? -1 : specs.findIndex((s) => s.name.toLowerCase() === name.trim().toLowerCase());
      const index = named >= 0 ? named : specs.length === 1 ? 0 : -1;
      if (index < 0) {
        const which = name === undefined ? 'a policy file describes one' : `none is named "${name}"`;
        throw new PolicyError([{ path: ['sockets'], message: `lists ${specs.length} sockets; ${which}` }]);
      }
      const spec = specs[index]!;
      if (spec.protocol !== protocol) throw new PolicyError([{ path: ['sockets', index, 'protocol'], message: `is ${spec.protocol}, but the socket is ${protocol}` }]);
      return spec.policy;
    }
    checkSchema(policyOnlySchema, value ?? {});
    return resolvePolicy((value ?? {}) as PolicyInput, undefined, protocol);
  } catch (err) {
    if (!(err instanceof PolicyError)) throw err;
    throw new PolicyFileError(path, err.problems.map((p) => ({ ...p, ...where(p.path) })));
  }
}

/** The policy keys of an entry: the default in shorthand (`cloudauth`, `allowed_*`) where it fits. */
function policyEntryFields(policy: Policy): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const fallback = policy.default;
  if (fallback.action === 'allow' && !fallback.anyone_signed_in) {
    out.cloudauth = true;
    for (const field of IDENTITY_FIELDS) if (fallback[field.key]) out[field.shorthand] = fallback[field.key];
  } else if (fallback.action === 'allow') out.default = fallback;
  else if (fallback.action === 'deny') out.default = 'deny';
  else if (policy.rules.length === 0) out.cloudauth = false;
  else out.default = 'public';
  if (policy.rules.length > 0) out.rules = policy.rules;
  return out;
}

/** A spec as a file entry (what `postern export` writes). */
export function entryOf(spec: SocketSpec): SocketEntry {
  return {
    name: spec.name,
    ...(spec.to !== undefined ? { to: spec.to } : {}),
    protocol: spec.protocol,
    ...(spec.rewriteHost !== undefined ? { rewrite_host: spec.rewriteHost } : {}),
    ...policyEntryFields(spec.policy),
    ...(spec.identityHeaders && Object.keys(spec.identityHeaders).length > 0 ? { identity_headers: spec.identityHeaders } : {}),
    ...(spec.maxBodyBytes !== undefined && spec.maxBodyBytes !== null ? { max_body_bytes: spec.maxBodyBytes } : {}),
    ...(spec.allowCrossOriginRequests ? { allow_cross_origin_requests: true } : {}),
  };
}

/** A whole file, after a comment that names its format. */
export function formatPosternFile(entries: readonly SocketEntry[], comment?: string): string {
  const lines = ['postern.yaml: the format is docs/POLICY.md, the JSON Schema docs/postern.schema.json', ...(comment ? comment.split('\n') : [])];
  const doc = new Document({ sockets: entries });
  // Lists of plain values on one line (`paths: [/admin/*]`), as people write them.
  visit(doc, { Seq: (_, node) => void (node.flow = node.items.every(isScalar)) });
  return `${lines.map((l) => `# ${l}`.trimEnd()).join('\n')}\n${doc.toString({ lineWidth: 0, flowCollectionPadding: false })}`;
}
