/**
 * Span ids for steps opened in this process.
 *
 * Span ids only need to be unique, not secret: a random 32-bit prefix (new
 * every 2^32 ids) and a counter, spelled with a byte-to-hex table. Several
 * times cheaper than random bytes per id, and it allocates only the string.
 */
import { randomFillSync } from 'node:crypto';

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
let idPrefix = '';
let idCounter = 0;

function freshPrefix(): string {
  const bytes = randomFillSync(new Uint8Array(4));
  return `${HEX[bytes[0] as number]}${HEX[bytes[1] as number]}${HEX[bytes[2] as number]}${HEX[bytes[3] as number]}`;
}

/** @internal A fresh 16-hex-character span id, unique within the process. */
export function newSpanId(): string {
  if (idCounter === 0) idPrefix = freshPrefix();
  const n = idCounter;
  idCounter = (idCounter + 1) >>> 0;
  return `${idPrefix}${HEX[n >>> 24] as string}${HEX[(n >>> 16) & 255] as string}${HEX[(n >>> 8) & 255] as string}${HEX[n & 255] as string}`;
}
