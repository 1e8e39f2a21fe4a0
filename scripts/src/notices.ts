import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Metafile } from 'esbuild';
import { packageOf } from './bundle-check.js';
import { REPO } from './paths.js';

function licenceText(dir: string): string | undefined {
  const file = readdirSync(dir).find((name) => /^licen[cs]e(\.(md|txt))?$/i.test(name));
  return file ? readFileSync(join(dir, file), 'utf8').trim() : undefined;
}

/** Node's own licence, from where its packages install it (the binary is Node with our code inside). */
function nodeLicence(): string | undefined {
  const prefix = dirname(dirname(process.execPath));
  const file = ['share/doc/nodejs/LICENSE', 'share/doc/node/LICENSE', 'LICENSE'].map((p) => join(prefix, p)).find(existsSync);
  return file ? readFileSync(file, 'utf8').trim() : undefined;
}

/**
 * THIRD-PARTY-NOTICES.md: the name, version, licence and licence text of every package whose code a
 * bundle carries (MIT and friends require the notice to travel with the code), and Node's own for
 * the binary.
 */
export function thirdPartyNotices(metas: readonly Metafile[], withNode: boolean): string {
  const dirs = new Set(metas.flatMap((meta) => Object.keys(meta.inputs)).map((path) => packageOf(path)?.dir).filter((d): d is string => d !== undefined));
  const packages = [...dirs].map((dir) => ({ dir, ...(JSON.parse(readFileSync(join(REPO, dir, 'package.json'), 'utf8')) as { name: string; version: string; license?: string }) }));
  packages.sort((a, b) => a.name.localeCompare(b.name) || a.version.localeCompare(b.version));
  const sections = packages.map((pkg) => {
    const text = licenceText(join(REPO, pkg.dir));
    return `## ${pkg.name} ${pkg.version} (${pkg.license ?? 'see its package'})\n\n${text ? `\`\`\`\n${text}\n\`\`\`` : '(no licence file in the package)'}`;
  });
  const uniqueSections = [...new Set(sections)];
  if (withNode) {
    const text = nodeLicence();
    uniqueSections.push(`## Node.js ${process.version} (MIT; the single binary is a Node.js executable)\n\n${text ? `\`\`\`\n${text}\n\`\`\`` : "(see Node.js's LICENSE file)"}`);
  }
  return `# Third-party software in postern\n\nThe bundles carry code of these packages, under their licences.\n\n${uniqueSections.join('\n\n')}\n`;
}
