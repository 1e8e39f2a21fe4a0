import assert from 'node:assert/strict';
import { test } from 'node:test';
import { numberPlaceholders } from '../src/store/sql/placeholders.js';

test('placeholders are numbered in order for PostgreSQL', () => {
  assert.equal(numberPlaceholders('SELECT * FROM t WHERE a = ? AND b IN (?, ?)'), 'SELECT * FROM t WHERE a = $1 AND b IN ($2, $3)');
  assert.equal(numberPlaceholders('SELECT 1'), 'SELECT 1');
});

test('a ? inside string literals, quoted identifiers, comments and dollar quotes is left alone', () => {
  const cases: Array<[string, string]> = [
    ["SELECT '?', ?", "SELECT '?', $1"],
    ["SELECT 'it''s ?', ?", "SELECT 'it''s ?', $1"],
    ['SELECT "odd?name" FROM t WHERE x = ?', 'SELECT "odd?name" FROM t WHERE x = $1'],
    ['SELECT ? -- why?\n, ?', 'SELECT $1 -- why?\n, $2'],
    ['SELECT /* ? */ ?', 'SELECT /* ? */ $1'],
    ['SELECT $$ ? $$, $tag$ ? $tag$, ?', 'SELECT $$ ? $$, $tag$ ? $tag$, $1'],
  ];
  for (const [input, expected] of cases) assert.equal(numberPlaceholders(input), expected, input);
});

test('an unterminated literal keeps the rest of the text as it is', () => {
  assert.equal(numberPlaceholders("SELECT ?, 'open ?"), "SELECT $1, 'open ?");
});
