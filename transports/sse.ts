/** Server-sent events (`text/event-stream`), as http-json's streamed generation sends them. */

/** Incremental `text/event-stream` parsing: `push` takes bytes as they arrive, in any split. */
export function createSseParser(onData: (data: string) => void): { push(chunk: Uint8Array): void } {
  const decoder = new TextDecoder('utf-8');
  let pending = '';
  let data: string[] = [];
  return {
    push(chunk) {
      pending += decoder.decode(chunk, { stream: true });
      let start = 0;
      for (let end = pending.indexOf('\n'); end !== -1; end = pending.indexOf('\n', start)) {
        const line = pending.slice(start, pending[end - 1] === '\r' ? end - 1 : end);
        start = end + 1;
        if (line === '') {
          if (data.length > 0) onData(data.join('\n'));
          data = [];
          continue;
        }
        const colon = line.indexOf(':');
        if (colon === 0) continue; // a comment
        const field = colon === -1 ? line : line.slice(0, colon);
        const value = colon === -1 ? '' : line.slice(line[colon + 1] === ' ' ? colon + 2 : colon + 1);
        if (field === 'data') data.push(value);
      }
      pending = pending.slice(start);
    },
  };
}
