// Request/response plumbing shared by every route: capped JSON bodies, JSON answers,
// and one error type whose `error` string goes on the wire as {"error": …}.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Static, TSchema } from '@sinclair/typebox';
import { problem, withoutNulls } from '../api/schema.js';

export const MAX_BODY_BYTES = 1024 * 1024;
/**
 * Deepest nesting of arrays and objects a body may have. JSON.parse copes with any depth,
 * but what comes after (JSON.stringify of register.device or a message's input, schema
 * checks) recurses and threw RangeError (a 500) at ~10,000 levels. Tool inputs nest a
 * handful of levels; 64 leaves plenty of room.
 */
export const MAX_JSON_DEPTH = 64;

/** Thrown by handlers; the server turns it into `status` + {"error": message}. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
  ) {
    super(error);
    this.name = 'HttpError';
  }
}

export const badRequest = (msg: string) => new HttpError(400, msg);
export const unauthorized = (msg = 'unauthorized') => new HttpError(401, msg);
export const notFound = (msg = 'not found') => new HttpError(404, msg);
export const conflict = (msg: string) => new HttpError(409, msg);

/** Reads the body (≤ 1 MiB, else 413) and parses it as JSON; empty body → {}. */
export async function readJson(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<unknown> {
  const chunks = await readChunks(req, limit);
  const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
  const size = body.length;
  if (size === 0) return {};
  const text = body.toString('utf8');
  let v: unknown;
  try {
    v = JSON.parse(text) as unknown;
  } catch {
    throw badRequest('request body is not valid JSON');
  }
  if (jsonDepth(v, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) throw badRequest(`request body is nested deeper than ${MAX_JSON_DEPTH} levels`);
  return v;
}

/** The body as the pieces it arrived in (≤ limit, else 413), for a route that needs no one buffer. */
export function readChunks(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<Buffer[]> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume();
    return Promise.reject(new HttpError(413, `request body larger than ${limit} bytes`));
  }
  return readBody(req, limit);
}

/**
 * The body's bytes (≤ limit, else 413), from 'data' events. Not `for await`: the async
 * iterator (its promise per chunk and its stream wrapper) was 6 % of the heartbeat
 * route's CPU (a profile of bench/heartbeat-load.mjs), for bodies of one chunk.
 */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    // Already over before anyone read it: no event would come.
    if (req.readableEnded) return resolve([]);
    if (req.destroyed) return reject(prematureClose());
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        done();
        req.resume(); // the rest is read and dropped, so the 413 can be sent
        reject(new HttpError(413, `request body larger than ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      done();
      resolve(chunks);
    };
    const onError = (e: Error): void => {
      done();
      reject(e);
    };
    // The client went away before the end.
    const onClose = (): void => {
      if (req.complete) return;
      done();
      reject(prematureClose());
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

/** The error `for await` over a request gives when the client went away before the end. */
const prematureClose = (): Error => Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });

/** Nesting depth of a parsed JSON value (a scalar is 0), counted without recursion; stops past `limit`. */
export function jsonDepth(v: unknown, limit: number): number {
  let max = 0;
  const stack: [unknown, number][] = [[v, 0]];
  while (stack.length > 0) {
    const [x, d] = stack.pop()!;
    if (typeof x !== 'object' || x === null) continue;
    const depth = d + 1;
    if (depth > max) max = depth;
    if (max > limit) return max;
    for (const child of Array.isArray(x) ? x : Object.values(x as Record<string, unknown>)) {
      if (typeof child === 'object' && child !== null) stack.push([child, depth]);
    }
  }
  return max;
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  // A string, not a Buffer: node:http sends the head and a string body as one write,
  // a Buffer body as a second one (writev), and there is no copy to allocate.
  const data = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(data),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  });
  res.end(data);
}

export function sendError(res: ServerResponse, status: number, error: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, status, { error });
}

/** The value of `Authorization: Bearer <v>`, or undefined. */
export function bearer(req: IncomingMessage): string | undefined {
  const h = req.headers.authorization;
  if (typeof h !== 'string') return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
  return m ? m[1] : undefined;
}

/** A single-valued request header, trimmed and length-capped (it lands in the database). */
export function header(req: IncomingMessage, name: string, max = 100): string | undefined {
  const v = req.headers[name.toLowerCase()];
  const s = Array.isArray(v) ? v[0] : v;
  if (typeof s !== 'string') return undefined;
  const t = s.trim();
  return t === '' ? undefined : t.slice(0, max);
}

// ------------------------------------------------------------ body validation

/**
 * A request body checked against its schema (api/types.ts); anything else is a 400 that
 * says what is wrong ("runtimes[0].name is required"). A null field counts as absent.
 * `what` names the value in that answer (a raw output body's head line, say).
 */
export function parseBody<T extends TSchema>(schema: T, body: unknown, what = 'request body'): Static<T> {
  const v = withoutNulls(body);
  const why = problem(schema, v, what);
  if (why !== undefined) throw badRequest(why);
  return v as Static<T>;
}
