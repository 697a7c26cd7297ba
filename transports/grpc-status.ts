/**
 * gRPC status codes (the numbers are the protocol's, doc/statuscodes.md in grpc/grpc) and how a
 * failed call's status becomes a HarnessError code, shared by both gRPC clients: the sidecar's own
 * code (trailer `sidecar-error-code`) when it sent one, else the one the status implies.
 */
import { type HarnessErrorCode, isHarnessErrorCode } from './errors.js';

export const GRPC_STATUS = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
} as const;

const STATUS_CODES: Readonly<Record<number, HarnessErrorCode>> = {
  [GRPC_STATUS.DEADLINE_EXCEEDED]: 'TIMEOUT',
  [GRPC_STATUS.UNAVAILABLE]: 'SIDECAR_CLOSED',
  [GRPC_STATUS.CANCELLED]: 'SIDECAR_CLOSED',
  [GRPC_STATUS.INVALID_ARGUMENT]: 'BAD_INPUT',
  [GRPC_STATUS.UNIMPLEMENTED]: 'UNKNOWN_TYPE',
  // An Open Inference Protocol server's unknown model, as HTTP 404 is on http-json.
  [GRPC_STATUS.NOT_FOUND]: 'UNKNOWN_TYPE',
  [GRPC_STATUS.RESOURCE_EXHAUSTED]: 'FRAME_TOO_LARGE',
  [GRPC_STATUS.INTERNAL]: 'INTERNAL',
};

/** The HarnessError code for a call that ended with `status`, `details` and the sidecar's code `sent`. */
export function codeForStatus(status: number | undefined, details: string, sent: unknown): HarnessErrorCode {
  if (isHarnessErrorCode(sent)) return sent;
  if (status === undefined) return 'PROTOCOL_ERROR';
  // gRPC's own RESOURCE_EXHAUSTED is a message over its size limit, or grpcio's cap on calls
  // (`maximum_concurrent_rpcs`: "Concurrent RPC limit exceeded!"), which is a refusal at a limit.
  if (status === GRPC_STATUS.RESOURCE_EXHAUSTED && /concurrent rpc limit/i.test(details)) return 'OVERLOADED';
  return STATUS_CODES[status] ?? 'PROTOCOL_ERROR';
}
