import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './postern.js';

/** The README's text under `### <title>`, up to the next heading of level 3 or higher. */
export function readmeSection(title: string): string {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf(`\n### ${title}`);
  if (start < 0) throw new Error(`README.md has no "### ${title}" section`);
  const rest = readme.slice(start + 1);
  const end = rest.slice(4).search(/\n#{2,3} /);
  return end < 0 ? rest : rest.slice(0, end + 4);
}

/** The fenced code blocks of a section in one language (```sh, ```ini, ```yaml). */
export function codeBlocks(section: string, language: string): string[] {
  return [...section.matchAll(new RegExp('```' + language + '\\n([\\s\\S]*?)```', 'g'))].map((match) => match[1]!);
}

/** The one line of a section's ```sh blocks that starts with `prefix` (a recipe's command). */
export function commandLine(section: string, prefix: string): string {
  const lines = codeBlocks(section, 'sh')
    .flatMap((block) => block.split('\n'))
    .filter((line) => line.startsWith(prefix));
  if (lines.length !== 1) throw new Error(`expected one line starting with "${prefix}", found ${lines.length}:\n${section}`);
  return lines[0]!;
}
