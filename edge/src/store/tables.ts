// The table modules on the SqlDriver (`@postern/edge/tables`), for the store conformance suite, which runs them on both backends.
export { AccountStore } from './accounts.js';
export { AuditStore } from './audit.js';
export { ConsentStore } from './consents.js';
export { DeviceStore } from './devices.js';
export { IdpGrantStore } from './idp-grants.js';
export { LogoutTokenIdStore } from './logout-token-ids.js';
export { PasswordStore } from './passwords.js';
export { ExpiredRowPruner } from './pruner.js';
export { SigningKeyStore } from './signing-keys.js';
export { TransactionStore } from './transactions.js';
export { TunnelStore } from './tunnels.js';
export { UserStore } from './users.js';
export { AssertionSigner } from '../auth/assertion.js';
