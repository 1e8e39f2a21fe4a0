/** A `--store` value names PostgreSQL by URL scheme; anything else is a SQLite file path. Client-safe: loads nothing. */
export const isPostgresUrl = (target: string): boolean => /^postgres(ql)?:\/\//i.test(target);
