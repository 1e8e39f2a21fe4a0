/**
 * JSON Schemas of a policy and of `postern.yaml`, built from the field list (fields.ts). The edge's
 * API embeds the same rule and default schemas; docs/postern.schema.json is this file's output.
 */
import { ANYONE_SIGNED_IN_SCHEMA, CONTEXT_FIELDS, IDENTITY_FIELDS, MATCH_FIELDS } from './fields.js';
import { ACTIONS, POLICY_VERSION } from './types.js';

type JsonSchema = Record<string, unknown>;

const identityProperties = Object.fromEntries([...IDENTITY_FIELDS.map((f) => [f.key, f.schema]), ['anyone_signed_in', ANYONE_SIGNED_IN_SCHEMA]]);

const MAX_RULES = 500;

const ruleSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['action'],
  description: 'Applies when its paths and methods match and all its conditions hold; the first rule that applies decides.',
  properties: {
    ...Object.fromEntries(MATCH_FIELDS.map((f) => [f.key, f.schema])),
    action: { enum: [...ACTIONS], description: 'public: no sign-in and no identity headers; allow: the people named; deny' },
    ...identityProperties,
    ...Object.fromEntries(CONTEXT_FIELDS.map((f) => [f.key, f.schema])),
  },
};

export const defaultSchema: JsonSchema = {
  description: 'What applies when no rule does. allow: the owner and whoever the lists (or allowed_* fields) name.',
  oneOf: [
    { enum: [...ACTIONS] },
    { type: 'object', additionalProperties: false, required: ['action'], properties: { action: { enum: [...ACTIONS] }, ...identityProperties } },
  ],
};

export const rulesSchema: JsonSchema = { type: 'array', maxItems: MAX_RULES, items: ruleSchema };

const headerName = { type: 'string', pattern: '^[A-Za-z0-9-]{1,64}$' };

/** The shorthand fields of the default rule (today's flags), shared by the file and the API. */
export const shorthandProperties: JsonSchema = {
  cloudauth: { type: 'boolean', description: 'sign-in required by default (default: allow); false: the default is public' },
  ...Object.fromEntries(IDENTITY_FIELDS.map((f) => [f.shorthand, { ...f.schema, description: `the default rule's ${f.key}: ${String(f.schema.description)}` }])),
};

/** One socket of `postern.yaml` (also what `postern connect --config` serves). */
const socketEntrySchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 63, description: 'the socket name; its hostname is <name>-<account>' },
    to: { type: 'string', pattern: '^(http|tcp)://', description: "the connector's local target: http://127.0.0.1:3000 or tcp://127.0.0.1:22 (used by postern connect --config)" },
    protocol: { enum: ['http', 'tcp'], description: 'default: tcp when `to` is tcp://, else http' },
    rewrite_host: { type: ['boolean', 'string'], description: 'send the app this Host header (true: the host:port of `to`)' },
    ...shorthandProperties,
    rules: rulesSchema,
    default: defaultSchema,
    identity_headers: { type: 'object', additionalProperties: false, properties: { email: headerName, user: headerName } },
    max_body_bytes: { type: ['integer', 'null'], minimum: 1, description: "largest request body; null: the edge's default" },
    allow_cross_origin_requests: { type: 'boolean', description: 'let signed-in POST/PUT/PATCH/DELETE from pages of other origins reach the app (default false)' },
  },
};

export const fileSchema: JsonSchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'urn:postern:postern.schema.json',
  title: 'postern.yaml',
  description: 'Sockets and their policies: read by postern apply, written by postern export, served by postern connect --config.',
  type: 'object',
  additionalProperties: false,
  required: ['sockets'],
  properties: {
    version: { const: POLICY_VERSION },
    sockets: { type: 'array', maxItems: 1000, items: socketEntrySchema },
  },
};
