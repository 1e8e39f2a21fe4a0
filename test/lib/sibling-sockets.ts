import { IdentityApp } from './identity-app.js';
import { startEdgeWithIdp, type IdpAccount, type TestIdp } from './idp.js';
import { ConnectorProcess, createAccount, type EdgeProcess } from './postern.js';
import { killAll } from './process.js';
import { ScriptedApp } from './scripted-app.js';

/**
 * The sibling-socket setting of the security suite: one edge with an in-process IdP and three
 * sockets under it. A: alice's sign-in socket (@example.com); C: mallory's sign-in socket
 * (@example.com); M: mallory's public socket, whose app (a ScriptedApp) answers what a test scripts.
 */
export class SiblingSockets {
  private constructor(
    readonly edge: EdgeProcess,
    readonly idp: TestIdp,
    readonly appA: IdentityApp,
    readonly appC: IdentityApp,
    readonly sibling: ScriptedApp,
    readonly socketA: ConnectorProcess,
    readonly socketC: ConnectorProcess,
    readonly socketM: ConnectorProcess,
    readonly aliceToken: string,
  ) {}

  /** Starts it all in `dir`; `accounts` are the IdP's users (who signs in where is up to each test). */
  static async start(dir: string, accounts: Record<string, IdpAccount>): Promise<SiblingSockets> {
    const db = `${dir}/edge.db`;
    const alice = await createAccount(db, 'alice@example.com');
    const mallory = await createAccount(db, 'mallory@attacker.test');
    const { edge, idp } = await startEdgeWithIdp({ db, dir, accounts });
    const [appA, appC, sibling] = await Promise.all([IdentityApp.start('A'), IdentityApp.start('C'), ScriptedApp.start()]);
    const [socketA, socketC, socketM] = await Promise.all([
      ConnectorProcess.start({ edge, token: alice, appPort: appA.port, label: 'connect:A', args: ['--name', 'alpha', '--cloudauth', '--allowed-email-domains', 'example.com'] }),
      ConnectorProcess.start({ edge, token: mallory, appPort: appC.port, label: 'connect:C', args: ['--name', 'charlie', '--cloudauth', '--allowed-email-domains', 'example.com'] }),
      ConnectorProcess.start({ edge, token: mallory, appPort: sibling.port, label: 'connect:M', args: ['--name', 'mallory'] }),
    ]);
    return new SiblingSockets(edge, idp, appA, appC, sibling, socketA, socketC, socketM, alice);
  }

  get originA(): string {
    return `http://${this.socketA.publicHost}`;
  }

  get originC(): string {
    return `http://${this.socketC.publicHost}`;
  }

  get originM(): string {
    return `http://${this.socketM.publicHost}`;
  }

  /** Stops every process the tests started, then the apps and the IdP. */
  async close(): Promise<void> {
    await killAll();
    await Promise.all([this.appA.close(), this.appC.close(), this.sibling.close(), this.idp.close()]);
  }
}
