/** What the release build (scripts/src/release.ts) writes into a bundle with esbuild's `define`. */
export interface ReleaseInfo {
  /** `npm`: the installable tarball; `binary`: the single executable, which has no edge. */
  readonly kind: 'npm' | 'binary';
  /** The edge's packages the tarball leaves out, as `npm i -g` takes them (`better-sqlite3@^12.6.2`). */
  readonly edgePackages: readonly string[];
}

declare const POSTERN_RELEASE: ReleaseInfo | undefined;

/** The release this bundle is, or undefined when running the repository's own build. */
export const releaseInfo: ReleaseInfo | undefined = typeof POSTERN_RELEASE === 'undefined' ? undefined : POSTERN_RELEASE;
