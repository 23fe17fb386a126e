/**
 * The request id made for a request that arrives without `x-request-id`: a random (version 4)
 * UUID, as crypto.randomUUID() makes. randomUUID() builds its string from twenty
 * concatenations, ~600 bytes allocated per request (issue 16's heap profile); here the hex
 * digits are written into one scratch buffer and read out as one string. The random bytes come
 * from the CSPRNG in batches, as randomUUID's own cache does.
 */
import { randomFillSync } from 'node:crypto';

const IDS_PER_BATCH = 256;
const random = Buffer.alloc(16 * IDS_PER_BATCH);
let used = IDS_PER_BATCH;
const text = Buffer.alloc(36);
const HEX = Buffer.from('0123456789abcdef', 'latin1');

export function newRequestId(): string {
  if (used === IDS_PER_BATCH) {
    randomFillSync(random);
    used = 0;
  }
  const start = 16 * used++;
  let at = 0;
  for (let i = 0; i < 16; i++) {
    let byte = random[start + i] as number;
    if (i === 6) byte = (byte & 0x0f) | 0x40; // version 4
    else if (i === 8) byte = (byte & 0x3f) | 0x80; // RFC 9562 variant
    if (i === 4 || i === 6 || i === 8 || i === 10) text[at++] = 0x2d; // '-'
    text[at++] = HEX[byte >> 4] as number;
    text[at++] = HEX[byte & 0x0f] as number;
  }
  return text.toString('latin1');
}
