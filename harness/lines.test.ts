import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { lineReader } from './lines.js';

describe('line reader', () => {
  it('hands out lines in order, whether they came before or after the call', async () => {
    const stream = new PassThrough();
    const lines = lineReader(stream);
    stream.write('one\ntwo\n');
    await new Promise((r) => setImmediate(r));
    expect(await lines.next(100)).toEqual({ line: 'one' });
    expect(await lines.next(100)).toEqual({ line: 'two' });
    const third = lines.next(1000);
    stream.write('three\n');
    expect(await third).toEqual({ line: 'three' });
    stream.end();
    expect(await lines.next(100)).toEqual({ ended: true });
  });

  it('is done after a deadline passes: a late line never answers the next request', async () => {
    const stream = new PassThrough();
    const lines = lineReader(stream);
    expect(await lines.next(30)).toEqual({ timedOut: true });
    stream.write('late\n');
    await new Promise((r) => setImmediate(r));
    expect(await lines.next(30)).toEqual({ ended: true });
  });
});
