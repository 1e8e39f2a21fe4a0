/**
 * Turns the shared dialect's `?` placeholders into PostgreSQL's `$1, $2, …`. A `?` inside a string
 * literal, a quoted identifier, a dollar-quoted body or a comment is text, not a placeholder.
 */
export function numberPlaceholders(sql: string): string {
  let out = '';
  let n = 0;
  let i = 0;
  while (i < sql.length) {
    const c = sql[i]!;
    const end = skipQuoted(sql, i);
    if (end > i) {
      out += sql.slice(i, end);
      i = end;
    } else if (c === '?') {
      out += `$${++n}`;
      i++;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/** If a literal, identifier or comment starts at `i`, the index just past it; otherwise `i`. */
function skipQuoted(sql: string, i: number): number {
  const c = sql[i];
  if (c === "'" || c === '"') return closeAfter(sql, i + 1, c, true);
  if (c === '-' && sql[i + 1] === '-') return closeAfter(sql, i + 2, '\n', false);
  if (c === '/' && sql[i + 1] === '*') return closeAfter(sql, i + 2, '*/', false);
  if (c === '$') {
    const tag = /^\$[A-Za-z_]*\$/.exec(sql.slice(i))?.[0];
    if (tag) return closeAfter(sql, i + tag.length, tag, false);
  }
  return i;
}

/** The index after `close` (an unterminated construct runs to the end); `doubled` lets '' escape '. */
function closeAfter(sql: string, from: number, close: string, doubled: boolean): number {
  let j = from;
  for (;;) {
    const at = sql.indexOf(close, j);
    if (at === -1) return sql.length;
    if (doubled && sql.startsWith(close, at + 1)) {
      j = at + 2;
      continue;
    }
    return at + close.length;
  }
}
