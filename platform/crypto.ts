// Token minting and comparison. Tokens are `<prefix>` + 40 lowercase hex (160 random
// bits); the database only ever holds their SHA-256 hex, so a leaked database file does
// not leak a usable credential.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export type TokenPrefix = 'mit_' | 'mdt_' | 'mat_';

export function newToken(prefix: TokenPrefix): string {
  return prefix + randomBytes(20).toString('hex');
}

export function sha256Hex(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}

/**
 * Constant-time string equality. Both sides are hashed first so the comparison takes
 * the same time whatever the lengths (timingSafeEqual itself requires equal lengths).
 */
export function safeEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a, 'utf8').digest();
  const hb = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(ha, hb);
}
