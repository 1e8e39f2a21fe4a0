import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Option, type Command } from 'commander';
import { ApiClient } from '../api-client.js';
import { resolveCredentials } from '../credentials.js';
import { writePrivateFile } from '../credential-store.js';
import { CliError } from '../errors.js';
import { out } from '../output.js';
import { parseDuration, parseIntInRange } from '../parse.js';
import { checkWithEdge, executable, parseServed, unreadableBySystemService, withoutCredentialFlags } from '../service/served.js';
import { defaultScope, journal, scopePaths, systemctl, unitState } from '../service/systemd.js';
import { checkServiceName, readRecord, renderUnit, unitName, type Scope, type ServiceRecord } from '../service/unit.js';
import { table } from '../table.js';
import { VERSION } from '../version.js';

interface ScopeOptions {
  user?: boolean;
  system?: boolean;
}

/** --user / --system: where to install (`install`), or where to look (the others: both by default). */
const addScopeOptions = (command: Command, install = false): Command =>
  command
    .addOption(new Option('--user', install ? "a service of your user (systemctl --user; the default unless root)" : "only your user's services").conflicts('system'))
    .addOption(new Option('--system', install ? 'a system service, started at boot (the default for root)' : "only the system's services"));

const scopeOf = (opts: ScopeOptions): Scope => (opts.user ? 'user' : opts.system ? 'system' : defaultScope());

interface InstallOptions extends ScopeOptions {
  name: string;
  dryRun?: boolean;
  json?: boolean;
}

async function install(command: string[], opts: InstallOptions): Promise<void> {
  const name = checkServiceName(opts.name);
  const scope = scopeOf(opts);
  const served = parseServed(command);
  const tokenFileFlag = served.opts.tokenFile as string | undefined;
  const creds = resolveCredentials({ edge: served.opts.edge as string[] | undefined, tokenFile: tokenFileFlag });
  // A token given for it (--token-file, POSTERN_TOKEN) is the service's; one from "postern login"
  // is not copied: the service gets a token of its own, which logging out does not end.
  const ownToken = tokenFileFlag === undefined && process.env.POSTERN_TOKEN === undefined;
  const paths = scopePaths(scope);
  const unitFile = join(paths.unitDir, unitName(name));
  const tokenFile = join(paths.tokenDir, `${name}.token`);
  const exec = executable();
  const graceMs = typeof served.opts.grace === 'string' ? parseDuration(served.opts.grace, '--grace') : 30_000;
  const unitFor = (record: ServiceRecord) =>
    renderUnit({
      record,
      scope,
      version: VERSION,
      executable: exec,
      tokenFile,
      stopTimeoutSeconds: Math.ceil(graceMs / 1000) + 15,
      environment: process.env.NODE_EXTRA_CA_CERTS ? { NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS } : {},
    });
  const base = { name, command: withoutCredentialFlags(served.args), edge: creds.edgeUrls[0]!, ...(creds.edgeUrls.length > 1 ? { edges: creds.edgeUrls } : {}) };
  const tokenNote = `mode 0600${scope === 'system' ? ', passed with LoadCredential=' : ''}`;

  const hidden = scope === 'system' ? unreadableBySystemService(exec) : undefined;
  const hiddenMessage = `a system service cannot run ${hidden}: it runs as a throw-away user without home directories or this /tmp. Install postern outside them (npm i -g with a system Node, or the binary in /usr/local/bin), or use --user`;
  if (opts.dryRun) {
    if (hidden) out.warn(hiddenMessage);
    out.raw(`# ${unitFile}\n${unitFor({ ...base, token_id: ownToken ? 'tok_…' : null })}`);
    const source = ownToken ? 'a token of its own, made from your login,' : 'the given token';
    return out.notice(`dry run: nothing written; ${source} would go to ${tokenFile} (${tokenNote})`);
  }
  if (hidden) throw new CliError(hiddenMessage);
  if (scope === 'system' && process.getuid?.() !== 0) throw new CliError('a system service needs root: run it with sudo, or pass --user for a service of your own');
  if (served.command === 'connect' && served.opts.socket === undefined) {
    out.warn('without --socket each start makes a new quick share with a new URL: for a service, "postern socket create" a permanent one and pass --socket ID');
  }
  const previous = existsSync(unitFile) ? readRecord(readFileSync(unitFile, 'utf8')) : undefined;
  if (existsSync(unitFile) && !previous) throw new CliError(`${unitFile} exists and was not written by postern: choose another --name`);

  const api = new ApiClient(creds.edgeUrls, creds.token);
  await checkWithEdge(api, creds, served);
  const token = ownToken ? await api.createToken({ name: `service ${name}` }) : { token: creds.token, id: null };
  writePrivateFile(tokenFile, `${token.token}\n`);
  mkdirSync(paths.unitDir, { recursive: true });
  writeFileSync(unitFile, unitFor({ ...base, token_id: token.id }), { mode: 0o644 });
  systemctl(scope, ['daemon-reload']);
  systemctl(scope, ['enable', unitName(name)]);
  systemctl(scope, ['restart', unitName(name)]); // starts it, or restarts it with a replaced unit
  if (previous?.token_id && previous.token_id !== token.id) await revokeOwnToken(previous, creds.edgeUrls, creds.token);

  if (opts.json) return out.json({ name, scope, unit: unitFile, token_file: tokenFile, token_id: token.id, started: true });
  out.success(`${unitName(name)} installed and started (${scope})`);
  out.line(`  unit   ${unitFile}`);
  out.line(`  token  ${tokenFile} (${ownToken ? `its own token ${token.id}, ` : ''}${tokenNote})`);
  out.line(`  logs   postern service logs ${name} -f`);
  if (scope === 'user') out.info(`a user's services stop at log-out unless: loginctl enable-linger ${process.env.USER ?? '$USER'}`);
}

/** Revokes the token install made for a service (never a token the user gave it); a failure is a warning. */
async function revokeOwnToken(record: ServiceRecord, edgeUrls: readonly string[], token: string): Promise<boolean> {
  if (!record.token_id) return false;
  try {
    await new ApiClient(edgeUrls, token).revokeToken(record.token_id);
    return true;
  } catch (err) {
    out.warn(`could not revoke the service's token ${record.token_id} (${(err as Error).message}): postern token revoke ${record.token_id}`);
    return false;
  }
}

/** The units this command wrote in a scope, with what they run. */
function installed(scope: Scope): { record: ServiceRecord; unitFile: string }[] {
  const { unitDir } = scopePaths(scope);
  if (!existsSync(unitDir)) return [];
  return readdirSync(unitDir)
    .filter((file) => /^postern-.+\.service$/.test(file))
    .map((file) => ({ unitFile: join(unitDir, file), record: readRecord(readFileSync(join(unitDir, file), 'utf8')) }))
    .filter((entry): entry is { record: ServiceRecord; unitFile: string } => entry.record !== undefined);
}

function list(opts: ScopeOptions & { json?: boolean }): void {
  const scopes: Scope[] = opts.user ? ['user'] : opts.system ? ['system'] : ['system', 'user'];
  const services = scopes.flatMap((scope) =>
    installed(scope).map(({ record, unitFile }) => {
      const state = unitState(scope, unitName(record.name));
      return {
        name: record.name,
        scope,
        state: state ? `${state.ActiveState}/${state.SubState}` : 'unknown',
        since: state?.ActiveEnterTimestamp || null,
        command: record.command,
        edge: record.edge,
        unit: unitFile,
      };
    }),
  );
  if (opts.json) return out.json(services);
  if (services.length === 0) return out.info('no postern services (postern service install --name NAME -- connect …)');
  const colour = (state: string) => (state.startsWith('active/') ? out.good(state) : state.startsWith('failed') ? out.bad(state) : out.caution(state));
  out.line(table(['NAME', 'SCOPE', 'STATE', 'EDGE', 'COMMAND'], services.map((s) => [s.name, s.scope, colour(s.state), s.edge, s.command.join(' ')])));
}

/** The scope holding service `name`: the one asked for, else wherever it is installed. */
function locate(name: string, opts: ScopeOptions): { scope: Scope; unitFile: string; record: ServiceRecord } {
  checkServiceName(name);
  const scopes: Scope[] = opts.user ? ['user'] : opts.system ? ['system'] : ['system', 'user'];
  for (const scope of scopes) {
    const found = installed(scope).find((entry) => entry.record.name === name);
    if (found) return { scope, ...found };
  }
  throw new CliError(`no postern service named "${name}" (postern service ls)`);
}

export function registerService(program: Command): void {
  const service = program.command('service').description('run connectors as systemd services that start at boot and restart on failure (Linux)');

  addScopeOptions(
    service
      .command('install')
      .description('write a systemd unit that runs a postern command given after "--" (postern service install --name grafana -- connect --socket ID --port 3000), store its token (0600), enable and start it')
      .argument('<command...>', 'after --, what to run: connect --socket ID --port 3000 … (or tcp --listen …)')
      .requiredOption('--name <name>', 'service name: the unit is postern-<name>.service')
      .option('--dry-run', 'print the unit instead of installing it (the token is not shown)')
      .option('--json', 'print JSON')
      .showHelpAfterError('(the command to run goes after "--": postern service install --name NAME -- connect --socket ID --port 3000)'),
    true,
  ).action(install);

  addScopeOptions(service.command('ls').description('list the postern services and their state').option('--json', 'print JSON')).action(list);

  addScopeOptions(
    service
      .command('logs <name>')
      .description("show a service's log (its journal)")
      .option('-n, --lines <n>', 'how many recent lines', '100')
      .option('-f, --follow', 'keep printing new lines'),
  ).action(async (name: string, opts: ScopeOptions & { lines: string; follow?: boolean }) => {
    const lines = parseIntInRange(opts.lines, 1, 100_000, '--lines');
    const { scope } = locate(name, opts);
    process.exitCode = await journal(scope, unitName(name), { lines, follow: Boolean(opts.follow) });
  });

  addScopeOptions(service.command('uninstall <name>').description('stop and disable a service, remove its unit and token file, revoke the token it was given by install')).action(
    async (name: string, opts: ScopeOptions) => {
      const { scope, unitFile, record } = locate(name, opts);
      const tokenFile = join(scopePaths(scope).tokenDir, `${name}.token`);
      systemctl(scope, ['disable', '--now', unitName(name)]);
      // The service's own token revokes itself (DELETE /tokens/<its id> with it).
      const revoked = existsSync(tokenFile) && (await revokeOwnToken(record, record.edges ?? [record.edge], readFileSync(tokenFile, 'utf8').trim()));
      rmSync(unitFile, { force: true });
      rmSync(tokenFile, { force: true });
      systemctl(scope, ['daemon-reload']);
      out.success(`${unitName(name)} stopped and removed (${scope})${revoked ? `; its token ${record.token_id} is revoked` : ''}`);
    },
  );
}
