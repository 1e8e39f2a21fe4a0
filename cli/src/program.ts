import { Command } from 'commander';
import { registerAdmin } from './commands/admin.js';
import { registerApply } from './commands/apply.js';
import { registerAudit } from './commands/audit.js';
import { registerConnect } from './commands/connect.js';
import { registerDemo } from './commands/demo.js';
import { registerEdge } from './commands/edge.js';
import { registerExport } from './commands/export.js';
import { registerLogin } from './commands/login.js';
import { registerPolicy } from './commands/policy.js';
import { registerSocket } from './commands/socket.js';
import { registerService } from './commands/service.js';
import { registerTcp } from './commands/tcp.js';
import { registerToken } from './commands/token.js';
import { registerTunnel } from './commands/tunnel.js';
import { out } from './output.js';
import { versionLine } from './version.js';

/**
 * The whole `postern` command tree, without parsing anything (the reference generator reads it too).
 * Registering a command must not load the edge: a command that runs one loads it in its action
 * with loadEdge() (load-edge.ts says how), so connector-only installs start without it.
 */
export function buildProgram(): Command {
  const program = new Command()
    .name('postern')
    .description('Postern: publish private web apps through an identity-aware edge, without opening a port')
    .version(versionLine(), '-V, --version', 'print the version and the wire protocol version')
    .option('--debug', 'show stack traces on errors')
    .configureOutput({ outputError: (text, write) => write(out.colorError(text.replace(/\n(?=.)/g, ' '))) })
    .exitOverride();

  registerDemo(program);
  registerEdge(program);
  registerAdmin(program);
  registerLogin(program);
  registerConnect(program);
  registerSocket(program);
  registerPolicy(program);
  registerApply(program);
  registerExport(program);
  registerTunnel(program);
  registerTcp(program);
  registerToken(program);
  registerAudit(program);
  registerService(program);
  return program;
}
