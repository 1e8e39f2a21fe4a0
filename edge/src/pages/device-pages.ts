import { html } from './html.js';
import { renderPage } from './layout.js';

/** Where a person types the code `postern login` shows (or confirms it, when the link carried it). */
export function deviceCodePage(input: { who: string; code?: string; error?: string; footer: string }): string {
  return renderPage({
    title: 'Sign in the Postern CLI',
    heading: 'Sign in the Postern command line',
    text: `You are signed in as ${input.who}. Enter the code your terminal shows.`,
    ...(input.error ? { error: input.error } : {}),
    body: html`<form method="post" action="/device">
<label for="user_code">Code</label><input id="user_code" name="user_code" autocomplete="off" autocapitalize="characters" required value="${input.code ?? ''}" style="font:1.4rem monospace;letter-spacing:.15em;padding:.4rem;width:100%;box-sizing:border-box">
<div class="actions"><button class="primary" type="submit" name="decision" value="confirm">Continue</button></div>
</form>`,
    footer: input.footer,
  });
}

/** The decision itself: who, which code, which machine, so a phished code is easy to spot. */
export function deviceConfirmPage(input: { who: string; code: string; client: string; address: string; footer: string }): string {
  return renderPage({
    title: 'Approve CLI sign-in',
    heading: 'Approve this sign-in?',
    text: `A Postern CLI asks to act as ${input.who}. Approve only if you just ran "postern login" and your terminal shows this code.`,
    body: html`<dl><dt>Code</dt><dd><code id="code">${input.code}</code></dd><dt>Computer</dt><dd>${input.client}</dd><dt>From address</dt><dd>${input.address}</dd><dt>Signed in as</dt><dd>${input.who}</dd></dl>
<form method="post" action="/device"><input type="hidden" name="user_code" value="${input.code}">
<div class="actions"><button class="primary" type="submit" name="decision" value="approve">Approve</button><button type="submit" name="decision" value="deny">Deny</button></div></form>`,
    footer: input.footer,
  });
}

export function deviceDonePage(input: { approved: boolean; client: string; footer: string }): string {
  return renderPage({
    title: input.approved ? 'CLI signed in' : 'CLI sign-in denied',
    heading: input.approved ? 'Done: you can go back to your terminal' : 'Sign-in denied',
    text: input.approved
      ? `The Postern CLI on ${input.client} is now signed in. You can close this tab.`
      : `The Postern CLI on ${input.client} was not signed in.`,
    footer: input.footer,
  });
}
