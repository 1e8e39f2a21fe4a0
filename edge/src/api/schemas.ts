import { EDGE_ERRORS } from '../errors.js';

/** JSON schemas shared by the API routes; @fastify/swagger turns them into the OpenAPI document. */

const str = { type: 'string' } as const;
const nullableStr = { type: ['string', 'null'] } as const;
const bool = { type: 'boolean' } as const;
const int = { type: 'integer' } as const;
const strings = { type: 'array', items: str } as const;

export const stringList = { type: 'array', maxItems: 100, items: { type: 'string', minLength: 1, maxLength: 254 } } as const;
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

/** Fields a socket's rules are made of; shared by create and update. */
export const ruleProperties = {
  cloudauth: { ...bool, description: 'Sign-in required. Without it the socket is public. Any allowed_* rule turns it on.' },
  allowed_email_domains: { ...stringList, description: 'corp.com, or *.corp.com for its subdomains only' },
  allowed_email_addresses: stringList,
  allowed_github_orgs: stringList,
  allowed_github_teams: { ...stringList, description: 'org/team-slug' },
  allowed_groups: { ...stringList, description: "values of the IdP's groups claim" },
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
    cloudauth: bool,
    allowed_email_domains: strings,
    allowed_email_addresses: strings,
    allowed_github_orgs: strings,
    allowed_github_teams: strings,
    allowed_groups: strings,
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
