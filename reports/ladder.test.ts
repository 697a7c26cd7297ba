import { describe, expect, it } from 'vitest';
import type { CellKey, CellResult } from '../harness/results.js';
import { answerText } from './answer.js';
import { echoRun, group, run } from './fixtures.js';
import { renderReport } from './html.js';
import { ladderOf, laddersFor } from './ladder.js';

const key = (transport: CellKey['transport'], extra: Partial<CellKey> = {}): CellKey => ({ suite: 'echo', scenario: 'single-stream', transport, family: 'unix', payloadBytes: 3072, concurrency: 1, ...extra });
const http = (httpStack: NonNullable<CellKey['httpStack']>, httpClient: NonNullable<CellKey['httpClient']>): CellKey => key('http-json', { httpStack, httpClient });
const grpc = (grpcServer: NonNullable<CellKey['grpcServer']>, grpcClient: NonNullable<CellKey['grpcClient']>): CellKey => key('grpc', { grpcServer, grpcClient });

/** One group as a quick run measures it: framed, both HTTP stacks x both clients, both gRPC servers x both clients. */
function quickGroup(): CellResult[] {
  return group('echo unix 3072', [
    { key: key('framed'), p50Us: 40 },
    { key: http('lean', 'undici'), p50Us: 110 },
    { key: http('lean', 'node-http'), p50Us: 90 },
    { key: http('gunicorn-gthread', 'node-http'), p50Us: 330 },
    { key: http('gunicorn-gthread', 'undici'), p50Us: 360 },
    { key: grpc('aio-uvloop', 'lean-http2'), p50Us: 150 },
    { key: grpc('aio-uvloop', 'grpc-js'), p50Us: 260 },
    { key: grpc('thread', 'lean-http2'), p50Us: 200 },
    { key: grpc('thread', 'grpc-js'), p50Us: 420 },
  ]);
}

describe('the ladder', () => {
  it('splits HTTP time into protocol, server stack and client library, each step read round by round', () => {
    const { steps, leftOut } = ladderOf(quickGroup(), 'http');
    expect(leftOut).toBeUndefined();
    expect(steps.map((s) => [s.step, s.series])).toEqual([
      ['protocol floor', 'framed'],
      ['the lean set-up', 'http-json (lean, node-http)'],
      ['+ the real server stack', 'http-json (gunicorn-gthread, node-http)'],
      ['+ the real client library', 'http-json (gunicorn-gthread, undici)'],
    ]);
    // The fixture's rounds drift together (x1 to x2.5): per-round ratios and differences keep the steps apart.
    expect(steps[1]?.ratio?.estimate).toBeCloseTo(90 / 40, 1);
    expect(steps[3]?.ratio?.estimate).toBeCloseTo(360 / 40, 1);
    const added = steps.slice(1).map((s) => s.added!);
    for (const [a, base] of [[added[0], 50], [added[1], 240], [added[2], 30]] as const) {
      expect(a!.low).toBeLessThanOrEqual(a!.estimate);
      expect(a!.high).toBeGreaterThanOrEqual(a!.estimate);
      expect(a!.estimate).toBeGreaterThan(base * 0.9); // at least the drift-free difference
      expect(a!.estimate).toBeLessThan(base * 2.6);
      expect(a!.n).toBe(12);
    }
  });

  it('takes lean-http2 on the fastest gRPC server, and says when a step adds nothing', () => {
    const fastestIsReal = group('g', [
      { key: key('framed'), p50Us: 40 },
      { key: grpc('thread', 'lean-http2'), p50Us: 150 },
      { key: grpc('aio', 'lean-http2'), p50Us: 190 },
      { key: grpc('thread', 'grpc-js'), p50Us: 420 },
    ]);
    const { steps } = ladderOf(fastestIsReal, 'grpc');
    expect(steps.map((s) => [s.series, s.note])).toEqual([
      ['framed', undefined],
      ['grpc (thread, lean-http2)', undefined],
      ['grpc (thread, lean-http2)', 'the lean set-up already runs thread'],
      ['grpc (thread, grpc-js)', undefined],
    ]);
    expect(ladderOf(quickGroup(), 'grpc').steps[1]?.series).toBe('grpc (aio-uvloop, lean-http2)');
  });

  it('is left out, saying why, when the run lacks a step', () => {
    const plain = quickGroup().filter((c) => c.httpStack !== 'lean');
    expect(ladderOf(plain, 'http').leftOut).toContain('needs the lean stack');
    const noUndici = quickGroup().filter((c) => c.httpClient !== 'undici');
    expect(ladderOf(noUndici, 'http').leftOut).toContain('gunicorn-gthread with undici');
    expect(ladderOf(quickGroup().filter((c) => c.transport !== 'framed'), 'http').leftOut).toContain('framed');
    // Results from before issue 15 name a gunicorn worker, not a stack and client.
    expect(laddersFor(echoRun()).find((l) => l.protocol === 'http' && l.family === 'unix')?.leftOut).toContain('before issue 15');
  });

  it('gives each step as a share of the model time in a model suite', () => {
    const model = (transport: CellKey['transport'], extra: Partial<CellKey> = {}): CellKey => ({ suite: 'cifar', scenario: 'single-stream', transport, family: transport === 'in-process' ? 'in-process' : 'unix', concurrency: 1, batch: 1, ...extra });
    const cells = group('cifar', [
      { key: model('in-process'), p50Us: 1000, computeUs: 1000 },
      { key: model('framed'), p50Us: 1050 },
      { key: model('grpc', { grpcServer: 'aio-uvloop', grpcClient: 'lean-http2' }), p50Us: 1150 },
      { key: model('grpc', { grpcServer: 'thread', grpcClient: 'lean-http2' }), p50Us: 1200 },
      { key: model('grpc', { grpcServer: 'thread', grpcClient: 'grpc-js' }), p50Us: 1500 },
    ]);
    const [ladder] = laddersFor(run(cells));
    expect([ladder?.suite, ladder?.protocol, ladder?.family, ladder?.setting]).toEqual(['cifar', 'grpc', 'unix', 'batch 1']);
    const pct = ladder?.steps[3]?.addedPct ?? 0;
    expect(pct).toBeGreaterThan(25); // +300 µs over 1000 µs of model time, before drift
  });

  it('is in the terminal answer and in report.html', async () => {
    const result = run(quickGroup());
    const text = answerText(result);
    expect(text).toContain('Where the HTTP time goes: echo, 3 KiB, one request at a time, unix');
    expect(text).toContain('+ the real client library');
    expect(text).toContain('Where the gRPC time goes');
    const html = await renderReport(result);
    expect(html).toContain('data-ladder="echo/http/unix"');
    expect(html).toContain('http-json (gunicorn-gthread, undici)');
  });
});
