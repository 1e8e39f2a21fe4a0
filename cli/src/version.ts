import { PROTOCOL_VERSION } from '@postern/shared';

/** The release version: the root package.json's (cli/test/version.test.ts keeps them equal). */
export const VERSION = '0.1.0';

/** `postern --version`: what an edge operator compares when a connector is refused for its protocol. */
export const versionLine = (): string => `postern ${VERSION} (wire protocol ${PROTOCOL_VERSION})`;
