import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loginChooserPage, orderedChoices, type ProviderChoice } from '../src/pages/idp-pages.js';

const choice = (kind: ProviderChoice['kind'], name: string): ProviderChoice => ({ kind, name, href: `/auth/start/${name.toLowerCase()}` });

test('the chooser order is fixed whatever the configuration order: Microsoft, Google, other issuers, GitHub, Facebook, local', () => {
  const configured = [choice('facebook', 'Facebook'), choice('oidc', 'Corp SSO'), choice('local', 'a Postern account'), choice('github', 'GitHub'), choice('google', 'Google'), choice('oidc', 'Keycloak'), choice('entra', 'Microsoft')];
  assert.deepEqual(orderedChoices(configured).map((c) => c.name), ['Microsoft', 'Google', 'Corp SSO', 'Keycloak', 'GitHub', 'Facebook', 'a Postern account']);
});

test('each button carries its provider\'s mark and its name, escaped', () => {
  const page = loginChooserPage([choice('entra', 'Microsoft'), choice('oidc', '<b>Evil</b> SSO')], 'grafana.example.com', 'edge.example.com');
  assert.match(page, /<a class="button idp-entra" href="\/auth\/start\/microsoft"><svg class="mark"[^>]*><rect[^>]*fill="#f25022"/);
  assert.match(page, /Continue with &lt;b&gt;Evil&lt;\/b&gt; SSO/);
  assert.doesNotMatch(page, /<b>Evil<\/b>/);
});
