/**
 * A reply of the lean client: its head, and its body fed by the connection and read once, whole
 * (`bytes`, `text`) or as it arrives (`chunks`, for SSE). It counts bytes against
 * `maxResponseBytes` (FRAME_TOO_LARGE) and keeps the body's idle deadline (TIMEOUT when no bytes
 * come for `timeoutMs`); either failure goes to `onFail`, which drops the connection.
 * A class, not a factory of closures: one is made per request, and methods on the prototype cost
 * nothing per reply, where each closure costs an allocation (and, under tsx, a `__name` call).
 */
import { HarnessError } from '../errors.js';
import type { HttpHeaders, HttpResponse } from './types.js';

export interface BodyLimits {
  readonly timeoutMs: number;
  readonly maxResponseBytes: number;
  readonly onFail: (error: HarnessError) => void;
}

export class LeanResponse implements HttpResponse {
  readonly #limits: BodyLimits;
  readonly #parts: Buffer[] = [];
  #received = 0;
  #ended = false;
  #failure: HarnessError | undefined;
  #wake: (() => void) | undefined;
  // Made only when a body outlives the read its head came in: a small reply never arms a timer.
  #timer: NodeJS.Timeout | undefined;

  constructor(
    readonly statusCode: number,
    readonly headers: HttpHeaders,
    limits: BodyLimits,
  ) {
    this.#limits = limits;
  }

  /** A piece of the body from the connection. */
  push(piece: Buffer): void {
    if (this.#ended || this.#failure !== undefined) return;
    this.#received += piece.length;
    const { maxResponseBytes } = this.#limits;
    if (this.#received > maxResponseBytes) return this.fail(new HarnessError('FRAME_TOO_LARGE', `Expected a reply body of at most ${maxResponseBytes} bytes, got more`));
    this.#parts.push(piece);
    this.#timer?.refresh();
    this.#notify();
  }

  end(): void {
    if (this.#failure !== undefined) return;
    this.#ended = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#notify();
  }

  fail(error: HarnessError): void {
    if (this.#ended || this.#failure !== undefined) return;
    this.#failure = error;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#notify();
    this.#limits.onFail(error);
  }

  /** Arms the idle deadline: called after each socket read that left the body open (refresh() pushes it back). */
  wait(): void {
    if (this.#ended || this.#failure !== undefined || this.#timer !== undefined) return;
    const { timeoutMs } = this.#limits;
    this.#timer = setTimeout(() => this.fail(new HarnessError('TIMEOUT', `Expected more of the reply body within ${timeoutMs} ms, got none`)), timeoutMs);
  }

  async bytes(): Promise<Uint8Array> {
    const body = await this.#whole();
    return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  }

  async text(): Promise<string> {
    return (await this.#whole()).toString('utf8');
  }

  async *chunks(): AsyncGenerator<Uint8Array> {
    for (;;) {
      const piece = this.#parts.shift();
      if (piece !== undefined) yield piece;
      else if (this.#failure !== undefined) throw this.#failure;
      else if (this.#ended) return;
      else await this.#changed();
    }
  }

  #notify(): void {
    const waiting = this.#wake;
    this.#wake = undefined;
    waiting?.();
  }

  /** Resolves once there is something new to look at: a piece, the end, or a failure. */
  #changed(): Promise<void> {
    return new Promise((resolve) => (this.#wake = resolve));
  }

  async #whole(): Promise<Buffer> {
    while (!this.#ended && this.#failure === undefined) await this.#changed();
    if (this.#failure !== undefined) throw this.#failure;
    return this.#parts.length === 1 ? (this.#parts[0] as Buffer) : Buffer.concat(this.#parts);
  }
}
