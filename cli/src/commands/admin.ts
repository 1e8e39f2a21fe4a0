import type { Command } from 'commander';
import { addUser, createToken, withStore } from '@postern/edge';
import { out } from '../output.js';

const DB_HELP = 'SQLite database file of the edge (default ./postern.db)';

export function registerAdmin(program: Command): void {
  const admin = program.command('admin').description('manage accounts and tokens directly in the edge database (run on the edge host)');

  const user = admin.command('user').description('accounts');
  user
    .command('add <email>')
    .description('create an account (does nothing if it exists)')
    .option('--db <file>', DB_HELP, './postern.db')
    .option('--json', 'print JSON')
    .action((email: string, opts: { db: string; json?: boolean }) => {
      const result = withStore(opts.db, (store) => addUser(store, email));
      if (opts.json) out.json(result);
      else if (result.created) out.success(`account ${result.email} created (id ${result.id})`);
      else out.info(`account ${result.email} already exists (id ${result.id})`);
    });

  const token = admin.command('token').description('API and tunnel tokens');
  token
    .command('create <email>')
    .description('create a token for an account; prints only the token')
    .option('--db <file>', DB_HELP, './postern.db')
    .option('--name <name>', 'a label to recognise the token by', 'cli')
    .option('--json', 'print JSON')
    .action((email: string, opts: { db: string; name: string; json?: boolean }) => {
      const result = withStore(opts.db, (store) => createToken(store, email, opts.name));
      if (opts.json) out.json(result);
      else out.line(result.token);
    });
}
