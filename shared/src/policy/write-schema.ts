/** `npm run docs:schema`: writes docs/postern.schema.json from the schema the code validates with (a unit test keeps them equal). */
import { writeFileSync } from 'node:fs';
import { fileSchema } from './schema.js';

const target = new URL('../../../../docs/postern.schema.json', import.meta.url);
writeFileSync(target, `${JSON.stringify(fileSchema, null, 2)}\n`);
process.stdout.write(`wrote ${target.pathname}\n`);
