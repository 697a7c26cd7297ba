/**
 * infer() and metadata() on all four wires against real sidecars serving real models: the example
 * tabular MLP (over unix and tcp, checked against the same class run in-process by Python), CIFAR
 * (labels equal classify's), a BYTES model, http-json's JSON and binary encodings, and bad inputs,
 * which are BAD_INPUT on every wire and leave the sidecar serving.
 */
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSidecar, stopAllSidecars, type Sidecar } from '../harness/sidecar.js';
import { REPO_ROOT, sidecarPython } from '../harness/paths.js';
import { codeOf } from '../harness/testing.js';
import { FAMILIES, type Family } from './address.js';
import { loadTransport } from './registry.js';
import { compareOutputs, EXACT, type Tolerance } from './tensor-compare.js';
import { makeTensor, tensorValues } from './tensors.js';
import { TRANSPORT_NAMES, type InferReply, type Tensor, type Transport, type TransportName, type TransportOptions } from './types.js';

const TABULAR = 'examples/tabular_mlp.py:TabularMLP';
const EMBEDDER = 'examples/text_embedder.py:TextEmbedder';
// One process's float32 forward pass against another's: the same ops on the same CPU, so only
// thread scheduling could move the last bits.
const FLOATS: Tolerance = { absolute: 1e-6, relative: 1e-5 };

const features = makeTensor('features', 'FP32', [3, 32], Array.from({ length: 96 }, (_, i) => Math.sin(i * 0.37) * 2));
const images = Uint8Array.from({ length: 4 * 3072 }, (_, i) => (i * 2654435761) >>> 24);
const texts = makeTensor('text', 'BYTES', [3], ['hello world', '', 'Grüße, naïve café 🙂']);

async function connect(transport: TransportName, sidecar: Sidecar, extra: Partial<TransportOptions> = {}): Promise<Transport> {
  const name = (sidecar.ready['metadata'] as { name?: string } | undefined)?.name;
  const factory = await loadTransport(transport);
  return factory({ address: sidecar.address, timeoutMs: 20_000, maxFrameBytes: 64 * 1024 * 1024, ...(name === undefined ? {} : { modelName: name }), ...extra });
}

/** The tabular model run in-process by Python on `features`: the reference every wire must match. */
function pythonReference(): Tensor[] {
  const script = [
    'import json, sys, numpy as np',
    "sys.path.insert(0, 'examples')",
    'from tabular_mlp import TabularMLP',
    'm = TabularMLP(); m.load()',
    'x = np.array(json.loads(sys.stdin.read()), dtype=np.float32).reshape(3, 32)',
    'out = m.infer({"features": x})',
    'print(json.dumps({"p": out["probabilities"].astype(float).ravel().tolist(), "l": out["label"].astype(int).tolist()}))',
  ].join('\n');
  const stdout = execFileSync(sidecarPython(), ['-c', script], { cwd: REPO_ROOT, input: JSON.stringify(tensorValues(features)), encoding: 'utf8' });
  const out = JSON.parse(stdout) as { p: number[]; l: number[] };
  return [makeTensor('probabilities', 'FP32', [3, 4], out.p), makeTensor('label', 'INT64', [3], out.l.map(BigInt))];
}

const expectAgree = (expected: readonly Tensor[], actual: readonly Tensor[], tolerance: Tolerance): void => {
  const agreement = compareOutputs(expected, actual, tolerance);
  expect(agreement.ok ? 'agree' : agreement.reason).toBe('agree');
};

afterAll(stopAllSidecars);

describe('tabular model on every wire', () => {
  const replies = new Map<string, InferReply>();
  const targets = TRANSPORT_NAMES.flatMap((transport) => FAMILIES.map((family: Family): [string, TransportName, Family] => [`${transport} over ${family}`, transport, family]));

  describe.each(targets)('%s', (_label, transport, family) => {
    let sidecar: Sidecar;
    let client: Transport;
    beforeAll(async () => {
      sidecar = await startSidecar({ model: TABULAR, transport, family });
      client = await connect(transport, sidecar);
    }, 60_000);
    afterAll(async () => {
      await client?.close();
      await sidecar?.stop();
    });

    it('gives the metadata the ready line has', async () => {
      const metadata = await client.metadata();
      expect(metadata).toEqual(sidecar.ready['metadata']);
    });

    it('infers, with the model compute time', async () => {
      const reply = await client.infer([features]);
      expect(reply.outputs.map((o) => [o.name, o.datatype, o.shape])).toEqual([['probabilities', 'FP32', [3, 4]], ['label', 'INT64', [3]]]);
      expect(reply.computeNs).toBeGreaterThan(0);
      replies.set(`${transport} over ${family}`, reply);
    });

    it('answers bad inputs with BAD_INPUT and keeps serving', async () => {
      const bad: Tensor[][] = [
        [makeTensor('features', 'FP32', [3, 31], new Array<number>(93).fill(0))], // a fixed dimension wrong
        [makeTensor('features', 'FP64', [3, 32], new Array<number>(96).fill(0))], // the wrong datatype
        [{ ...features, data: features.data.subarray(1) }], // bytes short of the shape
        [makeTensor('feature', 'FP32', [3, 32], new Array<number>(96).fill(0))], // an unknown name
        [features, makeTensor('extra', 'UINT8', [1], [1])], // one input too many
      ];
      for (const inputs of bad) expect(await codeOf(client.infer(inputs))).toBe('BAD_INPUT');
      expect((await client.infer([features])).outputs).toHaveLength(2);
    });
  });

  it('every wire and family gives the same outputs, which are the model run in-process', () => {
    expect([...replies.keys()]).toHaveLength(targets.length);
    const reference = pythonReference();
    for (const reply of replies.values()) expectAgree(reference, reply.outputs, FLOATS);
    const first = [...replies.values()][0] as InferReply;
    for (const reply of replies.values()) expectAgree(first.outputs, reply.outputs, EXACT);
  }, 60_000);
});

describe('http-json tensor encodings and model names', () => {
  let sidecar: Sidecar;
  beforeAll(async () => {
    sidecar = await startSidecar({ model: TABULAR, transport: 'http-json', family: 'tcp' });
  }, 60_000);
  afterAll(() => sidecar?.stop());

  it('gives the same outputs with JSON as with binary tensors', async () => {
    const binary = await connect('http-json', sidecar, { tensorEncoding: 'binary' });
    const json = await connect('http-json', sidecar, { tensorEncoding: 'json' });
    try {
      const a = await binary.infer([features]);
      const b = await json.infer([features]);
      expectAgree(a.outputs, b.outputs, EXACT);
      expect(b.computeNs).toBeGreaterThan(0);
      expect(await codeOf(json.infer([makeTensor('features', 'FP32', [1, 32], [NaN, ...new Array<number>(31).fill(0)])]))).toBe('BAD_INPUT');
      expect(await codeOf(json.infer([makeTensor('features', 'FP32', [3, 31], new Array<number>(93).fill(0))]))).toBe('BAD_INPUT');
    } finally {
      await binary.close();
      await json.close();
    }
  });

  it("finds the model's name from /healthz when not given, and a wrong name is UNKNOWN_TYPE", async () => {
    const unnamed = await (await loadTransport('http-json'))({ address: sidecar.address, timeoutMs: 20_000, maxFrameBytes: 1 << 26 });
    const wrong = await connect('http-json', sidecar, { modelName: 'no-such-model' });
    try {
      expect((await unnamed.metadata()).name).toBe('tabular-mlp');
      expect(await codeOf(wrong.infer([features]))).toBe('UNKNOWN_TYPE');
      expect(await codeOf(wrong.metadata())).toBe('UNKNOWN_TYPE');
    } finally {
      await unnamed.close();
      await wrong.close();
    }
  });
});

describe('cifar: infer labels equal classify labels on every wire', () => {
  it.each(TRANSPORT_NAMES)('%s', async (transport) => {
    const sidecar = await startSidecar({ model: 'cifar', transport, family: 'unix' });
    const client = await connect(transport, sidecar);
    try {
      const reply = await client.infer([{ name: 'images', datatype: 'UINT8', shape: [4, 3, 32, 32], data: images }]);
      const labels = reply.outputs.find((o) => o.name === 'labels');
      expect(labels?.shape).toEqual([4]);
      expect([...(labels?.data ?? [])]).toEqual([...(await client.classify(images)).labels]);
      expect(reply.outputs.find((o) => o.name === 'logits')?.shape).toEqual([4, 10]);
      expect(await codeOf(client.infer([{ name: 'images', datatype: 'UINT8', shape: [1, 3, 32, 31], data: images.subarray(0, 3 * 32 * 31) }]))).toBe('BAD_INPUT');
    } finally {
      await client.close();
      await sidecar.stop();
    }
  }, 90_000);
});

describe('a BYTES model on every wire', () => {
  const replies: InferReply[] = [];
  it.each(TRANSPORT_NAMES)('%s', async (transport) => {
    const sidecar = await startSidecar({ model: EMBEDDER, transport, family: 'tcp' });
    const client = await connect(transport, sidecar);
    try {
      const reply = await client.infer([texts]);
      expect(reply.outputs.map((o) => [o.name, o.datatype, o.shape])).toEqual([['embedding', 'FP32', [3, 64]]]);
      const norms = [0, 1, 2].map((row) => Math.hypot(...(tensorValues(reply.outputs[0] as Tensor).slice(row * 64, row * 64 + 64) as number[])));
      expect(norms.map((n) => Math.round(n * 1e4) / 1e4)).toEqual([1, 0, 1]); // L2-normalised; the empty text is all zeros
      replies.push(reply);
      const cut = { ...texts, data: texts.data.subarray(0, texts.data.length - 1) }; // the last element runs past the end
      expect(await codeOf(client.infer([cut]))).toBe('BAD_INPUT');
      if (transport === 'http-json') {
        const json = await connect(transport, sidecar, { tensorEncoding: 'json' });
        expectAgree(reply.outputs, (await json.infer([texts])).outputs, EXACT);
        await json.close();
      }
    } finally {
      await client.close();
      await sidecar.stop();
    }
  }, 90_000);

  it('gives the same embeddings on every wire', () => {
    expect(replies).toHaveLength(TRANSPORT_NAMES.length);
    for (const reply of replies) expectAgree((replies[0] as InferReply).outputs, reply.outputs, EXACT);
  });
});

describe('the echo model: a large tensor back unchanged on every wire, and a wrong model name', () => {
  it.each(TRANSPORT_NAMES)('%s', async (transport) => {
    const sidecar = await startSidecar({ model: 'echo', transport, family: 'unix' });
    const client = await connect(transport, sidecar);
    try {
      const payload: Tensor = { name: 'payload', datatype: 'UINT8', shape: [300_000], data: Uint8Array.from({ length: 300_000 }, (_, i) => (i * 31) & 0xff) };
      expectAgree([payload], (await client.infer([payload])).outputs, EXACT);
      if (transport === 'http-json' || transport === 'grpc') {
        const wrong = await connect(transport, sidecar, { modelName: 'no-such-model' });
        expect(await codeOf(wrong.infer([payload]))).toBe('UNKNOWN_TYPE');
        expect(await codeOf(wrong.metadata())).toBe('UNKNOWN_TYPE');
        await wrong.close();
      }
    } finally {
      await client.close();
      await sidecar.stop();
    }
  }, 60_000);
});
