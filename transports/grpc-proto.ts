/**
 * Service `sidecar.v1.Sidecar` (sidecars/proto/sidecar.proto), loaded at run time with proto-loader
 * (no generated code). Its method definitions carry protobufjs serialisers both ways, so every gRPC
 * client here (grpc-js, lean-http2) encodes and decodes the same way; nothing in this file loads grpc-js.
 */
import { fileURLToPath } from 'node:url';
import type * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { HarnessError } from './errors.js';

export const PROTO_PATH = fileURLToPath(new URL('../sidecars/proto/sidecar.proto', import.meta.url));
export const SERVICE_NAME = 'sidecar.v1.Sidecar';
/** The trailing metadata key in which the sidecar sends its own error code. */
export const ERROR_CODE_KEY = 'sidecar-error-code';

/** A method as proto-loader defines it: its path and its message serialisers. */
export type GrpcMethod = grpc.MethodDefinition<object, Record<string, unknown>>;
export type Methods = Readonly<Record<'Echo' | 'Classify' | 'ClassifyBatch' | 'Generate' | 'GenerateStream', GrpcMethod>>;

/** A service's method definitions parsed from a .proto (snake_case fields, as on the wire); int64 fields as `longs` makes them. */
export function loadService(protoPath: string, serviceName: string, longs: typeof Number | typeof String): grpc.ServiceDefinition {
  const definition = protoLoader.loadSync(protoPath, { keepCase: true, longs, enums: String, defaults: false, oneofs: false });
  const service = definition[serviceName] as grpc.ServiceDefinition | undefined;
  if (service === undefined) throw new HarnessError('SETUP_FAILED', `Expected service \`${serviceName}\` in ${protoPath}`);
  return service;
}

let methods: Methods | undefined;

/** The service's methods, parsed from the .proto once per process. */
export function loadMethods(): Methods {
  methods ??= loadService(PROTO_PATH, SERVICE_NAME, Number) as unknown as Methods;
  return methods;
}
