/** The msgpack wire's infer op: tensors as maps with raw bytes as bin (docs/protocol.md, "Tensors"). */
import { HarnessError } from './errors.js';
import { readComputeNs, readWireTensor } from './model-metadata.js';
import type { WireReply } from './msgpack.js';
import { checkedOutput } from './tensors.js';
import type { InferReply, Tensor } from './types.js';

/** A tensor as the wire's map; `shape` copied to a plain array, `data` packed as bin. */
export function wireTensor(tensor: Tensor): Record<string, unknown> {
  return { name: tensor.name, datatype: tensor.datatype, shape: [...tensor.shape], data: tensor.data };
}

export function inferReply(reply: WireReply): InferReply {
  if (!Array.isArray(reply.outputs)) throw new HarnessError('PROTOCOL_ERROR', 'Expected `outputs` to be a list in the infer reply');
  const outputs = reply.outputs.map((raw, i) => checkedOutput(readWireTensor(raw, `output ${i}`)));
  const computeNs = readComputeNs(reply.compute_ns);
  return computeNs === undefined ? { outputs } : { outputs, computeNs };
}
