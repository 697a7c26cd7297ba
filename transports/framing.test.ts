import { describe, expect, it } from 'vitest';
import { HarnessError } from './errors.js';
import { createFrameDecoder, lengthHeader } from './framing.js';

function frame(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + body.length);
  out.set(lengthHeader(body.length), 0);
  out.set(body, 4);
  return out;
}

function stream(bodies: Uint8Array[]): Uint8Array {
  return Buffer.concat(bodies.map(frame));
}

const bodies = [new Uint8Array(0), Uint8Array.of(1), Uint8Array.from({ length: 300 }, (_, i) => i % 256), Uint8Array.of(9, 8, 7)];
const wire = stream(bodies);

describe('frame decoder', () => {
  // The truncation loop: every split point of the whole stream, in one and in two cuts.
  it.each(Array.from({ length: wire.length + 1 }, (_, cut) => cut))('decodes the stream split at byte %i', (cut) => {
    const decoder = createFrameDecoder();
    const out = [...decoder.push(wire.subarray(0, cut)), ...decoder.push(wire.subarray(cut))];
    expect(out.map((b) => [...b])).toEqual(bodies.map((b) => [...b]));
    expect(decoder.pendingBytes).toBe(0);
  });

  it('decodes byte-by-byte feeding', () => {
    const decoder = createFrameDecoder();
    const out: Uint8Array[] = [];
    for (const byte of wire) out.push(...decoder.push(Uint8Array.of(byte)));
    expect(out.map((b) => [...b])).toEqual(bodies.map((b) => [...b]));
  });

  it('holds a truncated frame without emitting it', () => {
    const decoder = createFrameDecoder();
    const one = frame(Uint8Array.of(1, 2, 3));
    for (let cut = 0; cut < one.length; cut++) {
      const d = createFrameDecoder();
      expect(d.push(one.subarray(0, cut))).toEqual([]);
      expect(d.pendingBytes).toBe(cut);
    }
    expect(decoder.push(one).length).toBe(1);
  });

  it('rejects a header over the limit before buffering the body', () => {
    const decoder = createFrameDecoder(1024);
    const error = (() => {
      try {
        decoder.push(lengthHeader(1025));
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(HarnessError);
    expect((error as HarnessError).code).toBe('FRAME_TOO_LARGE');
  });

  it('accepts a frame exactly at the limit', () => {
    const decoder = createFrameDecoder(16);
    expect(decoder.push(frame(new Uint8Array(16)))).toHaveLength(1);
  });
});
