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
export { normalizeEmail } from './email.js';
export { IDENTITY_FIELDS, shorthandLists, type IdentityField, type IdentityKey, type ShorthandKey } from './fields.js';
export { requestPath, type RequestPath } from './paths.js';
export { PolicyError, formatProblem, type Problem, type KeyPath } from './problems.js';
export { resolvePolicy, policyInputSchema, PUBLIC_POLICY, type PolicyInput } from './normalise.js';
export { rulesSchema, defaultSchema, shorthandProperties, fileSchema } from './schema.js';
export { CompiledPolicy, type Verdict } from './compile.js';
export { describeRule, describeDefault, describePolicy, describeAccess } from './describe.js';
export {
  parsePosternFile,
  readPosternFile,
  readPolicyFile,
  normaliseFile,
  entryOf,
  formatPosternFile,
  PolicyFileError,
  type SocketSpec,
  type SocketEntry,
  type LocatedProblem,
} from './file.js';
export { importPomerium, type PomeriumImport } from './pomerium.js';
