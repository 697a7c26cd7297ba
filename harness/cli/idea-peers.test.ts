/**
 * The harness against servers the project did not write for itself, written from the idea's
 * description alone: a Flask app with its two routes (nothing else: no health route, a `response`
 * that is a list of strings, no streaming), and a plain-socket image server that answers type 0 and
 * type 1 (the class name, as text). Each is measured with `--connect`, as a user would.
 */
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planarToPng } from '../../datasets/png.js';
import { formatAddress } from '../../transports/address.js';
import { REPO_ROOT, sidecarPython } from '../paths.js';
import type { CellResult, RunResult } from '../results.js';
import { startSidecar, stopAllSidecars, type Sidecar } from '../sidecar.js';

const BIN = path.join(REPO_ROOT, 'harness', 'bin.js');
const FAST = ['--warmup', '5', '--warmup-ms', '5', '--block-ms', '5', '--min-rounds', '6', '--max-rounds', '6'];

// The idea's gemma server: POST /echo {"prompt"} -> {"echo_prompt"}; POST /prompt {"prompt",
// "sampling_steps"} -> {"response": sampler(...).text}. The sampler here stands in for Gemma's,
// whose `.text` is a list of strings, one per prompt.
const IDEA_FLASK_APP = `
import json, os, sys
from flask import Flask, request
from werkzeug.serving import make_server

class Sampler:
    def __call__(self, prompts, total_generation_steps):
        return type("Out", (), {"text": [f"{p} ({total_generation_steps} steps)" for p in prompts]})()

sampler = Sampler()
app = Flask(__name__)

@app.route("/echo", methods=["POST"])
def echo():
    return {"echo_prompt": request.json["prompt"]}

@app.route("/prompt", methods=["POST"])
def prompt():
    steps = int(request.json.get("sampling_steps", 128))
    return {"response": sampler([request.json["prompt"]], total_generation_steps=steps).text}

# Test plumbing, not the idea: listen where the harness says, and say where.
host, port = sys.argv[-1][len("tcp:"):].rsplit(":", 1)
server = make_server(host, int(port), app, threaded=True)
print(json.dumps({"event": "ready", "model": "idea", "transport": "http-json", "address": f"tcp:{host}:{server.port}", "pid": os.getpid()}), flush=True)
server.serve_forever()
`;

// The idea's image server: [u32 BE N][u8 type][body]; type 0 echoes, type 1 answers the label as
// text. Its "model" names class (first byte mod 10), or "griffin" for an image starting with "GRIF".
const IDEA_IMAGE_SERVER = `
import json, os, socket, struct, sys, threading
NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]

def recvall(sock, n):
    data = bytearray()
    while len(data) < n:
        packet = sock.recv(n - len(data))
        if not packet:
            return None
        data.extend(packet)
    return data

def send_msg(sock, msgtype, body):
    sock.sendall(struct.pack(">I", len(body) + 1) + struct.pack("B", msgtype) + body)

def serve(conn):
    with conn:
        while True:
            head = recvall(conn, 4)
            payload = head and recvall(conn, struct.unpack(">I", head)[0])
            if not payload:
                return
            msgtype, body = payload[0], bytes(payload[1:])
            if msgtype == 0:
                send_msg(conn, 0, body)
            elif msgtype == 1:
                label = "griffin" if body[:4] == b"GRIF" else NAMES[body[0] % 10]
                send_msg(conn, 1, label.encode())

path = sys.argv[-1][len("unix:"):]
sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
sock.bind(path)
sock.listen(8)
print(json.dumps({"event": "ready", "model": "idea", "transport": "framed", "address": "unix:" + path, "pid": os.getpid()}), flush=True)
while True:
    threading.Thread(target=serve, args=(sock.accept()[0],), daemon=True).start()
`;

afterAll(stopAllSidecars);

async function run(args: string[]): Promise<{ exitCode: number | undefined; stderr: string; result: RunResult }> {
  const out = await mkdtemp(path.join(os.tmpdir(), 'sidecar-bench-idea-'));
  const child = await execa('node', [BIN, 'run', ...args, ...FAST, '--out', out], { reject: false, timeout: 120_000 });
  const result = JSON.parse(await readFile(path.join(out, 'results.json'), 'utf8')) as RunResult;
  return { exitCode: child.exitCode, stderr: child.stderr, result };
}

const checkNamed = (result: RunResult, name: string) => result.checks.find((c) => c.name === name);

describe('the idea\'s Flask app, measured with --connect', () => {
  let app: Sidecar;
  let address: string;

  beforeAll(async () => {
    app = await startSidecar({ model: 'idea', transport: 'http-json', family: 'tcp', program: sidecarPython(), args: ['-c', IDEA_FLASK_APP] });
    address = formatAddress(app.address);
  }, 60_000);

  it('runs the echo and gemma suites against it: every cell measured, labelled by the address, once', async () => {
    const args = ['--suite', 'echo,gemma', '--transports', 'http-json', '--connect', address, '--scenarios', 'single-stream,concurrency', '--concurrency', '2', '--payloads', '64,3072', '--sampling-steps', '8', '--limit', '2'];
    const { exitCode, stderr, result } = await run(args);
    expect(exitCode, stderr).toBe(0);
    expect(result.status).toBe('ok');
    const cells = result.cells;
    expect(cells.every((c) => c.transport === 'http-json')).toBe(true); // no in-process baseline: not our model
    for (const cell of cells) {
      expect(cell.status, `${cell.id}: ${cell.error?.message ?? ''}`).toBe('ok');
      expect(cell.errors, cell.id).toBe(0);
      expect(cell.connect, cell.id).toBe(address);
      expect(cell.httpSetup, cell.id).toBeUndefined();
      expect(cell.id).toContain(`/at=${address}/`);
    }
    const echo = cells.filter((c) => c.suite === 'echo');
    expect(echo.map((c) => `${c.scenario} ${c.payloadBytes}`).sort()).toEqual(['concurrency 3072', 'single-stream 3072', 'single-stream 64']);
    const gemma = cells.filter((c) => c.suite === 'gemma');
    expect(gemma.map((c) => `${c.scenario} ${c.streaming}`).sort()).toEqual(['concurrency false', 'single-stream false', 'single-stream true']);
    expect(gemma.map((c) => c.metrics['tokens_per_s'])).toEqual([null, null, null]); // the idea's replies count no tokens
    expect(checkNamed(result, 'gemma: agreement')).toMatchObject({ ok: true, detail: expect.stringMatching(/^skipped: --connect tcp:/) });
    expect(stderr).toMatch(/gemma: no in-process baseline and no checks against it/);
  }, 180_000);

  it('reports a health route it does not have as the 404 page it is', async () => {
    const { exitCode, result } = await run(['--suite', 'echo', '--transports', 'http-json', '--connect', address, '--scenarios', 'single-stream', '--payloads', '64', '--health-path', '/healthz']);
    expect(exitCode).toBe(1);
    const [cell] = result.cells as [CellResult];
    expect(cell.status).toBe('failed');
    expect(cell.error?.code).toBe('UNKNOWN_TYPE');
    expect(cell.error?.message).toContain('HTTP 404 from GET /healthz, a text/html body');
  }, 60_000);
});

describe('an image server written to the idea, measured with --connect', () => {
  let server: Sidecar;
  let address: string;
  let dir: string;

  beforeAll(async () => {
    server = await startSidecar({ model: 'idea', transport: 'framed', family: 'unix', program: sidecarPython(), args: ['-c', IDEA_IMAGE_SERVER] });
    address = formatAddress(server.address);
    dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-bench-idea-png-'));
  }, 60_000);

  const png = async (name: string, first: Uint8Array): Promise<string> => {
    const image = new Uint8Array(3072).fill(90);
    image.set(first);
    await writeFile(path.join(dir, name), planarToPng(image));
    return path.join(dir, name);
  };

  it('classify prints the label text it sent, at its index; a name that is no class is UNKNOWN_LABEL', async () => {
    const files = [await png('bird.png', Uint8Array.of(2)), await png('truck.png', Uint8Array.of(19))];
    const ok = await execa('node', [BIN, 'classify', ...files, '--connect', address], { reject: false });
    expect(ok.exitCode, ok.stderr).toBe(0);
    expect(ok.stdout.trim().split('\n')).toEqual([`${files[0]}\t2\tbird`, `${files[1]}\t9\ttruck`]);
    const griffin = await png('griffin.png', new TextEncoder().encode('GRIF'));
    const bad = await execa('node', [BIN, 'classify', griffin, '--connect', address], { reject: false });
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toContain(`${griffin}: UNKNOWN_LABEL: The server named the class "griffin"`);
  }, 60_000);

  it('runs the echo and cifar suites against it, the labels read from their names', async () => {
    const args = ['--suite', 'echo,cifar', '--transports', 'framed', '--connect', address, '--scenarios', 'single-stream', '--payloads', '64', '--limit', '30'];
    const { exitCode, stderr, result } = await run(args);
    expect(exitCode, stderr).toBe(0);
    expect(result.cells.map((c) => `${c.suite} ${c.transport} ${c.status} ${c.errors} ${c.connect}`)).toEqual([`echo framed ok 0 ${address}`, `cifar framed ok 0 ${address}`]);
    const cifar = result.cells[1] as CellResult;
    expect(cifar.metrics['accuracy'] ?? Number.NaN).toBeGreaterThanOrEqual(0);
    expect(checkNamed(result, 'cifar: label text')).toMatchObject({ ok: true, data: { named: expect.any(Number) as number, unknown: {} } });
    expect((checkNamed(result, 'cifar: label text')?.data as { named: number }).named).toBeGreaterThanOrEqual(30);
    expect(checkNamed(result, 'cifar: agreement')?.detail).toMatch(/^skipped: /);
    expect(checkNamed(result, 'cifar: accuracy')?.detail).toMatch(/^skipped: /);
  }, 120_000);
});
