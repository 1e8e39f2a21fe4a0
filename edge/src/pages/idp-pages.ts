import { html, SafeHtml } from './html.js';
import { renderPage } from './layout.js';

/** What a chooser entry is: it decides the mark and the place in the list. */
export type ChoiceKind = 'entra' | 'google' | 'oidc' | 'github' | 'facebook' | 'local';

export interface ProviderChoice {
  readonly kind: ChoiceKind;
  readonly name: string;
  readonly href: string;
}

/**
 * The fixed order of the chooser, whatever order the edge was configured in: the work directories
 * first (Microsoft, Google, then other OIDC issuers as configured), then the social logins, then the
 * edge's own accounts. People find their button in the same place on every edge.
 */
const ORDER: readonly ChoiceKind[] = ['entra', 'google', 'oidc', 'github', 'facebook', 'local'];

/** Each provider's own mark, as its brand guidelines draw it (inline SVG: no request leaves the page). */
const MARKS: Readonly<Record<ChoiceKind, SafeHtml>> = {
  entra: new SafeHtml(
    '<svg class="mark" viewBox="0 0 21 21" aria-hidden="true"><rect x="1" y="1" width="9" height="9" fill="#f25022"/><rect x="11" y="1" width="9" height="9" fill="#7fba00"/><rect x="1" y="11" width="9" height="9" fill="#00a4ef"/><rect x="11" y="11" width="9" height="9" fill="#ffb900"/></svg>',
  ),
  google: new SafeHtml(
    '<svg class="mark" viewBox="0 0 48 48" aria-hidden="true"><path fill="#EA4335" d="M24 9.5c3.54 0 6.71 1.22 9.21 3.6l6.85-6.85C35.9 2.38 30.47 0 24 0 14.62 0 6.51 5.38 2.56 13.22l7.98 6.19C12.43 13.72 17.74 9.5 24 9.5z"/><path fill="#4285F4" d="M46.98 24.55c0-1.57-.15-3.09-.38-4.55H24v9.02h12.94c-.58 2.96-2.26 5.48-4.78 7.18l7.73 6c4.51-4.18 7.09-10.36 7.09-17.65z"/><path fill="#FBBC05" d="M10.53 28.59c-.48-1.45-.76-2.99-.76-4.59s.27-3.14.76-4.59l-7.98-6.19C.92 16.46 0 20.12 0 24c0 3.88.92 7.54 2.56 10.78l7.97-6.19z"/><path fill="#34A853" d="M24 48c6.48 0 11.93-2.13 15.89-5.81l-7.73-6c-2.15 1.45-4.92 2.3-8.16 2.3-6.26 0-11.57-4.22-13.47-9.91l-7.98 6.19C6.51 42.62 14.62 48 24 48z"/></svg>',
  ),
  oidc: new SafeHtml(
    '<svg class="mark" viewBox="0 0 24 24" aria-hidden="true"><circle cx="7.5" cy="12" r="4" fill="none" stroke="#4b5563" stroke-width="2"/><path d="M11.5 12H21M17.5 12v3.5M21 12v2.5" fill="none" stroke="#4b5563" stroke-width="2" stroke-linecap="round"/></svg>',
  ),
  github: new SafeHtml(
    '<svg class="mark" viewBox="0 0 16 16" aria-hidden="true"><path fill="#1f2328" d="M8 0C3.58 0 0 3.58 0 8c0 3.54 2.29 6.53 5.47 7.59.4.07.55-.17.55-.38 0-.19-.01-.82-.01-1.49-2.01.37-2.53-.49-2.69-.94-.09-.23-.48-.94-.82-1.13-.28-.15-.68-.52-.01-.53.63-.01 1.08.58 1.23.82.72 1.21 1.87.87 2.33.66.07-.52.28-.87.51-1.07-1.78-.2-3.64-.89-3.64-3.95 0-.87.31-1.59.82-2.15-.08-.2-.36-1.02.08-2.12 0 0 .67-.21 2.2.82.64-.18 1.32-.27 2-.27.68 0 1.36.09 2 .27 1.53-1.04 2.2-.82 2.2-.82.44 1.1.16 1.92.08 2.12.51.56.82 1.27.82 2.15 0 3.07-1.87 3.75-3.65 3.95.29.25.54.73.54 1.48 0 1.07-.01 1.93-.01 2.2 0 .21.15.46.55.38A8.013 8.013 0 0 0 16 8c0-4.42-3.58-8-8-8z"/></svg>',
  ),
  facebook: new SafeHtml(
    '<svg class="mark" viewBox="0 0 24 24" aria-hidden="true"><path fill="#0866FF" d="M24 12.07C24 5.41 18.63 0 12 0S0 5.4 0 12.07C0 18.1 4.39 23.1 10.13 24v-8.44H7.08v-3.49h3.04V9.41c0-3.02 1.8-4.7 4.54-4.7 1.31 0 2.68.24 2.68.24v2.97h-1.5c-1.5 0-1.96.93-1.96 1.89v2.26h3.32l-.53 3.5h-2.8V24C19.62 23.1 24 18.1 24 12.07z"/></svg>',
  ),
  local: new SafeHtml(
    '<svg class="mark" viewBox="0 0 24 24" aria-hidden="true"><rect x="5" y="10" width="14" height="10" rx="2" fill="none" stroke="#4b5563" stroke-width="2"/><path d="M8 10V7a4 4 0 0 1 8 0v3" fill="none" stroke="#4b5563" stroke-width="2"/></svg>',
  ),
};

const CHOOSER_STYLE = new SafeHtml(
  '<style>.choices{display:flex;flex-direction:column;gap:.6rem;margin-top:1rem}.choices .button{display:flex;align-items:center;gap:.75rem;padding:.65rem 1rem}.mark{width:20px;height:20px;flex:none}</style>',
);

/** The providers in ORDER (the configured order within a kind). */
export function orderedChoices(choices: readonly ProviderChoice[]): ProviderChoice[] {
  return [...choices].sort((a, b) => ORDER.indexOf(a.kind) - ORDER.indexOf(b.kind));
}

export function loginChooserPage(providers: readonly ProviderChoice[], target: string, footer: string): string {
  return renderPage({
    title: 'Sign in',
    heading: 'Sign in',
    text: `Choose how to sign in to reach ${target}.`,
    body: html`${CHOOSER_STYLE}<div class="choices">${orderedChoices(providers).map(
      (p) => html`<a class="button idp-${p.kind}" href="${p.href}">${MARKS[p.kind]}<span>Continue with ${p.name}</span></a>`,
    )}</div>`,
    footer,
  });
}

/** After RP-initiated logout: the IdP ended its session and sent the browser back. */
export function idpSignedOutPage(input: { signInHref: string; footer: string }): string {
  return renderPage({
    title: 'Signed out',
    heading: 'You are signed out',
    text: 'You are signed out of this edge and of your identity provider. Open WebSocket connections were closed.',
    body: html`<div class="actions"><a class="button primary" href="${input.signInHref}">Sign in again</a></div>`,
    footer: input.footer,
  });
}
