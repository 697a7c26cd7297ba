/**
 * Length-prefixed frames, `[u32 BE length][length bytes]`, shared by the framed and msgpack wires.
 * The decoder is pure (no I/O): feed it chunks split anywhere and it returns whole frame bodies,
 * checking each declared length before buffering any of its body. Chunks of a large frame are
 * joined once, when the frame is complete, not on every read.
 */
import { HarnessError } from './errors.js';

export const HEADER_BYTES = 4;
export const DEFAULT_MAX_FRAME_BYTES = 64 * 1024 * 1024;

export interface FrameDecoder {
  /** Bodies completed by this chunk, in order. Throws FRAME_TOO_LARGE on a bad header. */
  push(chunk: Uint8Array): Uint8Array[];
  readonly pendingBytes: number;
}

export function createFrameDecoder(maxFrameBytes: number = DEFAULT_MAX_FRAME_BYTES): FrameDecoder {
  let chunks: Uint8Array[] = [];
  let total = 0;
  let needed = HEADER_BYTES; // bytes that must be buffered before parsing can make progress
  return {
    get pendingBytes() {
      return total;
    },
    push(chunk) {
      if (chunk.length === 0) return [];
      chunks.push(chunk);
      total += chunk.length;
      if (total < needed) return [];
      const data = chunks.length === 1 ? chunk : join(chunks, total);
      const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
      const frames: Uint8Array[] = [];
      let offset = 0;
      needed = HEADER_BYTES;
      while (data.length - offset >= HEADER_BYTES) {
        const length = view.getUint32(offset);
        if (length > maxFrameBytes) {
          chunks = [];
          total = 0;
          throw new HarnessError('FRAME_TOO_LARGE', `Expected a frame of at most ${maxFrameBytes} bytes, got a header declaring ${length}`);
        }
        const end = offset + HEADER_BYTES + length;
        if (end > data.length) {
          needed = HEADER_BYTES + length;
          break;
        }
        frames.push(data.subarray(offset + HEADER_BYTES, end));
        offset = end;
      }
      const rest = data.subarray(offset);
      chunks = rest.length === 0 ? [] : [rest];
      total = rest.length;
      return frames;
    },
  };
}

function join(parts: readonly Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** The 4-byte big-endian length header for a body of `length` bytes. */
export function lengthHeader(length: number): Uint8Array {
  const header = new Uint8Array(HEADER_BYTES);
  new DataView(header.buffer).setUint32(0, length);
  return header;
}
