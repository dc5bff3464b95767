// The --database URL as a person sees it: checked for its shape before any driver sees it
// (a driver's own parse errors may quote it whole), and shown with its password as ***.
// No driver here, so the start-up path and messages can use it without loading pg.
import { ConfigError } from '../core/errors.js';

/** `url` with any password replaced by `***`, for messages. A string that is not a URL shows as `(not a URL)`. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(not a URL)';
  }
}

/** The URL's parts a message may name: host, port, user, database; never the password. */
export function urlParts(url: URL): { host: string; port: string; user: string; database: string; safe: string } {
  const host = url.hostname || (url.searchParams.get('host') ?? 'localhost');
  const port = url.port || '5432';
  const user = decodeURIComponent(url.username) || '(the current user)';
  const database = decodeURIComponent(url.pathname.replace(/^\//, '')) || '(the user name)';
  return { host, port, user, database, safe: redactUrl(url.toString()) };
}

/** Checks the connection string's shape before pg sees it (pg's own errors may quote it). */
export function parsePostgresUrl(url: string): URL {
  const usage = 'Pass --database postgres://USER:PASSWORD@HOST:PORT/DATABASE (or set AGENTD_PLATFORM_DATABASE); leave both out to use SQLite under --data.';
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ConfigError('database', 'the --database value is not a URL', usage);
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') {
    throw new ConfigError('database', `the --database URL has the scheme ${JSON.stringify(u.protocol.replace(/:$/, ''))}: expected postgres or postgresql`, usage);
  }
  if (!u.hostname && !u.searchParams.get('host')) throw new ConfigError('database', `the --database URL ${redactUrl(url)} names no host`, usage);
  return u;
}
