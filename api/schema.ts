// The one schema layer: every shape that crosses a boundary (a platform answer, a
// request body the platform reads, a file on disk) is a TypeBox schema, and is checked
// here before use. `problem()` says what is wrong in the words a person reads in a 400
// or an error message: "runtimes[0].name must be a string", "daemon_id is required".
// Check is interpreted, not compiled: no start-up cost, microseconds per answer. Check and
// Errors are imported alone, not the Value namespace, which pulls in every value operator
// (cast, convert, create, diff…: ~130 KB the daemon parses at start-up and never runs).
import type { Static, TSchema } from '@sinclair/typebox';
import { Errors, ValueErrorType, type ValueError } from '@sinclair/typebox/errors';
import { Check } from '@sinclair/typebox/value';

/** Schema option: how a failed `pattern` or `minLength` reads ("… must be <mustBe>"). */
export interface Explained {
  mustBe?: string;
}

export function matches<T extends TSchema>(schema: T, v: unknown): v is Static<T> {
  return Check(schema, v);
}

/**
 * The first thing wrong with `v`, as one sentence; undefined when it matches. `root`
 * names the whole value; `quote` puts field names in quotes (messages about a file,
 * where a field name stands among other words: `"mode" must be …`).
 */
export function problem(schema: TSchema, v: unknown, root = 'body', o: { quote?: boolean } = {}): string | undefined {
  // Check first: Errors() walks the value through generators even when nothing is wrong
  // (it was the largest part of a heartbeat's cost on the platform).
  if (Check(schema, v)) return undefined;
  const first = Errors(schema, v).First();
  return first ? explain(first, root, o.quote === true) : undefined;
}

/** The value with null object fields dropped, at the top and one array level down: on the
 * wire a null optional field means the same as an absent one (Go's nil pointers). */
export function withoutNulls(v: unknown): unknown {
  const strip = (o: unknown): unknown => {
    if (typeof o !== 'object' || o === null || Array.isArray(o)) return o;
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(o)) if (x !== null) out[k] = x;
    return out;
  };
  const top = strip(v);
  if (typeof top !== 'object' || top === null || Array.isArray(top)) return top;
  for (const [k, x] of Object.entries(top)) if (Array.isArray(x)) (top as Record<string, unknown>)[k] = x.map(strip);
  return top;
}

/** "/runtimes/0/name" → "runtimes[0].name" (the root's own name when the path is empty). */
export function fieldName(path: string, root = 'body'): string {
  if (path === '') return root;
  return path
    .slice(1)
    .split('/')
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((acc, p) => (/^\d+$/.test(p) ? `${acc}[${p}]` : acc === '' ? p : `${acc}.${p}`), '');
}

function explain(e: ValueError, root: string, quote: boolean): string {
  const name = quote && e.path !== '' ? `"${fieldName(e.path)}"` : fieldName(e.path, root);
  const s = e.schema as TSchema & Explained & Record<string, unknown>;
  // A schema that says what it must be says so for any wrong value, except a missing
  // field, an empty one, or one that is too long or too many, which read better as such.
  const keep = [ValueErrorType.ObjectRequiredProperty, ValueErrorType.StringMinLength, ValueErrorType.StringMaxLength, ValueErrorType.ArrayMaxItems];
  if (s.mustBe && !keep.includes(e.type)) return `${name} must be ${s.mustBe}`;
  switch (e.type) {
    case ValueErrorType.ObjectRequiredProperty:
      return `${name} is required`;
    case ValueErrorType.Object:
      return e.path === '' ? `${root} must be a JSON object` : `${name} must be an object`;
    case ValueErrorType.String:
      return `${name} must be a string`;
    case ValueErrorType.StringMinLength:
      return `${name} is required`;
    case ValueErrorType.StringMaxLength:
      return `${name} is longer than ${String(s.maxLength)} characters`;
    case ValueErrorType.StringPattern:
      return `${name} must be of the form ${String(s.pattern)}`;
    case ValueErrorType.Integer:
      return `${name} must be an integer`;
    case ValueErrorType.Number:
      return `${name} must be a number`;
    case ValueErrorType.Boolean:
      return `${name} must be true or false`;
    case ValueErrorType.NumberMinimum:
    case ValueErrorType.IntegerMinimum:
      return `${name} must be ≥ ${String(s.minimum)}`;
    case ValueErrorType.NumberMaximum:
    case ValueErrorType.IntegerMaximum:
      return `${name} must be ≤ ${String(s.maximum)}`;
    case ValueErrorType.Array:
      return `${name} must be an array`;
    case ValueErrorType.ArrayMinItems:
      return `${name} must have at least ${String(s.minItems)} item(s)`;
    case ValueErrorType.ArrayMaxItems:
      return `at most ${String(s.maxItems)} ${name}`;
    case ValueErrorType.Union: {
      const literals = ((s.anyOf as TSchema[] | undefined) ?? []).map((x) => (x as { const?: unknown }).const).filter((c) => c !== undefined);
      if (literals.length) return `${name} must be one of: ${literals.join(', ')}`;
      return `${name} has an unexpected shape`;
    }
    case ValueErrorType.Literal:
      return `${name} must be ${JSON.stringify((s as { const?: unknown }).const)}`;
    case ValueErrorType.Null:
      return `${name} must be null`;
    default:
      return `${name}: ${e.message.toLowerCase()}`;
  }
}
