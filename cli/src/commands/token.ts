import type { Command } from 'commander';
import { apiClient, clientOptions } from '../client-command.js';
import type { ClientOptions } from '../credentials.js';
import { out } from '../output.js';
import { parseDuration } from '../parse.js';
import { table } from '../table.js';

type Opts = ClientOptions & { json?: boolean };

/** What the edge accepts for a token's lifetime (its API refuses anything outside). */
const TOKEN_EXPIRY = { min: 60_000, max: 5 * 365 * 86_400_000 } as const;

export function registerToken(program: Command): void {
  const token = program.command('token').description('API tokens of your account (for scripts and connectors)');

  clientOptions(
    token
      .command('create')
      .description('create a token; prints only the token (it is shown once)')
      .option('--name <name>', 'a label to recognise the token by', 'cli')
      .option('--expires <duration>', 'lifetime, e.g. 30d, 12h (default: no expiry)'),
  ).action(async (opts: Opts & { name: string; expires?: string }) => {
    const seconds = opts.expires === undefined ? undefined : Math.round(parseDuration(opts.expires, '--expires', TOKEN_EXPIRY) / 1000);
    const created = await apiClient(opts).createToken({ name: opts.name, ...(seconds !== undefined ? { expires_in_seconds: seconds } : {}) });
    if (opts.json) return out.json(created);
    out.line(created.token);
  });

  clientOptions(token.command('ls').description('list your tokens (never their secrets)')).action(async (opts: Opts) => {
    const tokens = await apiClient(opts).listTokens();
    if (opts.json) return out.json(tokens);
    const state = (t: (typeof tokens)[number]) =>
      t.revoked_at ? out.dim('revoked') : t.expires_at && Date.parse(t.expires_at) <= Date.now() ? out.dim('expired') : out.good('active');
    out.line(
      table(
        ['ID', 'NAME', 'PREFIX', 'STATE', 'EXPIRES', 'LAST USED', ''],
        tokens.map((t) => [t.id, t.name, `${t.prefix}…`, state(t), t.expires_at ?? 'never', t.last_used_at ?? 'never', t.current ? '(this one)' : '']),
      ),
    );
  });

  clientOptions(token.command('revoke <id>').description('revoke a token; tunnels and streams using it close at once')).action(async (id: string, opts: Opts) => {
    await apiClient(opts).revokeToken(id);
    if (opts.json) return out.json({ id, revoked: true });
    out.success(`token ${id} revoked`);
  });
}
