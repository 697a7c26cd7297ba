/**
 * Reading http-json replies from any server that speaks the idea's routes, not only ours: an error
 * may come as our `{"error": {code, message}}`, or as whatever the server's framework answers (an
 * HTML page, plain text, a JSON object of its own), and a generation's `response` may be a string
 * or, as the Gemma sampler's `.text` is, a list of strings.
 */
import { fromWireError, HarnessError, type HarnessErrorCode, isHarnessErrorCode, toHarnessError } from './errors.js';

/** What an HTTP status means on this wire when the body does not say (the sidecar's own table, reversed). */
// 503 is our OVERLOADED, and an Open Inference Protocol server's answer while it is not ready: try again later.
const CODE_BY_STATUS: Readonly<Record<number, HarnessErrorCode>> = { 400: 'BAD_INPUT', 404: 'UNKNOWN_TYPE', 405: 'UNKNOWN_TYPE', 413: 'FRAME_TOO_LARGE', 501: 'UNSUPPORTED_OP', 503: 'OVERLOADED' };
const SNIPPET_CHARS = 200;

export function record(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

/** A reply body in a few words: an HTML page as its text (title first), anything else as it came. */
export function bodySnippet(text: string, contentType: string): string {
  const html = /html/i.test(contentType) || /^\s*<(!doctype|html)/i.test(text);
  const plain = html
    ? text.replace(/<(script|style)[^]*?<\/\1>/gi, ' ').replace(/<[^>]*>/g, ' ').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&')
    : text;
  const words = plain.replace(/\s+/g, ' ').trim();
  return words.length > SNIPPET_CHARS ? `${words.slice(0, SNIPPET_CHARS)}...` : words;
}

function kindOf(contentType: string): string {
  const type = contentType.split(';')[0]?.trim() ?? '';
  return type === '' ? 'a body with no content type' : `${/^[aeiou]/i.test(type) ? 'an' : 'a'} ${type} body`;
}

/**
 * A non-200 reply as a HarnessError: the wire's error object when there is one, else the HTTP
 * status read as this wire's code (404 UNKNOWN_TYPE, 5xx INTERNAL, ...), with the page's text.
 */
export function replyError(statusCode: number, text: string, contentType: string, request: string): HarnessError {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  const error = record(body)['error'];
  if (typeof error === 'object' && error !== null) return fromWireError(error);
  // The Open Inference Protocol's shape, `{"error": message}`; ours adds our code beside it.
  if (typeof error === 'string') {
    const sent = record(body)['code'];
    const code = isHarnessErrorCode(sent) ? sent : statusCode >= 500 ? (CODE_BY_STATUS[statusCode] ?? 'INTERNAL') : (CODE_BY_STATUS[statusCode] ?? 'BAD_INPUT');
    return new HarnessError(code, `HTTP ${statusCode} from ${request}: ${error}`, { details: { status: statusCode, wire: body } });
  }
  const code = CODE_BY_STATUS[statusCode] ?? (statusCode >= 500 ? 'INTERNAL' : statusCode >= 400 ? 'BAD_INPUT' : 'PROTOCOL_ERROR');
  const snippet = bodySnippet(text, contentType);
  return new HarnessError(code, `HTTP ${statusCode} from ${request}, ${kindOf(contentType)}: ${JSON.stringify(snippet)}`, {
    details: { status: statusCode, contentType, body: snippet },
  });
}

/** A 200 reply's body as JSON; anything else is PROTOCOL_ERROR, saying what came instead. */
export function parseJsonReply(text: string, contentType: string, request: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    const snippet = bodySnippet(text, contentType);
    throw new HarnessError('PROTOCOL_ERROR', `Expected a JSON reply from ${request}, got HTTP 200 with ${kindOf(contentType)}: ${JSON.stringify(snippet)}`, {
      cause: error,
      details: { status: 200, contentType, body: snippet },
    });
  }
}

/** A generation's text: `response` as a string, or a list of strings (one per prompt; the idea sends one), joined. */
export function responseText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (Array.isArray(value) && value.every((v): v is string => typeof v === 'string')) return value.join('');
  throw new HarnessError('PROTOCOL_ERROR', `Expected \`response\` to be a string or a list of strings, got ${JSON.stringify(value)?.slice(0, SNIPPET_CHARS) ?? String(value)}`);
}

const TIMEOUT_CODES: ReadonlySet<string> = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);
const CLOSED_CODES: ReadonlySet<string> = new Set(['UND_ERR_SOCKET', 'UND_ERR_DESTROYED', 'UND_ERR_CLOSED']);
const PROTOCOL_CODES: ReadonlySet<string> = new Set(['UND_ERR_HTTP_PARSER', 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH', 'HPE_INVALID_CONSTANT']);

/** An undici (or socket) failure as a HarnessError with a stable code, keeping the original as `cause`. */
export function fromUndiciError(error: unknown, timeoutMs: number): HarnessError {
  if (error instanceof HarnessError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  if (typeof code === 'string') {
    if (TIMEOUT_CODES.has(code)) return new HarnessError('TIMEOUT', `Expected a reply within ${timeoutMs} ms, got none (${code})`, { cause: error });
    if (code === 'UND_ERR_CONNECT_TIMEOUT') return new HarnessError('CONNECT_FAILED', `Could not connect within ${timeoutMs} ms`, { cause: error });
    if (CLOSED_CODES.has(code)) return new HarnessError('SIDECAR_CLOSED', `The connection to the sidecar closed: ${message}`, { cause: error });
    if (code === 'UND_ERR_RES_EXCEEDED_MAX_SIZE') return new HarnessError('FRAME_TOO_LARGE', message, { cause: error });
    if (code === 'UND_ERR_ABORTED' || code === 'UND_ERR_ABORT') return new HarnessError('ABORTED', message, { cause: error });
    if (PROTOCOL_CODES.has(code)) return new HarnessError('PROTOCOL_ERROR', message, { cause: error });
  }
  return toHarnessError(error, 'INTERNAL');
}
