/** `@postern/shared/policy`: the policy datum and `postern.yaml`, for the edge, the CLI and connectors (no edge code). */
export {
  POLICY_VERSION,
  ACTIONS,
  WEEKDAYS,
  type Action,
  type Weekday,
  type TimeWindow,
  type IdentityConditions,
  type ContextConditions,
  type Rule,
  type DefaultRule,
  type Policy,
  type SocketProtocol,
  type Identity,
  type RequestFacts,
} from './types.js';
export { normalizeEmail, normalizeDomain, emailDomain } from './email.js';
export { IDENTITY_FIELDS, CONTEXT_FIELDS, MATCH_FIELDS, RULE_KEYS, shorthandLists, type IdentityField, type IdentityKey, type ShorthandKey } from './fields.js';
export { requestPath, type RequestPath } from './paths.js';
export { PolicyError, keyPath, formatProblem, type Problem, type KeyPath } from './problems.js';
export { resolvePolicy, policyInputSchema, PUBLIC_POLICY, type PolicyInput } from './normalise.js';
export { ruleSchema, rulesSchema, defaultSchema, policySchema, shorthandProperties, socketEntrySchema, fileSchema, MAX_RULES } from './schema.js';
export { CompiledPolicy, type Verdict } from './compile.js';
export { describeRule, describeDefault, describePolicy, describeAccess, describePeople, ruleLabel } from './describe.js';
export {
  parsePosternFile,
  readPosternFile,
  readPolicyFile,
  normaliseFile,
  normaliseEntry,
  entryOf,
  policyEntryFields,
  formatPosternFile,
  PolicyFileError,
  type SocketSpec,
  type SocketEntry,
  type LocatedProblem,
} from './file.js';
export { importPomerium, type PomeriumImport } from './pomerium.js';
