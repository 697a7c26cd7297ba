/**
 * Reading a child's stdout one line at a time, with a deadline per line (a request/reply pipe).
 * After a deadline passes the pipe is out of step (a late line would answer the next request),
 * so the reader is done: later calls say the stream ended.
 */
import readline from 'node:readline';

export interface LineReader {
  /** The next line; undefined when the stream ended, or when `timeoutMs` passed first. */
  next(timeoutMs: number): Promise<{ line: string } | { ended: true } | { timedOut: true }>;
}

export function lineReader(stream: NodeJS.ReadableStream): LineReader {
  const lines = readline.createInterface({ input: stream });
  const queue: string[] = [];
  let waiting: ((line: string | undefined) => void) | undefined;
  let ended = false;
  lines.on('line', (line) => {
    if (ended) return;
    const w = waiting;
    waiting = undefined;
    if (w === undefined) queue.push(line);
    else w(line);
  });
  lines.on('close', () => {
    ended = true;
    const w = waiting;
    waiting = undefined;
    w?.(undefined);
  });
  return {
    next(timeoutMs) {
      const queued = queue.shift();
      if (queued !== undefined) return Promise.resolve({ line: queued });
      if (ended) return Promise.resolve({ ended: true });
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          waiting = undefined;
          ended = true;
          queue.length = 0;
          lines.close();
          resolve({ timedOut: true });
        }, timeoutMs);
        waiting = (line) => {
          clearTimeout(timer);
          resolve(line === undefined ? { ended: true } : { line });
        };
      });
    },
  };
}
