/**
 * A minimal streaming ustar reader (and a writer, for tests), enough for the CIFAR-10 archive.
 * Pure over chunks: it tolerates any chunk boundaries, so it is tested with a split-everywhere loop.
 * Not supported, on purpose: pax/GNU long names (entries are reported as type 'other', bodies skipped).
 */
import { HarnessError } from '../transports/errors.js';

const BLOCK = 512;

export type TarEvent =
  | { readonly kind: 'entry'; readonly name: string; readonly size: number; readonly type: 'file' | 'directory' | 'other' }
  | { readonly kind: 'data'; readonly chunk: Uint8Array };

const broken = (message: string): HarnessError => new HarnessError('BAD_INPUT', `Broken tar archive: ${message}`);

/** Bytes waiting to be parsed, as a queue of chunks (never concatenated unless a header spans two). */
class ByteQueue {
  private chunks: Uint8Array[] = [];
  length = 0;
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.length += chunk.length;
  }
  /** Up to `n` bytes from the front, without copying. */
  takeUpTo(n: number): Uint8Array {
    const head = this.chunks[0] as Uint8Array;
    const out = head.subarray(0, Math.min(n, head.length));
    if (out.length === head.length) this.chunks.shift();
    else this.chunks[0] = head.subarray(out.length);
    this.length -= out.length;
    return out;
  }
  /** Exactly `n` bytes (the caller checks `length` first). */
  take(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let at = 0; at < n; ) {
      const part = this.takeUpTo(n - at);
      out.set(part, at);
      at += part.length;
    }
    return out;
  }
}

function text(block: Uint8Array, start: number, length: number): string {
  const field = block.subarray(start, start + length);
  const end = field.indexOf(0);
  return Buffer.from(end === -1 ? field : field.subarray(0, end)).toString('utf8');
}

function octal(block: Uint8Array, start: number, length: number, what: string): number {
  const raw = text(block, start, length).trim();
  if (!/^[0-7]*$/.test(raw)) throw broken(`${what} field is not octal (\`${raw}\`)`);
  return raw === '' ? 0 : parseInt(raw, 8);
}

function parseHeader(block: Uint8Array): Extract<TarEvent, { kind: 'entry' }> {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (block[i] as number);
  const stored = octal(block, 148, 8, 'checksum');
  if (stored !== sum) throw broken(`header checksum is ${stored}, computed ${sum}`);
  // Only POSIX ustar (`ustar\0`) has a name prefix there; GNU tar (`ustar `) keeps times in those bytes.
  const prefix = text(block, 257, 6) === 'ustar' ? text(block, 345, 155) : '';
  const base = text(block, 0, 100);
  const flag = String.fromCharCode(block[156] as number);
  const type = flag === '0' || flag === '\0' ? 'file' : flag === '5' ? 'directory' : 'other';
  return { kind: 'entry', name: prefix === '' ? base : `${prefix}/${base}`, size: octal(block, 124, 12, 'size'), type };
}

const isZero = (block: Uint8Array): boolean => block.every((b) => b === 0);

/** Parse a tar stream: an 'entry' event per header, then 'data' events holding exactly its body. */
export async function* tarEvents(source: AsyncIterable<Uint8Array>): AsyncGenerator<TarEvent> {
  const queue = new ByteQueue();
  let body = 0; // body bytes of the current entry still to come
  let skip = 0; // padding to the next 512-byte boundary
  let ended = false;
  for await (const chunk of source) {
    if (ended) continue; // GNU tar pads the archive to 10 KiB; whatever follows the end marker is ignored
    queue.push(chunk);
    while (queue.length > 0 && !ended) {
      if (body > 0) {
        const part = queue.takeUpTo(body);
        body -= part.length;
        yield { kind: 'data', chunk: part };
      } else if (skip > 0) {
        skip -= queue.takeUpTo(skip).length;
      } else if (queue.length >= BLOCK) {
        const block = queue.take(BLOCK);
        if (isZero(block)) {
          ended = true;
          break;
        }
        const entry = parseHeader(block);
        body = entry.size;
        skip = (BLOCK - (entry.size % BLOCK)) % BLOCK;
        yield entry;
      } else {
        break;
      }
    }
  }
  if (!ended) throw broken(body > 0 ? `the archive ends inside an entry, ${body} bytes short` : 'the archive ends without its end marker (truncated?)');
}

function header(name: string, size: number): Uint8Array {
  if (Buffer.byteLength(name) > 100) throw new HarnessError('BAD_INPUT', `Tar entry name \`${name}\` is longer than 100 bytes`);
  const block = new Uint8Array(BLOCK);
  const put = (at: number, value: string): void => void block.set(Buffer.from(value, 'utf8'), at);
  put(0, name);
  put(100, '0000644\0');
  put(108, '0000000\0');
  put(116, '0000000\0');
  put(124, `${size.toString(8).padStart(11, '0')}\0`);
  put(136, '00000000000\0');
  put(156, '0');
  put(257, 'ustar\0');
  put(263, '00');
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (block[i] as number);
  put(148, `${sum.toString(8).padStart(6, '0')}\0 `);
  return block;
}

/** A ustar archive of regular files, with the two-block end marker. */
export function writeTar(entries: readonly { readonly name: string; readonly data: Uint8Array }[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const { name, data } of entries) {
    parts.push(header(name, data.length), data, new Uint8Array((BLOCK - (data.length % BLOCK)) % BLOCK));
  }
  parts.push(new Uint8Array(2 * BLOCK));
  return Buffer.concat(parts);
}
