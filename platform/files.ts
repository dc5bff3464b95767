// Files the platform serves: install.sh (with its URL filled in), the build artifacts
// under /download/, and the operator web page from dist/web/. Names are checked against
// a strict pattern and resolved inside their directory, so no path can escape it.
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, resolve, sep } from 'node:path';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.sh': 'text/x-shellscript; charset=utf-8',
  '.sha256': 'text/plain; charset=utf-8',
  '.gz': 'application/gzip',
  '.xz': 'application/x-xz',
  '.tgz': 'application/gzip',
};
const FALLBACK_TYPE = 'application/octet-stream';

/** One path segment of letters, digits, '.', '_', '-' (no leading dot): nothing to traverse with. */
const SAFE_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;

export const INSTALL_SCRIPT_PLACEHOLDER = '__AGENTD_PLATFORM_URL__';

/** `dir/name` if `name` is a safe single segment that stays inside `dir`, else undefined. */
export function safeJoin(dir: string, name: string): string | undefined {
  if (!SAFE_NAME.test(name) || name.includes('..')) return undefined;
  const root = resolve(dir);
  const p = resolve(root, name);
  return p.startsWith(root + sep) ? p : undefined;
}

function notFound(res: ServerResponse): void {
  const body = Buffer.from(JSON.stringify({ error: 'not found' }));
  res.writeHead(404, { 'content-type': 'application/json; charset=utf-8', 'content-length': body.length });
  res.end(body);
}

/**
 * Headers of the operator page and its files. The page is self-contained (index.html,
 * app.js, style.css from this origin, JSON from /api/), so the policy allows exactly
 * that: no inline script or style, no other origin, no framing (clickjacking of the
 * Revoke and Rotate buttons), no plugins, no <base> rewriting.
 */
export const WEB_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; " +
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

/** Streams a regular file with its content type and length; 404 when it is missing. */
export async function sendFile(req: IncomingMessage, res: ServerResponse, path: string | undefined, cache = 'no-cache', extra: Readonly<Record<string, string>> = {}): Promise<void> {
  if (path === undefined) return notFound(res);
  let size: number;
  try {
    const st = await stat(path);
    if (!st.isFile()) return notFound(res);
    size = st.size;
  } catch {
    return notFound(res);
  }
  res.writeHead(200, {
    'content-type': CONTENT_TYPES[extname(path).toLowerCase()] ?? FALLBACK_TYPE,
    'content-length': size,
    'cache-control': cache,
    'x-content-type-options': 'nosniff',
    ...extra,
  });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  const stream = createReadStream(path);
  stream.on('error', () => res.destroy());
  stream.pipe(res);
}

/** GET /install.sh: the script with the platform's public URL substituted. */
export async function sendInstallScript(req: IncomingMessage, res: ServerResponse, scriptPath: string, publicUrl: string): Promise<void> {
  let text: string;
  try {
    text = await readFile(scriptPath, 'utf8');
  } catch {
    return notFound(res);
  }
  const body = Buffer.from(text.split(INSTALL_SCRIPT_PLACEHOLDER).join(publicUrl));
  res.writeHead(200, {
    'content-type': CONTENT_TYPES['.sh']!,
    'content-length': body.length,
    'cache-control': 'no-cache',
    'x-content-type-options': 'nosniff',
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** The web page: "/" → index.html, "/<name>" → a file of dist/web (flat directory). */
export function webPath(webDir: string, urlPath: string): string | undefined {
  if (urlPath === '/') return join(webDir, 'index.html');
  return safeJoin(webDir, urlPath.slice(1));
}
