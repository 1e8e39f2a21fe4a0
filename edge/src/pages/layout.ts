import { FAVICON_PATH } from './favicon.js';
import { html, SafeHtml } from './html.js';

export interface PageContent {
  readonly title: string;
  readonly eyebrow?: string;
  readonly heading: string;
  /** The lead paragraph: plain text, or markup built with `html` (e.g. with a link). */
  readonly text: string | SafeHtml;
  /** A problem to show above the body (a wrong password), marked up as an alert. */
  readonly error?: string;
  /** Extra markup under the text (forms, buttons), built with `html`. */
  readonly body?: SafeHtml;
  readonly footer: string;
  /** A wider frame for pages that list things (the portal); forms and messages keep the narrow one. */
  readonly wide?: boolean;
}

/**
 * The stylesheet, trusted markup: it must not go through the template's escaping, which would turn
 * `content:""` and `a>b` into dead rules.
 */
const STYLE = new SafeHtml(`body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
main{max-width:36rem;margin:12vh auto;padding:2rem;background:#fff;border-radius:12px;box-shadow:0 1px 4px #0002}
h1{font-size:1.4rem;margin:0 0 .5rem}.eyebrow{color:#6b7280;font-size:.9rem}p{margin:.5rem 0}
footer{margin-top:1.5rem;color:#6b7280;font-size:.8rem}
.actions{display:flex;flex-wrap:wrap;gap:.5rem;margin-top:1rem}
.button,button{display:inline-block;padding:.55rem 1rem;border-radius:8px;border:1px solid #c7ccd4;background:#fff;color:#1d2330;text-decoration:none;font:inherit;cursor:pointer}
.primary{background:#1f4fd8;border-color:#1f4fd8;color:#fff}
label{display:block;margin:.75rem 0 .25rem;font-size:.9rem}
input[type=email],input[type=password]{width:100%;box-sizing:border-box;padding:.5rem;border:1px solid #c7ccd4;border-radius:8px;font:inherit}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:1rem 0}dt{color:#6b7280}dd{margin:0;overflow-wrap:anywhere}
main.wide{max-width:60rem;margin-top:6vh}a{color:#1f4fd8}.muted{color:#6b7280}.small{font-size:.85rem}
h2{font-size:1.05rem;margin:2rem 0 .75rem}ul.plain{list-style:none;padding:0;margin:0}
code{font:.85rem ui-monospace,SFMono-Regular,Menlo,monospace;background:#f1f3f6;border-radius:6px;padding:.1rem .35rem;overflow-wrap:anywhere}
.badge{display:inline-block;font-size:.75rem;font-weight:600;padding:.1rem .5rem;border-radius:999px;background:#f1f3f6;color:#4b5563;white-space:nowrap}
.badge.online{background:#dcfce7;color:#166534}.badge.offline{background:#fee2e2;color:#991b1b}.badge.public{background:#fef3c7;color:#92400e}
.tiles{display:grid;grid-template-columns:repeat(auto-fill,minmax(16rem,1fr));gap:.75rem}
.tile{position:relative;display:flex;flex-direction:column;gap:.6rem;padding:1rem;border:1px solid #e3e6eb;border-radius:10px}
.tile:hover,.tile:focus-within{border-color:#1f4fd8}.tile-head{display:flex;gap:.75rem;align-items:center;min-width:0}
.tile-name{font-weight:600;color:#1d2330;text-decoration:none}a.tile-name::after{content:"";position:absolute;inset:0}
.host{font-size:.85rem;color:#6b7280;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}.tile-head>div{min-width:0}.tags{display:flex;flex-wrap:wrap;align-items:center;gap:.35rem}
.avatar{flex:none;width:2.5rem;height:2.5rem;border-radius:10px;color:#fff;font-weight:700;display:grid;place-items:center}
.card{padding:1rem;border:1px solid #e3e6eb;border-radius:10px;margin-bottom:.75rem}.card dl{margin:.5rem 0 0}
.empty{padding:1.25rem;border:1px dashed #c7ccd4;border-radius:10px;color:#4b5563}
.host.full-host,.full-host{white-space:normal;overflow:visible;overflow-wrap:anywhere}
.alert{margin:.75rem 0;padding:.6rem .8rem;border-radius:8px;border:1px solid #fca5a5;background:#fef2f2;color:#991b1b}`);

/** The one page frame of the edge. Every value is escaped: pages never echo raw input. */
export function renderPage(content: PageContent): string {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="same-origin">
<link rel="icon" href="${FAVICON_PATH}" type="image/svg+xml">
<title>${content.title} · Postern</title>
<style>${STYLE}</style></head>
<body><main${content.wide ? html` class="wide"` : ''}>
${content.eyebrow ? html`<div class="eyebrow">${content.eyebrow}</div>` : ''}
<h1>${content.heading}</h1>
<p>${content.text}</p>
${content.error ? html`<p class="alert" role="alert">${content.error}</p>` : ''}
${content.body}
<footer>${content.footer} · served by the Postern edge</footer>
</main></body></html>
`.value;
}
