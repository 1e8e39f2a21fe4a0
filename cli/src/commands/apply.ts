import { readFileSync } from 'node:fs';
import { importPomerium, normaliseFile, PolicyError, readPosternFile, type SocketSpec } from '@postern/shared/policy';
import type { Command } from 'commander';
import type { ApiClient } from '../api-client.js';
import { planApply, type Plan, type Step } from '../apply-plan.js';
import { apiClient, clientOptions } from '../client-command.js';
import type { ClientOptions } from '../credentials.js';
import { CliError } from '../errors.js';
import { out } from '../output.js';
import { printable } from '../request-line.js';

interface ApplyOptions extends ClientOptions {
  file?: string;
  fromPomerium?: string;
  dryRun?: boolean;
  prune?: boolean;
  json?: boolean;
}

/** The sockets of Pomerium routes, and what of them could not be mapped. */
export function readPomerium(path: string): { specs: SocketSpec[]; report: readonly string[] } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const { entries, report } = importPomerium(text, path);
  try {
    return { specs: normaliseFile({ sockets: entries }), report };
  } catch (err) {
    if (!(err instanceof PolicyError)) throw err;
    const first = err.problems[0]!;
    const entry = entries[Number(first.path[1])];
    throw new CliError(`${path}: the route that became socket "${entry?.name}" does not make a valid socket: ${err.message}`);
  }
}

const SIGN: Readonly<Record<Step['op'], string>> = { create: '+ create', update: '~ update', delete: '- delete' };

function printPlan(plan: Plan, dryRun: boolean): void {
  for (const step of plan.steps) {
    out.line(`${SIGN[step.op]} ${out.highlight(printable(step.name))}`);
    for (const change of step.changes) out.line(`    ${printable(change)}`);
  }
  if (plan.unchanged.length > 0) out.info(`= unchanged: ${plan.unchanged.map(printable).join(', ')}`);
  if (plan.notInFile.length > 0) out.info(`not in the file (kept; --prune deletes them): ${plan.notInFile.map(printable).join(', ')}`);
  const counts = (['create', 'update', 'delete'] as const).map((op) => `${plan.steps.filter((s) => s.op === op).length} to ${op}`).join(', ');
  if (dryRun) out.info(`dry run: nothing changed (${counts})`);
  else if (plan.steps.length === 0) out.success('nothing to change: the edge matches the file');
}

/** Runs the steps in order; a failure stops there and says what was already done. */
async function run(api: ApiClient, plan: Plan, quiet: boolean): Promise<void> {
  const done: string[] = [];
  for (const step of plan.steps) {
    try {
      if (step.op === 'create') await api.createSocket(step.body);
      else if (step.op === 'update') await api.updateSocket(step.id, step.body);
      else await api.deleteSocket(step.id);
    } catch (err) {
      const before = done.length > 0 ? `; already done: ${done.join(', ')}` : '; nothing was changed';
      throw new CliError(`${step.op} ${step.name} failed: ${(err as Error).message}${before}`);
    }
    done.push(`${step.op} ${step.name}`);
    if (!quiet) out.success(`${step.op === 'create' ? 'created' : step.op === 'update' ? 'updated' : 'deleted'} ${printable(step.name)}`);
  }
}

export function registerApply(program: Command): void {
  clientOptions(
    program
      .command('apply')
      .description("make your sockets and their policies match a postern.yaml (idempotent); --dry-run shows the changes first")
      .option('-f, --file <file>', 'the postern.yaml to apply (format: docs/POLICY.md)')
      .option('--from-pomerium <file>', 'import Pomerium routes (from, to, allowed_users, allowed_domains, allowed_groups, …) and report what does not map')
      .option('--dry-run', 'print what would change, change nothing')
      .option('--prune', 'also delete your permanent sockets the file does not list (quick shares are never touched)'),
  ).action(async (opts: ApplyOptions) => {
    if (Boolean(opts.file) === Boolean(opts.fromPomerium)) throw new CliError('give the file to apply: -f postern.yaml, or --from-pomerium policy.yaml');
    const { specs, report } = opts.file ? { specs: readPosternFile(opts.file), report: [] } : readPomerium(opts.fromPomerium!);
    const api = apiClient(opts);
    const plan = planApply(specs, await api.listSockets(), Boolean(opts.prune));
    if (plan.conflicts.length > 0) throw new CliError(`${plan.conflicts[0]}${plan.conflicts.length > 1 ? ` (and ${plan.conflicts.length - 1} more)` : ''}`);
    if (opts.json) {
      if (!opts.dryRun) await run(api, plan, true);
      return out.json({
        dry_run: Boolean(opts.dryRun),
        changes: plan.steps.map(({ op, name, changes, ...rest }) => ({ op, name, ...('id' in rest ? { id: rest.id } : {}), changes })),
        unchanged: plan.unchanged,
        not_in_file: plan.notInFile,
        not_mapped: report,
      });
    }
    for (const line of report) out.warn(printable(line));
    printPlan(plan, Boolean(opts.dryRun));
    if (!opts.dryRun) await run(api, plan, false);
  });
}
