// Token minting and comparison. Tokens are `<prefix>` + 40 lowercase hex (160 random
// bits); the database only ever holds their SHA-256 hex, so a leaked database file does
// not leak a usable credential.
import { hash, randomBytes, timingSafeEqual } from 'node:crypto';

export type TokenPrefix = 'mit_' | 'mdt_' | 'mat_';

export function newToken(prefix: TokenPrefix): string {
  return prefix + randomBytes(20).toString('hex');
}

/**
 * One-shot crypto.hash (Node ≥ 20.12), not a Hash object per call: 0.46 against 2.2 µs a
 * token here, and every authenticated request hashes one (4 % of the heartbeat route's
 * CPU in a profile of bench/heartbeat-load.mjs).
 */
export function sha256Hex(value: string): string {
  return hash('sha256', value, 'hex');
}

/**
 * Constant-time string equality. Both sides are hashed first so the comparison takes
 * the same time whatever the lengths (timingSafeEqual itself requires equal lengths).
 */
export function safeEqual(a: string, b: string): boolean {
  const ha = hash('sha256', a, 'buffer');
  const hb = hash('sha256', b, 'buffer');
  return timingSafeEqual(ha, hb);
}
