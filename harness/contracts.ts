/**
 * The interfaces the runner's lower layers (progress, leases) and the suites both speak. They live
 * below both, so neither progress.ts nor leases.ts imports the suites layer; suites/context.ts
 * re-exports them, so a suite's imports stay as they were.
 */
import type { Address, Family } from '../transports/address.js';
import type { GrpcServer, HttpStack, Transport, TransportName, TransportOptions } from '../transports/types.js';
import type { SuiteName } from './config.js';
import type { CellResult } from './results.js';

export interface Progress {
  /** A cell, or a group of `cells` cells measured together (they finish at once), is about to run. */
  start(label: string, cells?: number): void;
  /** A cell finished (ok or failed). */
  done(cell: CellResult): void;
  /**
   * How many cells the suite now starting will measure, called once per suite before its first
   * cell. The CLI fixes the total before the run (harness/plan.ts); this replaces the suite's share.
   */
  plan(cells: number): void;
  log(message: string): void;
}

/** A running sidecar (spawned, or the one given with --connect) that suites open clients on. */
export interface SidecarLease {
  readonly transport: TransportName;
  readonly family: Family;
  readonly httpStack?: HttpStack;
  readonly grpcServer?: GrpcServer;
  readonly facts: Record<string, unknown>;
  /** Where it listens, restarting it first when it died (a restarted sidecar listens somewhere new). */
  live(): Promise<Address>;
  /** Open `count` clients (one connection each); `options` adds to the lease's own (the model's name, http-json's tensor encoding). */
  connect(count: number, options?: Partial<TransportOptions>): Promise<Transport[]>;
  /**
   * Whether the process died (so a lost connection is reported as a crash). The socket can close
   * a moment before the exit is seen, so this waits up to `graceMs` for it.
   */
  crashed(graceMs?: number): Promise<boolean>;
}

/**
 * One sidecar a suite wants: its model (named after the suite that runs it), wire, family, and
 * server: the HTTP stack (http-json) or gRPC server (grpc). A client library is not part of it:
 * clients are arms on the same sidecar.
 */
export interface SidecarTarget {
  readonly model: SuiteName;
  readonly transport: TransportName;
  readonly family: Family;
  readonly httpStack?: HttpStack;
  readonly grpcServer?: GrpcServer;
}
