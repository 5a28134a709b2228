/**
 * Addresses and 64-bit words, inside and on the wire.
 *
 * Inside, an address or register value is a JS number holding the low 48 bits of the canonical
 * 64-bit value (exact as a double): a kernel address 0xffffffff81000000 is 0xffff81000000, an
 * arm64 one 0xffff800080010000 is 0x800080010000, a user address is itself. Outside (snapshot
 * JSON, protocol, reports) every value is the full 64-bit word: bit 47 is sign-extended.
 *
 * A word that is not canonical (bits 63..48 differ from bit 47: corruption, or a plugin's
 * garbage) is no address. It is held as a number at or above 2^48, so it never falls in a mapped
 * region, and still converts back to exactly the same 64-bit word:
 * - a word in [2^48, 2^52) as itself;
 * - any other (e.g. 0x0000ffff80010000, 0xdeadbeefdeadbeef) as an interned handle in
 *   [2^52, 2^53), one slot per distinct word. Small offsets from a handle (fp + 8 while probing
 *   it) still print as that word plus the offset.
 */

const TWO32 = 2 ** 32;
const TWO47 = 2 ** 47;
const TWO48 = 2 ** 48;
const TWO52 = 2 ** 52;
const TWO53 = 2 ** 53;
const M64 = (1n << 64n) - 1n;
const SLOT = 2 ** 20;
const HALF = SLOT / 2;

/** Interned non-canonical words: handle = 2^52 + index * SLOT + SLOT/2. */
const words: bigint[] = [];
const index = new Map<bigint, number>();

function intern(v: bigint): number {
  let i = index.get(v);
  if (i === undefined) {
    i = words.length;
    if (TWO52 + (i + 1) * SLOT >= TWO53) throw new Error('too many distinct non-canonical 64-bit values');
    words.push(v);
    index.set(v, i);
  }
  return TWO52 + i * SLOT + HALF;
}

/** Whether a 64-bit word is canonical (bits 63..48 all equal to bit 47). */
export function isCanonical(v: bigint): boolean {
  const top = v >> 47n;
  return top === 0n || top === (1n << 17n) - 1n;
}

/** The internal number for a 64-bit word (see the module comment). */
export function fromU64(v: bigint): number {
  v &= M64;
  if (isCanonical(v)) return Number(v & ((1n << 48n) - 1n));
  if (v >= BigInt(TWO48) && v < BigInt(TWO52)) return Number(v);
  return intern(v);
}

/** The 64-bit word an internal number stands for. Negative numbers are two's complement. */
export function toU64(n: number): bigint {
  if (!Number.isInteger(n)) throw new Error(`not an integer value: ${n}`);
  if (n < 0) return BigInt.asUintN(64, BigInt(n));
  if (n < TWO47) return BigInt(n);
  if (n < TWO48) return BigInt(n) | (((1n << 16n) - 1n) << 48n);
  if (n < TWO52) return BigInt(n);
  if (n < TWO53) {
    const i = Math.floor((n - TWO52) / SLOT);
    const w = words[i];
    if (w !== undefined) return (w + BigInt(n - (TWO52 + i * SLOT + HALF))) & M64;
  }
  return BigInt.asUintN(64, BigInt(n));
}

/** The word as two 32-bit halves, without BigInt on the common paths (memory writes). */
export function toU32Pair(n: number): [lo: number, hi: number] {
  if (n >= 0 && n < TWO48 && Number.isInteger(n)) {
    const hi = Math.floor(n / TWO32);
    return [n % TWO32 >>> 0, (n < TWO47 ? hi : hi + 0xffff0000) >>> 0];
  }
  const v = toU64(n);
  return [Number(v & 0xffffffffn), Number(v >> 32n)];
}

/** The internal number of a word given as two 32-bit halves (memory reads). */
export function fromU32Pair(lo: number, hi: number): number {
  if (hi < 0x8000) return lo + hi * TWO32;
  if (hi >= 0xffff8000) return lo + (hi - 0xffff0000) * TWO32;
  if (hi >= 0x10000 && hi < 0x100000) return lo + hi * TWO32; // non-canonical in [2^48, 2^52): itself
  return fromU64((BigInt(hi) << 32n) | BigInt(lo));
}

/** The full 64-bit hex form of a value, as JSON, the protocol and reports show it. */
export const hex = (n: number): string => (Number.isInteger(n) ? '0x' + toU64(n).toString(16) : `0x${n}?`); // never throws in a report

/** Parse a hex string of up to 64 bits into the internal number. */
export function unhex(s: string): number {
  if (!/^0x[0-9a-fA-F]{1,16}$/.test(s)) throw new Error(`not a 64-bit hex value: ${s}`);
  return fromU64(BigInt(s));
}

/** Whether the internal number is a canonical address (an address that may be mapped). */
export const isAddress = (n: number): boolean => Number.isInteger(n) && n >= 0 && n < TWO48;
