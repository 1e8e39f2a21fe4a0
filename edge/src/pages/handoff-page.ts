import type { ConsentQuestion } from '../auth/handoff-consent.js';
import { html } from './html.js';
import { renderPage } from './layout.js';

/** The interstitial before a first sign-in to another account's app (see auth/handoff-consent.ts). */
export function handoffConsentPage(input: { question: ConsentQuestion; action: string; rd: string; bind: string; cancelHref: string; footer: string }): string {
  const { host, owner, who } = input.question;
  return renderPage({
    title: 'Continue to this app?',
    eyebrow: 'Sign in to another account’s app',
    heading: 'Continue to this app?',
    text: html`Continue to <strong id="consent-host">${host}</strong>, published by <strong id="consent-owner">${owner}</strong>, as <strong id="consent-who">${who}</strong>?`,
    body: html`<p>This app belongs to another account on this edge. If you continue, it learns your email address and name, and receives a signed statement of who you are. You are asked once for each app; you can withdraw your answer on the edge’s home page.</p>
<form method="post" action="${input.action}" data-postern="handoff-consent">
<input type="hidden" name="rd" value="${input.rd}">
<input type="hidden" name="bind" value="${input.bind}">
<div class="actions"><button class="primary" type="submit">Continue as ${who}</button><a class="button" href="${input.cancelHref}">Cancel</a></div>
</form>`,
    footer: input.footer,
  });
}
