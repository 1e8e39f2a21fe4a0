import { html } from './html.js';
import { renderPage } from './layout.js';

export function localLoginPage(input: { transaction: string; action: string; error?: string; email?: string; footer: string }): string {
  return renderPage({
    title: 'Sign in',
    heading: 'Sign in with your Postern account',
    text: 'Enter the email and password of your account on this edge.',
    ...(input.error ? { error: input.error } : {}),
    body: html`<form method="post" action="${input.action}">
<input type="hidden" name="tx" value="${input.transaction}">
<label for="email">Email</label><input id="email" type="email" name="email" autocomplete="username" required value="${input.email ?? ''}">
<label for="password">Password</label><input id="password" type="password" name="password" autocomplete="current-password" required>
<div class="actions"><button class="primary" type="submit">Sign in</button></div>
</form>`,
    footer: input.footer,
  });
}

export function forbiddenPage(input: { who: string; socket: string; reason: string; signOutHref: string; switchHref: string; footer: string }): string {
  return renderPage({
    title: '403 Access denied',
    eyebrow: '403 · POLICY_DENIED',
    heading: 'You do not have access to this app',
    text: `You are signed in as ${input.who}, but the rules of ${input.socket} do not let you in.`,
    body: html`<dl><dt>Signed in as</dt><dd>${input.who}</dd><dt>App</dt><dd>${input.socket}</dd><dt>Why</dt><dd>${input.reason}</dd></dl>
<p>If you think you should have access, ask the owner of this app to add you.</p>
<div class="actions"><a class="button primary" href="${input.switchHref}">Switch account</a><a class="button" href="${input.signOutHref}">Sign out</a></div>`,
    footer: input.footer,
  });
}

/** `app`: a socket's host, whose session is that app's; `edge`: the edge's own host (the portal). */
export type SignOutPlace = 'app' | 'edge';

const SIGN_OUT_HERE: Readonly<Record<SignOutPlace, string>> = { app: 'Sign out of this app', edge: 'Sign out of the portal' };

/**
 * The sign-out question. "Everywhere" is offered only on the edge's own host (`everywhereHref` on a
 * socket host links there): a socket's page is its owner's, and its own-origin form must not end
 * the visitor's sessions with every other app.
 */
export function signOutConfirmPage(input: { who: string; action: string; footer: string; place: SignOutPlace; everywhereHref?: string }): string {
  const everywhere = input.everywhereHref
    ? html`<a class="button" href="${input.everywhereHref}">Sign out everywhere…</a>`
    : html`<button type="submit" name="scope" value="everywhere">Sign out everywhere</button>`;
  return renderPage({
    title: 'Sign out',
    heading: 'Sign out?',
    text: `You are signed in as ${input.who}.`,
    body: html`<form method="post" action="${input.action}"><div class="actions">
<button class="primary" type="submit" name="scope" value="here">${SIGN_OUT_HERE[input.place]}</button>
${everywhere}</div></form>`,
    footer: input.footer,
  });
}

/** `none`: there was no session to end; `here`: this app; `portal`: the edge login; `everywhere`: every session. */
export type SignOutScope = 'none' | 'here' | 'portal' | 'everywhere';

const SIGNED_OUT_TEXT: Readonly<Record<SignOutScope, string>> = {
  none: 'You are not signed in here.',
  here: 'You are signed out here and its open WebSocket connections were closed. Other apps keep their sessions; use “Sign out everywhere” to end them all.',
  portal: 'You are signed out of the portal. Apps you opened keep their own sessions; use “Sign out everywhere” to end them all.',
  everywhere: 'You are signed out of every app on this edge. Open WebSocket connections were closed.',
};

export function signedOutPage(input: { scope: SignOutScope; signInHref: string; footer: string }): string {
  return renderPage({
    title: 'Signed out',
    heading: 'You are signed out',
    text: SIGNED_OUT_TEXT[input.scope],
    body: html`<div class="actions"><a class="button primary" href="${input.signInHref}">Sign in again</a></div>`,
    footer: input.footer,
  });
}

export function signInFailedPage(input: { reason: string; retryHref: string; footer: string }): string {
  return renderPage({
    title: 'Sign-in failed',
    eyebrow: '400 · SIGN_IN_FAILED',
    heading: 'Sign-in did not complete',
    text: input.reason,
    body: html`<div class="actions"><a class="button primary" href="${input.retryHref}">Try again</a></div>`,
    footer: input.footer,
  });
}
