import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { CliError } from '../errors.js';
import { loadEdge } from '../load-edge.js';
import { out } from '../output.js';
import { readPasswordFromStdin } from '../password-input.js';

/** Passwords come from a file or stdin (`-`), never from argv (ps and shell history would show them). */
async function readPassword(path: string, email: string): Promise<string> {
  if (path === '-') return readPasswordFromStdin(`password for ${email}: `);
  try {
    return readFileSync(path, 'utf8').split(/\r?\n/)[0] ?? '';
  } catch (err) {
    throw new CliError(`cannot read --password-file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

const DB_HELP = 'SQLite database file of the edge (default ./postern.db)';
const STORE_HELP = "the edge's store instead of --db: a SQLite file or a postgres://USER@HOST:PORT/DB URL (PGPASSFILE keeps the password out of argv)";

/** `--db FILE` and `--store FILE|URL` name the same thing; one of them, or ./postern.db. */
function storeTarget(opts: { db?: string; store?: string }): string {
  if (opts.db !== undefined && opts.store !== undefined) {
    throw new CliError('give --db or --store, not both: --db names the SQLite file, --store the SQLite file or a postgres:// URL');
  }
  return opts.store ?? opts.db ?? './postern.db';
}

export function registerAdmin(program: Command): void {
  const admin = program.command('admin').description('manage accounts and tokens directly in the edge database (run on the edge host)');

  const user = admin.command('user').description('accounts');
  user
    .command('add <email>')
    .description('create an account (does nothing if it exists)')
    .option('--db <file>', DB_HELP)
    .option('--store <url>', STORE_HELP)
    .option('--password-file <file>', 'set the local-account password from this file (first line); - reads it from stdin (typed: not echoed)')
    .option('--json', 'print JSON')
    .action(async (email: string, opts: { db?: string; store?: string; passwordFile?: string; json?: boolean }) => {
      const target = storeTarget(opts);
      const password = opts.passwordFile === undefined ? undefined : await readPassword(opts.passwordFile, email);
      const { addUser, setPassword, withStore } = await loadEdge('admin');
      const result = await withStore(target, async (store) => {
        const added = await addUser(store, email);
        if (password !== undefined) await setPassword(store, added.email, password);
        return { ...added, password_set: password !== undefined };
      });
      if (opts.json) out.json(result);
      else {
        if (result.created) out.success(`account ${result.email} created (id ${result.id})`);
        else out.info(`account ${result.email} already exists (id ${result.id})`);
        if (result.password_set) out.success('local-account password set');
      }
    });

  const token = admin.command('token').description('API and tunnel tokens');
  token
    .command('create <email>')
    .description('create a token for an account; prints only the token')
    .option('--db <file>', DB_HELP)
    .option('--store <url>', STORE_HELP)
    .option('--name <name>', 'a label to recognise the token by', 'cli')
    .option('--json', 'print JSON')
    .action(async (email: string, opts: { db?: string; store?: string; name: string; json?: boolean }) => {
      const target = storeTarget(opts);
      const { createToken, withStore } = await loadEdge('admin');
      const result = await withStore(target, (store) => createToken(store, email, opts.name));
      if (opts.json) out.json(result);
      else out.line(result.token);
    });

  admin
    .command('migrate-store')
    .description("copy an edge's SQLite database (accounts, sockets, tokens, sessions, keys, audit log) into an empty PostgreSQL database; stop the edge first")
    .option('--from <file>', DB_HELP, './postern.db')
    .requiredOption('--to <url>', 'the PostgreSQL database, postgres://USER@HOST:PORT/DB; it must hold no Postern data')
    .option('--json', 'print JSON')
    .action(async (opts: { from: string; to: string; json?: boolean }) => {
      const { migrateStore } = await loadEdge('admin');
      const result = await migrateStore(opts.from, opts.to);
      if (opts.json) return out.json(result);
      const rows = result.tables.reduce((sum, t) => sum + t.rows, 0);
      for (const { table, rows: n } of result.tables) out.info(`${table}: ${n}`);
      out.success(`copied ${rows} rows in ${result.tables.length} tables from ${result.from} to ${result.to}`);
    });
}
