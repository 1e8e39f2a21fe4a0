import type { Command } from 'commander';
import { ApiClient, ApiError } from '../api-client.js';
import { credentialsPath, readLogin, removeLogin, writeLogin } from '../credential-store.js';
import { chooseEdges, parseEdgeUrl, parseEdgeUrls, readTokenFile } from '../credentials.js';
import { apiClient, clientOptions, edgeOption } from '../client-command.js';
import { deviceLogin } from '../device-login.js';
import { CliError } from '../errors.js';
import { out } from '../output.js';

interface LoginOptions {
  edge?: string[];
  tokenFile?: string;
  json?: boolean;
}

export function registerLogin(program: Command): void {
  const login = program
    .command('login')
    .description('sign in to an edge: in the browser (device code), or with --token-file for scripts; stores the token (mode 0600) with the edge that answered');
  edgeOption(login, 'the one you logged in to before')
    .option('--token-file <file>', 'use this API token instead of signing in in a browser (or POSTERN_TOKEN)')
    .option('--json', 'print JSON (the browser instructions go to stderr)')
    .action(async (opts: LoginOptions) => {
      const chosen = chooseEdges(opts.edge, process.env, readLogin()?.edge);
      if (!chosen) throw new CliError('no edge given: pass --edge URL (e.g. https://edge.example.com) or set POSTERN_EDGE');
      const urls = parseEdgeUrls(chosen.values, chosen.source);
      const edges = new ApiClient(urls);
      const given = opts.tokenFile ? readTokenFile(opts.tokenFile) : process.env.POSTERN_TOKEN;

      let token: string;
      if (given) {
        token = given;
      } else {
        const result = await deviceLogin(edges, (prompt) => {
          // Instructions go to stderr so --json keeps stdout to one document.
          out.notice(`To sign in, open ${out.highlight(prompt.urlWithCode)}`);
          out.notice(`and check that it shows the code ${out.highlight(prompt.code)} (or enter it at ${prompt.url}).`);
          out.notice('Waiting for approval in the browser...');
        });
        token = result.token;
      }
      // Whoever the token belongs to is asked of the edge (the one that signed us in first), so a
      // wrong token fails here, not later; the edge that answers is the one stored.
      const api = new ApiClient([edges.edgeUrl, ...urls.filter((url) => url !== edges.edgeUrl)], token);
      const me = await api.whoami();
      const edge = api.edgeUrl;
      const path = writeLogin({ edge, token, email: me.email, token_id: me.token.id, expires_at: me.token.expires_at });
      if (opts.json) out.json({ edge, email: me.email, token_id: me.token.id, expires_at: me.token.expires_at, publisher: me.publisher, credentials: path });
      else {
        out.success(`logged in to ${edge} as ${out.highlight(me.email)}`);
        out.info(`token ${me.token.id} stored in ${path}${me.token.expires_at ? `, valid until ${me.token.expires_at}` : ''}`);
        if (!me.publisher) out.info('this account can reach sockets (postern tcp, the portal); to publish apps the edge admin must allow it');
      }
    });

  clientOptions(program.command('whoami').description('show who you are on the edge, and which token is in use')).action(
    async (opts: { edge?: string[]; tokenFile?: string; json?: boolean }) => {
      const api = apiClient(opts);
      const me = await api.whoami();
      if (opts.json) out.json({ ...me, edge: api.edgeUrl });
      else {
        out.line(`${out.highlight(me.email)} on ${api.edgeUrl}`);
        out.info(`account ${me.id}${me.publisher ? ' (may publish sockets)' : ' (may reach sockets, not publish)'}`);
        out.info(`token ${me.token.id} "${me.token.name}"${me.token.expires_at ? `, expires ${me.token.expires_at}` : ', no expiry'}`);
      }
    },
  );

  program
    .command('logout')
    .description('revoke the stored token on the edge and forget it')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const stored = readLogin();
      if (!stored) {
        if (opts.json) out.json({ logged_out: false, reason: 'not logged in' });
        else out.info('not logged in');
        return;
      }
      let revoked = true;
      try {
        await new ApiClient(parseEdgeUrl(stored.edge, 'the stored login'), stored.token).revokeToken('current');
      } catch (err) {
        // An expired or already revoked token needs no revoking; anything else is reported.
        if (!(err instanceof ApiError && ['TOKEN_EXPIRED', 'TOKEN_REVOKED', 'UNAUTHORIZED'].includes(err.code))) revoked = false;
        if (!revoked) {
          throw new CliError(`could not revoke token ${stored.token_id} (${(err as Error).message}); it is still stored in ${credentialsPath()}, try again when the edge is reachable`);
        }
      }
      removeLogin();
      if (opts.json) out.json({ logged_out: true, edge: stored.edge, email: stored.email, token_id: stored.token_id, revoked });
      else out.success(`logged out of ${stored.edge} (token ${stored.token_id} revoked)`);
    });
}
