import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

const escape = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const header = (req: IncomingMessage, name: string): string => {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(', ') : (value ?? '');
};

/** The claims of the signed assertion, decoded for display (the demo shows them; real apps verify with the JWKS). */
function assertionClaims(token: string): Record<string, unknown> | null {
  const payload = token.split('.')[1];
  if (!payload) return null;
  try {
    return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    return null;
  }
}

function page(req: IncomingMessage): string {
  const email = header(req, 'x-auth-email');
  const claims = assertionClaims(header(req, 'x-postern-assertion'));
  const rows = [
    ['X-Auth-Email', email || '(none)'],
    ['X-Auth-User', header(req, 'x-auth-user') || '(none)'],
    ['X-Forwarded-For', header(req, 'x-forwarded-for')],
    ['Host', header(req, 'host')],
  ];
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Postern demo app</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:44rem;margin:8vh auto;padding:0 1rem;color:#1d2330}
table{border-collapse:collapse;margin:1rem 0}td{padding:.25rem 1rem .25rem 0;vertical-align:top}td:first-child{color:#6b7280}
pre{background:#f6f7f9;padding:1rem;border-radius:8px;overflow:auto}</style></head><body>
<h1>Hello, ${escape(email || 'stranger')}</h1>
<p>This app runs on a private port. Postern checked who you are before letting this request in, and told the app in headers:</p>
<table>${rows.map(([k, v]) => `<tr><td>${escape(k!)}</td><td>${escape(v!)}</td></tr>`).join('')}</table>
<p>It also sent a signed assertion (<code>X-Postern-Assertion</code>, verify it with the edge's JWKS). Its claims:</p>
<pre>${escape(JSON.stringify(claims, null, 2))}</pre>
<p><a href="/.postern/signout">Sign out</a></p></body></html>`;
}

/** The sample app of `postern demo`: shows the identity the edge passed on. Listens on loopback only. */
export async function startDemoApp(): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    const body = page(req);
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return { server, port: (server.address() as AddressInfo).port };
}
