/** One entry of a Fastify (ajv) validation error. */
interface ValidationIssue {
  readonly keyword: string;
  readonly instancePath: string;
  readonly params: Record<string, unknown>;
  readonly message?: string;
}

/**
 * A sentence naming the field at fault: `body.allowed_email_domains[0] must NOT have fewer than 1
 * characters`, `body has an unknown field "bogus"`.
 */
export function validationMessage(context: string | undefined, issues: readonly ValidationIssue[]): string {
  const issue = issues[0];
  if (!issue) return 'invalid request';
  const where = `${context ?? 'request'}${issue.instancePath.replace(/\/(\d+)/g, '[$1]').replace(/\//g, '.')}`;
  if (issue.keyword === 'additionalProperties') return `${where} has an unknown field "${String(issue.params.additionalProperty)}"`;
  if (issue.keyword === 'enum') return `${where} must be one of ${(issue.params.allowedValues as unknown[]).map(String).join(', ')}`;
  return `${where} ${issue.message ?? 'is invalid'}`;
}
