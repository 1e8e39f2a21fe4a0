import { socketView } from '../api/socket-view.js';
import { socketStatus, tunnelView, type ConnectionCensus, type TunnelView } from '../api/views.js';
import type { EdgeConfig } from '../config.js';
import type { CompiledPolicies } from '../policy/compiled-policies.js';
import { identityOf } from '../policy/identity.js';
import type { Store } from '../store/index.js';
import type { SocketRecord } from '../store/sockets.js';
import type { User } from '../store/users.js';
import type { TunnelRegistry } from '../tunnel/registry.js';
import { accessSummary, type AccessSummary } from './access.js';

/**
 * An app the person may open. Sockets of other accounts show only what the person could learn by
 * opening them: no id (ids are not an oracle, see the API) and no rules (they may name other people).
 */
export interface PortalApp {
  readonly name: string;
  readonly hostname: string;
  readonly url: string;
  readonly protocol: SocketRecord['protocol'];
  readonly online: boolean;
  readonly yours: boolean;
  /** Who published it, for another account's socket (null for the person's own): a look-alike name cannot hide it. */
  readonly owner: string | null;
  /** The person's own apps only (not learnable by opening one): a quick share, which goes when its connector stops. */
  readonly ephemeral?: boolean;
  /** The person's own apps only: when the socket was created. */
  readonly created_at?: string;
}

/** A socket of another account the person said may know who they are (revocable on the portal). */
export interface PortalConsent {
  readonly name: string;
  /** The DNS label, which the revoke form sends back. */
  readonly label: string;
  readonly hostname: string;
  readonly owner: string;
  readonly since: string;
}

/** One of the person's own sockets, with its rules and tunnels. */
export interface PortalSocket {
  readonly id: string;
  readonly name: string;
  readonly hostname: string;
  readonly url: string;
  readonly protocol: SocketRecord['protocol'];
  readonly online: boolean;
  readonly connections: number;
  /** A quick share: removed when its `postern connect` exits. */
  readonly ephemeral: boolean;
  readonly access: AccessSummary;
  readonly tunnels: readonly TunnelView[];
}

/** The portal of one signed-in person: the same data for the page and for `Accept: application/json`. */
export interface PortalView {
  readonly edge: string;
  readonly user: { readonly email: string | null; readonly name: string | null };
  /** The person has a publishing account: they can run `postern connect` themselves. */
  readonly publisher: boolean;
  readonly apps: readonly PortalApp[];
  /** The person's own sockets (none without an account). */
  readonly sockets: readonly PortalSocket[];
  /** Sockets of other accounts the person lets know who they are. */
  readonly consents: readonly PortalConsent[];
}

export interface PortalDeps {
  readonly config: EdgeConfig;
  readonly store: Store;
  readonly registry: TunnelRegistry;
  readonly policies: Pick<CompiledPolicies, 'of'>;
}

const byName = (a: PortalApp, b: PortalApp): number => a.name.localeCompare(b.name) || a.hostname.localeCompare(b.hostname);

/** `ip`: the portal visitor's trusted address, for rules on source networks. */
export async function buildPortal(deps: PortalDeps, census: ConnectionCensus, user: User, ip: string | null = null): Promise<PortalView> {
  const { config, store, policies } = deps;
  // Sessions carry only a verified email, so an account found by it really is this person's.
  const account = user.email ? await store.accounts.findByEmail(user.email) : undefined;
  const ownerOf = ownerEmails(store);
  const identity = identityOf(user);
  const home = { path: '/', method: 'GET', ip, at: Date.now(), corsPreflight: false };
  /** Its policy lets this person (not just anyone) open the app's home page now. */
  const admits = async (socket: SocketRecord): Promise<boolean> => {
    const verdict = (await policies.of(socket)).decide(identity, home);
    return verdict.kind === 'allow' && !verdict.anonymous;
  };

  // Public sockets of other accounts are unlisted by design: publishing openly shares a link, it
  // does not advertise the app to everyone who signs in. Only sign-in sockets whose rules let this
  // person in are listed, plus the person's own.
  const sockets = await store.sockets.all();
  const listed = await Promise.all(sockets.map((socket) => socket.accountId === account?.id || admits(socket)));
  const reachable = sockets.filter((_, i) => listed[i]);

  const apps = (
    await Promise.all(
      reachable.map(async (socket): Promise<PortalApp> => {
        const view = socketView(socket, config);
        return {
        name: socket.name,
        hostname: view.hostname,
        url: view.url,
        protocol: socket.protocol,
          online: socketStatus(socket, census).online,
          yours: socket.accountId === account?.id,
          owner: socket.accountId === account?.id ? null : await ownerOf(socket.accountId),
          ...(socket.accountId === account?.id ? { ephemeral: socket.ephemeral, created_at: view.created_at } : {}),
        };
      }),
    )
  ).sort(byName);

  return {
    edge: config.domain,
    user: { email: user.email, name: user.name },
    publisher: account?.publisher ?? false,
    apps,
    sockets: account ? await ownSockets(deps, census, account.id) : [],
    consents: await consentsOf(deps, user, ownerOf),
  };
}

/** Owners' emails, each account read once per page. */
function ownerEmails(store: Store): (accountId: string) => Promise<string> {
  const seen = new Map<string, Promise<string>>();
  return (accountId) => {
    let email = seen.get(accountId);
    if (!email) seen.set(accountId, (email = store.accounts.findById(accountId).then((owner) => owner?.email ?? 'unknown')));
    return email;
  };
}

async function consentsOf(deps: PortalDeps, user: User, ownerOf: (accountId: string) => Promise<string>): Promise<PortalConsent[]> {
  const { config, store } = deps;
  const consents = await store.consents.listByUser(user.id);
  const lines = await Promise.all(
    consents.map(async (consent): Promise<PortalConsent | undefined> => {
      const socket = await store.sockets.findById(consent.socketId);
      if (!socket) return undefined;
      return {
        name: socket.name,
        label: socket.hostname,
        hostname: socketView(socket, config).hostname,
        owner: await ownerOf(socket.accountId),
        since: new Date(consent.createdAt).toISOString(),
      };
    }),
  );
  return lines.filter((line) => line !== undefined);
}

/** The account's sockets in creation order (as `postern socket list` shows them), each with its tunnels. */
async function ownSockets(deps: PortalDeps, census: ConnectionCensus, accountId: string): Promise<PortalSocket[]> {
  const { config, store } = deps;
  const tunnels = (await store.tunnels.listByAccount(accountId)).map((tunnel) => tunnelView(tunnel, census));
  return (await store.sockets.listByAccount(accountId)).map((socket) => {
    const view = socketView(socket, config);
    return {
      id: socket.id,
      name: socket.name,
      hostname: view.hostname,
      url: view.url,
      protocol: socket.protocol,
      ...socketStatus(socket, census),
      ephemeral: socket.ephemeral,
      access: accessSummary(socket.policy),
      tunnels: tunnels.filter((tunnel) => tunnel.socket_id === socket.id),
    };
  });
}
