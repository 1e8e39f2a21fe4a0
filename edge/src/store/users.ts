import type { VerifiedIdentity } from '../auth/providers/types.js';
import { randomId } from './ids.js';
import type { SqlDriver } from './sql/driver.js';

export interface User extends VerifiedIdentity {
  readonly id: string;
}

export type UserRow = {
  id: string;
  issuer: string;
  subject: string;
  email: string | null;
  name: string | null;
  groups: string;
  github_orgs: string;
  github_teams: string;
};

export const toUser = (row: UserRow): User => ({
  id: row.id,
  issuer: row.issuer,
  subject: row.subject,
  email: row.email,
  name: row.name,
  groups: JSON.parse(row.groups) as string[],
  githubOrgs: JSON.parse(row.github_orgs) as string[],
  githubTeams: JSON.parse(row.github_teams) as string[],
});

/** The attributes a sign-in or a re-validation refreshes, as stored. */
const attributes = (identity: VerifiedIdentity) =>
  [identity.email, identity.name, JSON.stringify(identity.groups), JSON.stringify(identity.githubOrgs), JSON.stringify(identity.githubTeams)] as const;

/** People who signed in, keyed by issuer + subject; attributes refreshed at every sign-in. */
export class UserStore {
  constructor(private readonly db: SqlDriver) {}

  /** The user of this identity, made at its first sign-in (two edges signing one person in at once keep one row). */
  async upsert(identity: VerifiedIdentity, now = Date.now()): Promise<User> {
    const row = await this.db.one<UserRow>(
      `INSERT INTO users (id, issuer, subject, email, name, groups, github_orgs, github_teams, created_at, last_login_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (issuer, subject) DO UPDATE SET email = excluded.email, name = excluded.name,
         groups = excluded.groups, github_orgs = excluded.github_orgs, github_teams = excluded.github_teams,
         last_login_at = excluded.last_login_at
       RETURNING *`,
      [`usr_${randomId(12)}`, identity.issuer, identity.subject, ...attributes(identity), now, now],
    );
    return toUser(row!);
  }

  /** What a re-validation learned about a user (not a sign-in: last_login_at stays). */
  async refresh(id: string, identity: VerifiedIdentity): Promise<User | undefined> {
    const row = await this.db.one<UserRow>('UPDATE users SET email = ?, name = ?, groups = ?, github_orgs = ?, github_teams = ? WHERE id = ? RETURNING *', [
      ...attributes(identity),
      id,
    ]);
    return row && toUser(row);
  }

  async findById(id: string): Promise<User | undefined> {
    const row = await this.db.one<UserRow>('SELECT * FROM users WHERE id = ?', [id]);
    return row && toUser(row);
  }

  /** The user who last signed in with this (normalised, verified) email. */
  async latestByEmail(email: string): Promise<User | undefined> {
    const row = await this.db.one<UserRow>('SELECT * FROM users WHERE email = ? ORDER BY last_login_at DESC LIMIT 1', [email]);
    return row && toUser(row);
  }
}
