import { defaultSchema, rulesSchema, shorthandProperties, IDENTITY_FIELDS } from '@postern/shared/policy';
import { EDGE_ERRORS } from '../errors.js';

/** JSON schemas shared by the API routes; @fastify/swagger turns them into the OpenAPI document. */

const str = { type: 'string' } as const;
const nullableStr = { type: ['string', 'null'] } as const;
const bool = { type: 'boolean' } as const;
const int = { type: 'integer' } as const;
const strings = { type: 'array', items: str } as const;

const headerName = { type: 'string', pattern: '^[A-Za-z0-9-]{1,64}$' } as const;

export const errorSchema = {
  $id: 'Error',
  type: 'object',
  description: 'Every error: a stable machine-readable code and a sentence for people.',
  properties: {
    error: {
      type: 'object',
      properties: { code: { type: 'string', enum: Object.keys(EDGE_ERRORS) }, message: str },
      required: ['code', 'message'],
    },
  },
  required: ['error'],
} as const;

/**
 * A socket's policy as create and update take it: `rules` and `default` as in postern.yaml, and the
 * default's shorthand (`cloudauth`, `allowed_*`) as today's flags set it. Built from the policy's
 * field list (@postern/shared/policy), as the file's JSON Schema is.
 */
export const policyProperties = {
  ...shorthandProperties,
  rules: { ...rulesSchema, description: 'Ordered; the first rule that applies decides. Replaces the old list.' },
  default: defaultSchema,
  identity_headers: {
    type: 'object',
    additionalProperties: false,
    properties: { email: headerName, user: headerName },
  },
} as const;

/** Largest per-socket body limit (1 TiB): a number the JSON and SQLite sides both hold exactly. */
export const MAX_SOCKET_BODY_BYTES = 1024 ** 4;

/** Limits a socket's owner sets; shared by create and update. */
export const limitProperties = {
  max_body_bytes: {
    type: ['integer', 'null'],
    minimum: 1,
    maximum: MAX_SOCKET_BODY_BYTES,
    description: "Largest request body in bytes (413 above it); null uses the edge's --max-body-bytes.",
  },
  allow_cross_origin_requests: {
    ...bool,
    description:
      'Let cookie-authenticated POST, PUT, PATCH and DELETE requests from pages of other origins (sibling sockets included) reach the app. Off by default: the edge refuses them with 403 CROSS_ORIGIN_REQUEST. Turn it on only for an app that protects itself against cross-site request forgery.',
  },
} as const;

export const socketName = { type: 'string', minLength: 1, maxLength: 63 } as const;

export const socketSchema = {
  $id: 'Socket',
  type: 'object',
  properties: {
    id: str,
    name: str,
    hostname: str,
    url: str,
    protocol: { type: 'string', enum: ['http', 'tcp'] },
    cloudauth: { ...bool, description: 'the default is not public: sign-in is required unless a rule says otherwise' },
    ...Object.fromEntries(IDENTITY_FIELDS.map((f) => [f.shorthand, { ...strings, description: `the default rule's ${f.key}` }])),
    rules: { type: 'array', items: { type: 'object', additionalProperties: true }, description: 'as postern.yaml writes them (see the request schema)' },
    default: { type: ['string', 'object'], additionalProperties: true },
    policy_revision: { ...int, description: 'goes up by one with every change of the policy' },
    access: { ...strings, description: 'the policy in words, one line per rule, then the default' },
    identity_headers: { type: 'object', properties: { email: str, user: str } },
    max_body_bytes: { type: ['integer', 'null'], description: "null: the edge's default applies" },
    allow_cross_origin_requests: bool,
    ephemeral: bool,
    created_at: str,
    online: bool,
    connections: int,
    removal_at: { ...nullableStr, description: 'a quick share without a connector: when the edge removes it (null otherwise)' },
  },
} as const;

export const tunnelSchema = {
  $id: 'Tunnel',
  type: 'object',
  properties: {
    id: str,
    socket_id: str,
    name: str,
    ephemeral: bool,
    status: { type: 'string', enum: ['connected', 'offline'] },
    connections: int,
    live_connections: {
      type: 'array',
      items: { type: 'object', properties: { id: str, edge_id: str, edge_url: str, connected_at: str } },
    },
    created_at: str,
    last_connected_at: nullableStr,
  },
} as const;

export const tokenSchema = {
  $id: 'Token',
  type: 'object',
  properties: {
    id: str,
    name: str,
    prefix: str,
    created_at: str,
    expires_at: nullableStr,
    revoked_at: nullableStr,
    last_used_at: nullableStr,
    current: bool,
  },
} as const;

export const auditEventSchema = {
  $id: 'AuditEvent',
  type: 'object',
  properties: {
    id: int,
    at: str,
    type: str,
    socket_id: nullableStr,
    actor: nullableStr,
    remote: nullableStr,
    detail: { type: 'object', additionalProperties: true },
  },
} as const;

export const ref = (id: string) => ({ $ref: `${id}#` }) as const;
export const listOf = (id: string) => ({ type: 'array', items: ref(id) }) as const;

/** Error responses every authenticated route may give. */
export const authErrors = { 400: ref('Error'), 401: ref('Error') } as const;

export const idParams = (prefix: string) =>
  ({
    type: 'object',
    required: ['id'],
    properties: { id: { type: 'string', pattern: `^${prefix}_[a-z0-9]{10,12}$` } },
  }) as const;
