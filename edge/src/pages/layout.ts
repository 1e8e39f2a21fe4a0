const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

export interface PageContent {
  readonly title: string;
  readonly eyebrow?: string;
  readonly heading: string;
  readonly text: string;
  readonly footer: string;
}

/** The one page frame of the edge. Every value is escaped: pages never echo raw input. */
export function renderPage(content: PageContent): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeHtml(content.title)} · Postern</title>
<style>
body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
main{max-width:36rem;margin:12vh auto;padding:2rem;background:#fff;border-radius:12px;box-shadow:0 1px 4px #0002}
h1{font-size:1.4rem;margin:0 0 .5rem}.eyebrow{color:#6b7280;font-size:.9rem}p{margin:.5rem 0}
footer{margin-top:1.5rem;color:#6b7280;font-size:.8rem}
</style></head>
<body><main>
${content.eyebrow ? `<div class="eyebrow">${escapeHtml(content.eyebrow)}</div>\n` : ''}<h1>${escapeHtml(content.heading)}</h1>
<p>${escapeHtml(content.text)}</p>
<footer>${escapeHtml(content.footer)} · served by the Postern edge</footer>
</main></body></html>
`;
}
