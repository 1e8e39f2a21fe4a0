import type { VerifiedIdentity } from '../auth/providers/types.js';
import type { Db } from './db.js';
import { randomId } from './ids.js';

export interface User extends VerifiedIdentity {
  readonly id: string;
}

interface UserRow {
  id: string;
  issuer: string;
  subject: string;
  email: string | null;
  name: string | null;
  groups: string;
  github_orgs: string;
  github_teams: string;
}

const toUser = (row: UserRow): User => ({
  id: row.id,
  issuer: row.issuer,
  subject: row.subject,
  email: row.email,
  name: row.name,
  groups: JSON.parse(row.groups) as string[],
  githubOrgs: JSON.parse(row.github_orgs) as string[],
  githubTeams: JSON.parse(row.github_teams) as string[],
});

/** People who signed in, keyed by issuer + subject; attributes refreshed at every sign-in. */
export class UserStore {
  private readonly upsertStmt;
  private readonly byKey;
  private readonly byId;
  private readonly byEmail;
  private readonly refreshStmt;

  constructor(db: Db) {
    this.upsertStmt = db.prepare(
      `INSERT INTO users (id, issuer, subject, email, name, groups, github_orgs, github_teams, created_at, last_login_at)
       VALUES (@id, @issuer, @subject, @email, @name, @groups, @github_orgs, @github_teams, @now, @now)
       ON CONFLICT (issuer, subject) DO UPDATE SET email = excluded.email, name = excluded.name,
         groups = excluded.groups, github_orgs = excluded.github_orgs, github_teams = excluded.github_teams,
         last_login_at = excluded.last_login_at`,
    );
    this.byKey = db.prepare<[string, string], UserRow>('SELECT * FROM users WHERE issuer = ? AND subject = ?');
    this.byId = db.prepare<[string], UserRow>('SELECT * FROM users WHERE id = ?');
    this.byEmail = db.prepare<[string], UserRow>('SELECT * FROM users WHERE email = ? ORDER BY last_login_at DESC LIMIT 1');
    this.refreshStmt = db.prepare(
      `UPDATE users SET email = @email, name = @name, groups = @groups, github_orgs = @github_orgs, github_teams = @github_teams
       WHERE id = @id`,
    );
  }

  upsert(identity: VerifiedIdentity, now = Date.now()): User {
    this.upsertStmt.run({
      id: `usr_${randomId(12)}`,
      issuer: identity.issuer,
      subject: identity.subject,
      email: identity.email,
      name: identity.name,
      groups: JSON.stringify(identity.groups),
      github_orgs: JSON.stringify(identity.githubOrgs),
      github_teams: JSON.stringify(identity.githubTeams),
      now,
    });
    return toUser(this.byKey.get(identity.issuer, identity.subject)!);
  }

  /** What a re-validation learned about a user (not a sign-in: last_login_at stays). */
  refresh(id: string, identity: VerifiedIdentity): User | undefined {
    this.refreshStmt.run({
      id,
      email: identity.email,
      name: identity.name,
      groups: JSON.stringify(identity.groups),
      github_orgs: JSON.stringify(identity.githubOrgs),
      github_teams: JSON.stringify(identity.githubTeams),
    });
    return this.findById(id);
  }

  findById(id: string): User | undefined {
    const row = this.byId.get(id);
    return row && toUser(row);
  }

  /** The user who last signed in with this (normalised, verified) email. */
  latestByEmail(email: string): User | undefined {
    const row = this.byEmail.get(email);
    return row && toUser(row);
  }
}
