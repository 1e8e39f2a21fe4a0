import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';

export type KeyPath = readonly (string | number)[];

/** One thing wrong with a policy or a file, at a key (`rules[1].paths[0]`). */
export interface Problem {
  readonly path: KeyPath;
  readonly message: string;
}

/** `['sockets', 0, 'rules', 1, 'paths']` → `sockets[0].rules[1].paths`. */
export const keyPath = (path: KeyPath): string =>
  path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('') || '(top level)';

export const formatProblem = (p: Problem): string => `${keyPath(p.path)}: ${p.message}`;

/** A policy or a file that is not valid, with every problem found. */
export class PolicyError extends Error {
  override readonly name = 'PolicyError';
  constructor(readonly problems: readonly Problem[]) {
    super(problems.length === 1 ? formatProblem(problems[0]!) : `${formatProblem(problems[0]!)} (and ${problems.length - 1} more)`);
  }

  /** The same problems under a parent key (a socket entry inside the file). */
  under(prefix: KeyPath): PolicyError {
    return new PolicyError(this.problems.map((p) => ({ path: [...prefix, ...p.path], message: p.message })));
  }
}

/** Runs `fn` and turns what it throws into a problem at `path`. */
export function at<T>(path: KeyPath, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof PolicyError) throw err.under(path);
    throw new PolicyError([{ path, message: (err as Error).message }]);
  }
}

let ajv: Ajv | undefined;
const validators = new Map<object, ValidateFunction>();

/** A validator for one of our schemas, compiled on first use. */
function validator(schema: object): ValidateFunction {
  let validate = validators.get(schema);
  if (!validate) {
    ajv ??= new Ajv({ allErrors: true, strict: true, allowUnionTypes: true, verbose: true });
    validate = ajv.compile(schema);
    validators.set(schema, validate);
  }
  return validate;
}

/** Throws a PolicyError naming every place `value` breaks `schema`. */
export function checkSchema(schema: object, value: unknown): void {
  const validate = validator(schema);
  if (validate(value)) return;
  throw new PolicyError(schemaProblems(validate.errors ?? []));
}

const TYPE_WORDS: Readonly<Record<string, string>> = {
  array: 'a list',
  object: 'a mapping of keys',
  string: 'text',
  integer: 'a whole number',
  number: 'a number',
  boolean: 'true or false',
  null: 'null',
};

const pathOf = (error: ErrorObject): (string | number)[] =>
  error.instancePath
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));

function messageOf(error: ErrorObject): Problem {
  const path = pathOf(error);
  const params = error.params as Record<string, unknown>;
  const schema = error.parentSchema as { properties?: Record<string, unknown>; description?: string } | undefined;
  switch (error.keyword) {
    case 'required':
      return { path: [...path, String(params.missingProperty)], message: 'is required' };
    case 'additionalProperties': {
      const known = Object.keys(schema?.properties ?? {});
      return { path: [...path, String(params.additionalProperty)], message: `unknown key (known: ${known.join(', ')})` };
    }
    case 'type': {
      const types = ([] as string[]).concat(params.type as string | string[]);
      return { path, message: `must be ${types.map((t) => TYPE_WORDS[t] ?? t).join(' or ')}` };
    }
    case 'enum':
      return { path, message: `must be one of ${(params.allowedValues as unknown[]).join(', ')}` };
    case 'const':
      return { path, message: `must be ${JSON.stringify(params.allowedValue)}` };
    case 'pattern':
      return { path, message: schema?.description ? `must be ${schema.description}` : `must match ${String(params.pattern)}` };
    case 'maxItems':
      return { path, message: `must have at most ${String(params.limit)} items` };
    case 'minItems':
      return { path, message: `must have at least ${String(params.limit)} item${params.limit === 1 ? '' : 's'}` };
    case 'maxLength':
      return { path, message: `must be at most ${String(params.limit)} characters` };
    case 'minLength':
      return { path, message: 'must not be empty' };
    case 'minimum':
      return { path, message: `must be at least ${String(params.limit)}` };
    default:
      return { path, message: error.message ?? 'is not valid' };
  }
}

const isPrefix = (a: string, b: string) => b === a || b.startsWith(`${a}/`);

/**
 * Readable problems from ajv's errors. Where a value may take one of several forms (`default`,
 * `time`), the errors of the forms it clearly is not (a wrong type) are dropped.
 */
export function schemaProblems(errors: readonly ErrorObject[]): Problem[] {
  const specific = errors.filter((e) => e.keyword !== 'oneOf' && e.keyword !== 'anyOf');
  const kept = specific.filter(
    (e) => e.keyword !== 'type' || !specific.some((o) => o !== e && o.keyword !== 'type' && isPrefix(e.instancePath, o.instancePath)),
  );
  const seen = new Set<string>();
  // A wrong key explains a missing one (`socket:` for `sockets:`): say it first.
  const rank = (e: ErrorObject) => (e.keyword === 'additionalProperties' ? 0 : e.keyword === 'required' ? 2 : 1);
  return [...(kept.length > 0 ? kept : errors)].sort((a, b) => rank(a) - rank(b)).map(messageOf).filter((p) => {
    const key = formatProblem(p);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
