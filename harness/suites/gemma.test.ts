import { describe, expect, it } from 'vitest';
import { agreementCheck } from './gemma.js';

const prompts = [{ id: 'a', prompt: 'one' }, { id: 'b', prompt: 'two' }];

describe('gemma: agreement', () => {
  it('passes when every transport and mode returns the in-process greedy output', () => {
    const outputs = new Map([
      ['8/in-process', ['x', 'y']],
      ['8/framed/unix/unary', ['x', 'y']],
      ['8/framed/unix/stream', ['x', 'y']],
    ]);
    expect(agreementCheck(outputs, prompts)).toMatchObject({ ok: true, detail: expect.stringContaining('2 transport/mode passes') });
  });

  it('fails on one differing output, naming the pass and prompt', () => {
    const outputs = new Map([
      ['8/in-process', ['x', 'y']],
      ['8/grpc/tcp/stream', ['x', 'y!']],
    ]);
    const check = agreementCheck(outputs, prompts);
    expect(check.ok).toBe(false);
    expect(check.detail).toContain('8/grpc/tcp/stream prompt b');
  });

  it('compares each length with its own in-process run, and fails when a pass is incomplete', () => {
    const outputs = new Map([
      ['8/in-process', ['x', 'y']],
      ['16/in-process', ['xx', 'yy']],
      ['16/framed/unix/unary', ['xx', 'yy']],
    ]);
    expect(agreementCheck(outputs, prompts).ok).toBe(true);
    const gap = new Map([
      ['8/in-process', ['x', 'y']],
      ['8/framed/unix/unary', ['x', undefined as unknown as string]],
    ]);
    expect(agreementCheck(gap, prompts).ok).toBe(false);
    expect(agreementCheck(new Map([['8/in-process', ['x', 'y']]]), prompts).ok).toBe(false);
  });
});
