/**
 * The inspector's page. The HTML holds no data but the socket's name (escaped) and the API token (an
 * attribute); everything captured is fetched as JSON and put on the page as text nodes by
 * INSPECTOR_JS, a static script (the CSP allows no inline script and no other origin).
 */

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);

export function inspectorPage(title: string, token: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="inspector-token" content="${escapeHtml(token)}">
<title>Inspector · ${escapeHtml(title)}</title>
<link rel="stylesheet" href="/inspector.css">
<script src="/inspector.js" defer></script>
</head>
<body>
<header>
  <h1>Postern inspector <span class="socket">${escapeHtml(title)}</span></h1>
  <span id="live" class="live">connecting…</span>
</header>
<form id="filters" autocomplete="off">
  <label>status <input name="status" placeholder="4xx, 404, 2" size="8"></label>
  <label>path <input name="path" placeholder="/api" size="20"></label>
  <label>user <input name="user" placeholder="alice@" size="20"></label>
  <span id="count"></span>
</form>
<main>
  <section class="list">
    <table>
      <thead><tr><th>time</th><th>socket</th><th>user</th><th>method</th><th>path</th><th>status</th><th>duration</th></tr></thead>
      <tbody id="rows"></tbody>
    </table>
  </section>
  <section id="detail" class="detail"><p class="hint">Select a request to see its headers and bodies.</p></section>
</main>
</body>
</html>
`;
}

export const INSPECTOR_CSS = `
*{box-sizing:border-box}
body{margin:0;font:14px/1.4 system-ui,sans-serif;color:#1d2433;background:#f6f7f9}
header{display:flex;align-items:center;gap:1em;padding:.6em 1em;background:#1d2433;color:#fff}
h1{font-size:1.05em;margin:0;font-weight:600}
.socket{font-weight:400;opacity:.8;margin-left:.4em}
.live{font-size:.85em;opacity:.8}
.live.up::before{content:"● ";color:#3ecf8e}
form{display:flex;gap:1em;align-items:center;padding:.5em 1em;background:#fff;border-bottom:1px solid #dde1e7}
form input{font:inherit;padding:.15em .4em}
#count{margin-left:auto;color:#5b6577;font-size:.9em}
main{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1.2fr);height:calc(100vh - 6em)}
.list{overflow:auto;border-right:1px solid #dde1e7}
table{width:100%;border-collapse:collapse;font-size:.9em}
th{position:sticky;top:0;background:#eef0f4;text-align:left;padding:.3em .5em;font-weight:600}
td{padding:.25em .5em;border-bottom:1px solid #eceff3;white-space:nowrap;overflow:hidden;text-overflow:ellipsis;max-width:22em}
tbody tr{cursor:pointer}
tbody tr:hover{background:#eef4ff}
tbody tr.selected{background:#dbe8ff}
.s2{color:#137333}.s3{color:#1a56b3}.s4{color:#b06000}.s5,.failed{color:#c5221f}
.detail{overflow:auto;padding:.5em 1em}
.hint{color:#5b6577}
h2{font-size:1em;margin:1em 0 .3em}
h3{font-size:.9em;margin:.8em 0 .2em;color:#5b6577}
.headers{font:12px/1.4 ui-monospace,monospace;border-collapse:collapse;width:100%}
.headers td{white-space:pre-wrap;word-break:break-word;max-width:none;vertical-align:top;border:none;padding:.05em .4em}
.headers td:first-child{color:#5b6577;white-space:nowrap;width:1%}
.masked{color:#8a94a6;font-style:italic}
pre{font:12px/1.4 ui-monospace,monospace;background:#fff;border:1px solid #dde1e7;padding:.5em;white-space:pre-wrap;word-break:break-word;max-height:30em;overflow:auto}
.note{color:#5b6577;font-size:.85em}
.compare{display:grid;grid-template-columns:1fr 1fr;gap:1em}
button{font:inherit;padding:.2em .9em;cursor:pointer}
.error{color:#c5221f}
`;

/** The page's script: list, filters, live updates, details and replay. Captured text only ever becomes text nodes. */
export const INSPECTOR_JS = `'use strict';
(() => {
  const token = document.querySelector('meta[name="inspector-token"]').content;
  const rows = document.getElementById('rows');
  const detail = document.getElementById('detail');
  const filters = document.getElementById('filters');
  const count = document.getElementById('count');
  const live = document.getElementById('live');
  const MAX_ROWS = 5000;
  const shown = [];
  let selected = null;

  function el(tag, props, children) {
    const node = document.createElement(tag);
    if (props) for (const [k, v] of Object.entries(props)) {
      if (k === 'text') node.textContent = v; else if (k === 'class') node.className = v; else node.setAttribute(k, v);
    }
    for (const child of children || []) if (child) node.append(child);
    return node;
  }

  async function api(path, init) {
    const res = await fetch(path, { ...init, headers: { 'x-inspector-token': token } });
    const body = await res.json();
    if (!res.ok) throw new Error(body.error || ('HTTP ' + res.status));
    return body;
  }

  function statusMatches(pattern, status) {
    if (!pattern) return true;
    const text = status === null ? 'failed' : String(status);
    return pattern.split(/[ ,]+/).filter(Boolean).some((p) => {
      p = p.toLowerCase();
      if (p.length > text.length) return false;
      for (let i = 0; i < p.length; i++) if (p[i] !== 'x' && p[i] !== text[i]) return false;
      return true;
    });
  }

  function visible(x) {
    const f = new FormData(filters);
    const path = String(f.get('path') || '').toLowerCase();
    const user = String(f.get('user') || '').toLowerCase();
    return statusMatches(String(f.get('status') || '').trim(), x.status) &&
      (!path || x.path.toLowerCase().includes(path)) &&
      (!user || (x.user || '').toLowerCase().includes(user));
  }

  function statusCell(x) {
    if (x.status === null) return el('td', { class: 'failed', text: 'failed', title: x.error || '' });
    return el('td', { class: 's' + String(x.status)[0], text: String(x.status) + (x.kind === 'websocket' ? ' ws' : '') });
  }

  function row(x) {
    const tr = el('tr', { 'data-id': String(x.id) }, [
      el('td', { text: new Date(x.time).toLocaleTimeString() }),
      el('td', { text: x.socket }),
      el('td', { text: x.user || '–' }),
      el('td', { text: x.method }),
      el('td', { text: x.path, title: x.path }),
      statusCell(x),
      el('td', { text: x.duration_ms + ' ms' }),
    ]);
    tr.addEventListener('click', () => select(x.id, tr));
    return tr;
  }

  function add(x) {
    shown.push(x);
    if (shown.length > MAX_ROWS) shown.shift();
    if (visible(x)) rows.prepend(row(x));
    while (rows.childElementCount > MAX_ROWS) rows.lastElementChild.remove();
    updateCount();
  }

  function render() {
    rows.replaceChildren(...shown.filter(visible).reverse().map(row));
    updateCount();
  }

  function updateCount() {
    count.textContent = rows.childElementCount + ' of ' + shown.length + ' shown';
  }

  function headersTable(headers) {
    return el('table', { class: 'headers' }, headers.map((h) => el('tr', null, [
      el('td', { text: h.name }),
      el('td', { text: h.value, class: h.masked ? 'masked' : '' }),
    ])));
  }

  function bodyView(body) {
    if (body.kind === 'none') return el('p', { class: 'note', text: 'no body' });
    const cut = body.truncated ? ', first bytes shown' : '';
    if (body.kind === 'binary') {
      return el('div', null, [
        el('p', { class: 'note', text: 'binary' + (body.note ? ' (' + body.note + ')' : '') + ', ' + body.size + ' bytes; first bytes in hex:' }),
        el('pre', { class: 'hex', text: body.hex }),
      ]);
    }
    return el('div', null, [
      el('p', { class: 'note', text: (body.kind === 'json' ? 'JSON' : 'text') + ', ' + body.size + ' bytes' + cut }),
      el('pre', { class: 'body', text: body.text }),
    ]);
  }

  function messageView(title, m, status) {
    return el('div', { class: 'message' }, [
      el('h3', { text: title + (status !== undefined ? ' · ' + status : '') }),
      headersTable(m.headers),
      bodyView(m.body),
    ]);
  }

  async function select(id, tr) {
    if (selected) selected.classList.remove('selected');
    selected = tr;
    tr.classList.add('selected');
    let x;
    try {
      x = await api('/api/exchanges/' + id);
    } catch (err) {
      if (selected === tr) detail.replaceChildren(el('p', { class: 'error', text: err.message }));
      return;
    }
    if (selected !== tr) return; // another line was clicked meanwhile: its answer shows, not this one
    const answer = x.response ? messageView('response', x.response, x.status) : el('p', { class: 'error', text: 'no answer: ' + (x.error || 'unknown') });
    const compare = el('div', { class: 'compare', id: 'compare' }, [el('div', { class: 'original' }, [answer])]);
    const button = el('button', { type: 'button', id: 'replay', text: 'Replay' });
    if (x.replay_refused) { button.disabled = true; button.title = x.replay_refused; }
    button.addEventListener('click', () => replay(x, compare, button));
    detail.replaceChildren(...[
      el('h2', { text: x.method + ' ' + x.path }),
      el('p', { class: 'note', text: new Date(x.time).toLocaleString() + ' · ' + x.socket + ' · ' + (x.user || 'no user (public socket)') + ' · ' + x.duration_ms + ' ms' }),
      button,
      x.replay_refused ? el('span', { class: 'note', text: ' ' + x.replay_refused }) : null,
      messageView('request', x.request),
      compare,
    ].filter(Boolean));
  }

  async function replay(x, compare, button) {
    button.disabled = true;
    const slot = el('div', { class: 'replayed' }, [el('p', { class: 'note', text: 'replaying…' })]);
    compare.replaceChildren(compare.firstElementChild, slot);
    try {
      const r = await api('/api/exchanges/' + x.id + '/replay', { method: 'POST' });
      slot.replaceChildren(messageView('replay', r.response, r.status + ' (' + r.duration_ms + ' ms)'));
    } catch (err) {
      slot.replaceChildren(el('p', { class: 'error', text: err.message }));
    } finally {
      button.disabled = false;
    }
  }

  filters.addEventListener('input', render);
  filters.addEventListener('submit', (e) => e.preventDefault());

  // Live updates first, the list second: nothing that ends in between is missed (ids tell repeats).
  let last = 0;
  let early = [];
  const take = (x) => { if (x.id > last) { last = x.id; add(x); } };
  const events = new EventSource('/api/events?token=' + encodeURIComponent(token));
  events.addEventListener('open', () => { live.textContent = 'live'; live.classList.add('up'); });
  events.addEventListener('error', () => { live.textContent = 'reconnecting…'; live.classList.remove('up'); });
  events.addEventListener('exchange', (e) => {
    const x = JSON.parse(e.data);
    if (early) early.push(x); else take(x);
  });
  api('/api/exchanges').then((list) => {
    for (const x of list.exchanges) take(x);
    for (const x of early) take(x);
    early = null;
  }, (err) => { live.textContent = err.message; });
})();
`;
