/** `npm run docs:cli`: rewrites the CLI reference in README.md from the commander definitions. */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildProgram } from './program.js';
import { cliReference, withReference } from './reference.js';

const readmePath = fileURLToPath(new URL('../../../README.md', import.meta.url));
const before = readFileSync(readmePath, 'utf8');
const after = withReference(before, cliReference(buildProgram()));
writeFileSync(readmePath, after);
process.stdout.write(before === after ? 'README.md CLI reference already up to date\n' : 'README.md CLI reference updated\n');
