import { html, type SafeHtml } from './html.js';

export interface PageContent {
  readonly title: string;
  readonly eyebrow?: string;
  readonly heading: string;
  readonly text: string;
  /** Extra markup under the text (forms, buttons), built with `html`. */
  readonly body?: SafeHtml;
  readonly footer: string;
}

const STYLE = `body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
main{max-width:36rem;margin:12vh auto;padding:2rem;background:#fff;border-radius:12px;box-shadow:0 1px 4px #0002}
h1{font-size:1.4rem;margin:0 0 .5rem}.eyebrow{color:#6b7280;font-size:.9rem}p{margin:.5rem 0}
footer{margin-top:1.5rem;color:#6b7280;font-size:.8rem}
.actions{display:flex;flex-wrap:wrap;gap:.5rem;margin-top:1rem}
.button,button{display:inline-block;padding:.55rem 1rem;border-radius:8px;border:1px solid #c7ccd4;background:#fff;color:#1d2330;text-decoration:none;font:inherit;cursor:pointer}
.primary{background:#1f4fd8;border-color:#1f4fd8;color:#fff}
label{display:block;margin:.75rem 0 .25rem;font-size:.9rem}
input[type=email],input[type=password]{width:100%;box-sizing:border-box;padding:.5rem;border:1px solid #c7ccd4;border-radius:8px;font:inherit}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:1rem 0}dt{color:#6b7280}dd{margin:0;word-break:break-all}`;

/** The one page frame of the edge. Every value is escaped: pages never echo raw input. */
export function renderPage(content: PageContent): string {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="same-origin">
<title>${content.title} · Postern</title>
<style>${STYLE}</style></head>
<body><main>
${content.eyebrow ? html`<div class="eyebrow">${content.eyebrow}</div>` : ''}
<h1>${content.heading}</h1>
<p>${content.text}</p>
${content.body}
<footer>${content.footer} · served by the Postern edge</footer>
</main></body></html>
`.value;
}
