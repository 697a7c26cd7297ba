import { describe, expect, it } from 'vitest';
import { codeOf } from '../testing.js';
import { startInProcess } from './inprocess.js';

describe('the in-process model driver', () => {
  it('answers blocks of commands with latencies timed in Python, and refuses bad ones with a code', async () => {
    const images = Uint8Array.from({ length: 4 * 3072 }, (_, i) => (i * 13) & 0xff);
    const model = await startInProcess(['--model', 'cifar', '--images', '{input}', '--device', 'cpu', '--threads', '1'], { name: 'images.bin', bytes: images }, 60_000);
    try {
      expect(model.facts['device']).toBe('cpu');
      const reply = await model.command({ op: 'classify', items: [0, 1, 2, 3], batch: 1 }, 30_000);
      const latency = reply['latency_ns'] as number[];
      const compute = reply['compute_ns'] as number[];
      expect(latency).toHaveLength(4);
      expect(latency.every((ns, i) => ns >= (compute[i] ?? Infinity) && ns < 5e9)).toBe(true);
      expect(reply['labels']).toHaveLength(4);
      expect(await codeOf(model.command({ op: 'classify', items: [9] }, 30_000))).toBe('BAD_INPUT');
      expect(await codeOf(model.command({ op: 'dance' }, 30_000))).toBe('UNKNOWN_TYPE');
      // Still serving after bad commands.
      expect((await model.command({ op: 'classify', items: [1, 3], batch: 2 }, 30_000))['labels']).toEqual([(reply['labels'] as number[])[1], (reply['labels'] as number[])[3]]);
    } finally {
      await model.close();
    }
  }, 60_000);

  it('stops a long command at once on Ctrl-C, with ABORTED', async () => {
    const images = new Uint8Array(3000 * 3072);
    const model = await startInProcess(['--model', 'cifar', '--images', '{input}', '--device', 'cpu', '--threads', '1'], { name: 'images.bin', bytes: images }, 60_000);
    try {
      const abort = new AbortController();
      setTimeout(() => abort.abort(), 100);
      const started = performance.now();
      const items = Array.from({ length: 3000 }, (_, i) => i);
      expect(await codeOf(model.command({ op: 'classify', items, batch: 1 }, 60_000, abort.signal))).toBe('ABORTED');
      expect(performance.now() - started).toBeLessThan(2000);
    } finally {
      await model.close();
    }
  }, 60_000);

  it('fails to start with SIDECAR_START_FAILED and the reason', async () => {
    const error = startInProcess(['--model', 'cifar', '--images', '{input}', '--weights', '/nonexistent.pt'], { name: 'images.bin', bytes: new Uint8Array(3072) }, 60_000);
    await expect(error).rejects.toMatchObject({ code: 'SIDECAR_START_FAILED', message: expect.stringContaining('nonexistent') });
  }, 60_000);
});
