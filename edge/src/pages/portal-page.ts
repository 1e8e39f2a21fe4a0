import { createHash } from 'node:crypto';
import type { TunnelView } from '../api/views.js';
import type { AccessSummary } from '../portal/access.js';
import type { PortalApp, PortalConsent, PortalSocket, PortalView } from '../portal/portal-view.js';
import { html, type SafeHtml } from './html.js';
import { renderPage } from './layout.js';
import { timeAgo, timeSpan } from './relative-time.js';

/** What a person runs to publish their first app (sign-in on: only they get in until they add rules). */
const PUBLISH_COMMAND = 'postern connect --port 3000 --cloudauth';

/** The home page before sign-in: what this edge is, and the way in. */
export function portalSignedOutPage(input: { domain: string; signInHref: string; footer: string }): string {
  return renderPage({
    title: 'Postern edge',
    eyebrow: 'Postern edge',
    heading: input.domain,
    text: `This edge publishes private apps. Each app has its own address under ${input.domain} and lets in only the people its owner chose. Sign in to see the apps you can open.`,
    body: html`<div class="actions"><a class="button primary" href="${input.signInHref}">Sign in</a></div>
<p class="muted small">Publishing an app? Install the Postern CLI and run <code>${PUBLISH_COMMAND}</code>.</p>`,
    footer: input.footer,
  });
}

/** The launcher of a signed-in person: the apps they may open, then their own sockets and tunnels. */
export function portalPage(view: PortalView, input: { signOutHref: string; footer: string; now: number }): string {
  const who = view.user.email ?? `${view.user.name ?? 'unknown'} (no verified email)`;
  const showSockets = view.publisher || view.sockets.length > 0;
  return renderPage({
    title: 'Apps',
    eyebrow: 'Postern edge',
    heading: view.edge,
    text: html`Signed in as <strong id="who">${who}</strong> · <a href="${input.signOutHref}">Sign out</a>`,
    body: html`<section id="apps"><h2>Apps you can open</h2>${view.apps.length > 0 ? html`<ul class="plain tiles">${appTiles(view.apps, input.now)}</ul>` : noApps()}</section>
${view.consents.length > 0 ? html`<section id="consents"><h2>Apps of other accounts that know who you are</h2><ul class="plain">${view.consents.map(consentLine)}</ul></section>` : ''}
${showSockets ? html`<section id="sockets"><h2>Your sockets</h2>${view.sockets.length > 0 ? html`<ul class="plain">${view.sockets.map((socket) => socketCard(socket, input.now))}</ul>` : noSockets()}</section>` : ''}`,
    footer: input.footer,
    wide: true,
  });
}

const statusBadge = (online: boolean): SafeHtml =>
  online ? html`<span class="badge online">Online</span>` : html`<span class="badge offline">Offline</span>`;

/** A stable colour per app, so people find theirs by colour as well as by name. */
function avatar(name: string, hostname: string): SafeHtml {
  const hue = createHash('sha256').update(hostname).digest().readUInt16BE(0) % 360;
  return html`<span class="avatar" style="background:hsl(${hue} 55% 42%)" aria-hidden="true">${(name[0] ?? '?').toUpperCase()}</span>`;
}

/** `postern tcp` opens a local port that leads to the socket, after the same policy check. */
const tcpCommand = (hostname: string): string => `postern tcp --socket ${hostname} --listen 127.0.0.1:<port>`;

/** Tiles in order; apps that share a name say what sets each apart, so nobody opens the wrong one. */
function appTiles(apps: readonly PortalApp[], now: number): SafeHtml[] {
  const named = new Map<string, number>();
  for (const app of apps) named.set(app.name, (named.get(app.name) ?? 0) + 1);
  return apps.map((app) => appTile(app, named.get(app.name)! > 1 ? twinNote(app, now) : undefined));
}

/** What tells one of several same-named apps from the others, beyond its address. */
function twinNote(app: PortalApp, now: number): SafeHtml {
  const kind = app.ephemeral ? 'quick share' : 'permanent';
  const created = app.created_at ? html`, created <time datetime="${app.created_at}" title="${app.created_at}">${timeAgo(Date.parse(app.created_at), now)}</time>` : '';
  return html`<div class="small muted twin">${app.yours ? html`Your ${kind}${created}` : "Another account's app"}</div>`;
}

function appTile(app: PortalApp, twin: SafeHtml | undefined): SafeHtml {
  const name = app.protocol === 'http' ? html`<a class="tile-name" href="${app.url}">${app.name}</a>` : html`<span class="tile-name">${app.name}</span>`;
  return html`<li class="tile app" data-host="${app.hostname}">
<div class="tile-head">${avatar(app.name, app.hostname)}<div>${name}<div class="${app.owner === null ? 'host' : 'host full-host'}" title="${app.url}">${app.protocol === 'http' ? new URL(app.url).host : app.hostname}</div></div></div>
${app.owner !== null ? html`<div class="small owner">Published by <strong>${app.owner}</strong></div>` : ''}
${twin}
<div class="tags">${statusBadge(app.online)}<span class="badge">${app.protocol.toUpperCase()}</span>${app.ephemeral ? html`<span class="badge">Quick share</span>` : ''}${app.yours ? html`<span class="badge">Yours</span>` : ''}</div>
${app.protocol === 'tcp' ? html`<div class="small">Open a local port to it: <code>${tcpCommand(app.hostname)}</code></div>` : ''}
</li>`;
}

/** One remembered hand-off consent, with the form that withdraws it (the edge checks the form's Origin). */
function consentLine(consent: PortalConsent): SafeHtml {
  return html`<li class="card consent" data-host="${consent.hostname}"><strong>${consent.name}</strong> · <span class="full-host">${consent.hostname}</span>
<div class="small">Published by <strong>${consent.owner}</strong>; you said yes on <time datetime="${consent.since}">${consent.since.slice(0, 10)}</time>.</div>
<form method="post" action="/auth/consents/revoke"><input type="hidden" name="socket" value="${consent.label}"><div class="actions"><button type="submit">Withdraw and sign out of it</button></div></form></li>`;
}

function noApps(): SafeHtml {
  return html`<div class="empty" id="no-apps"><p>No apps are shared with you yet.</p>
<p class="small">When someone publishes an app for you (for example for everyone at your email domain), it appears here. Expected one? Ask its owner to add you to its rules.</p></div>`;
}

function noSockets(): SafeHtml {
  return html`<div class="empty" id="no-sockets"><p>You have no sockets yet.</p>
<p class="small">Publish a local app with <code>${PUBLISH_COMMAND}</code>. Only you can open it until you add rules, such as <code>--allowed-email-domains corp.com</code>.</p></div>`;
}

function socketCard(socket: PortalSocket, now: number): SafeHtml {
  const address = socket.protocol === 'http' ? html`<a href="${socket.url}">${socket.url}</a>` : html`${socket.hostname} <span class="muted">(TCP)</span>`;
  const connections = socket.connections === 1 ? '1 connection' : `${socket.connections} connections`;
  return html`<li class="card socket" data-host="${socket.hostname}">
<div class="tags"><strong>${socket.name}</strong>${statusBadge(socket.online)}${socket.access.kind === 'public' ? html`<span class="badge public">Public</span>` : ''}${socket.ephemeral ? html`<span class="badge">Quick share</span>` : ''}</div>
<dl><dt>Address</dt><dd>${address}</dd>
<dt>Who may enter</dt><dd class="access tags">${accessText(socket.access)}</dd>
<dt>Connectors</dt><dd>${socket.online ? connections : html`none${socket.ephemeral ? '' : html` · serve it with <code>postern connect --socket ${socket.id} --port 3000</code>`}`}</dd>
${socket.tunnels.length > 0 ? html`<dt>Tunnels</dt><dd><ul class="plain">${socket.tunnels.map((tunnel) => tunnelLine(tunnel, now))}</ul></dd>` : ''}</dl>
</li>`;
}

function accessText(access: AccessSummary): SafeHtml | string {
  if (access.kind === 'public') return 'Anyone with the link, without signing in';
  if (access.kind === 'owner-only') return 'Only you';
  if (access.rules.length > 0) {
    return html`<ol class="rules plain">${access.rules.map((rule) => html`<li>${rule}</li>`)}<li>otherwise: ${access.default}</li></ol>`;
  }
  const grants = [
    ...access.email_domains.map((d) => `anyone @${d}`),
    ...access.email_addresses,
    ...access.github_orgs.map((o) => `GitHub org ${o}`),
    ...access.github_teams.map((t) => `GitHub team ${t}`),
    ...access.groups.map((g) => `group ${g}`),
  ];
  if (grants.length === 0) return access.default;
  return html`You, and ${grants.map((g) => html`<span class="badge">${g}</span>`)}`;
}

function tunnelLine(tunnel: TunnelView, now: number): SafeHtml {
  const last = tunnel.last_connected_at;
  const at = (text: string) => html`<time datetime="${last}" title="${last}">${text}</time>`;
  // A connected tunnel is not "last connected": it is up, since its newest connection.
  const seen = !last
    ? 'never connected'
    : tunnel.status === 'connected'
      ? html`up for ${at(timeSpan(now - Date.parse(last)))}`
      : html`last connected ${at(timeAgo(Date.parse(last), now))}`;
  return html`<li class="tunnel" data-tunnel="${tunnel.id}">${tunnel.name || tunnel.id} · ${
    tunnel.status === 'connected' ? html`<span class="badge online">Connected</span>` : html`<span class="badge offline">Offline</span>`
  } <span class="muted small">${seen}${onEdges(tunnel)}</span></li>`;
}

/** Which edges hold the tunnel's connections, where there are several (PostgreSQL); nothing for a lone edge. */
function onEdges(tunnel: TunnelView): SafeHtml | string {
  const edges = [...new Set(tunnel.live_connections.map((c) => c.edge_url).filter(Boolean))];
  return edges.length > 0 ? html` · on ${edges.join(', ')}` : '';
}
