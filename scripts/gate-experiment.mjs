#!/usr/bin/env node
/**
 * How often does the regression gate (`sidecar-bench ab`) fail unchanged code, and how often does
 * it catch a slowdown of known size? Runs the gate N times per condition (unchanged code; a head
 * whose sidecar busy-waits a few microseconds per request) and tallies each gated cell's verdict at
 * several thresholds from the ratios each run wrote to its ab.json. The figures in docs/ci-gate.md
 * come from this script.
 *
 *   node scripts/gate-experiment.mjs [--runs 20] [--replicas N] [--out .cache/gate-experiment] [--only NAME,...]
 *   node scripts/gate-experiment.mjs --summarise .cache/gate-experiment
 *
 * Each run takes 5-40 s on 2 cores; the default (5 conditions x 20 runs, 2 replicas) about 40 minutes.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

// Run options on top of the gate's own (harness/cli/ab.ts GATE_MATRIX): one suite alone.
const ECHO = ['--suite', 'echo'];
const CIFAR = ['--suite', 'cifar'];

/** name -> run options on top of the gate's (none: its whole matrix) and the head's injected delay, µs per request. */
const CONDITIONS = {
  unchanged: { matrix: [], delayUs: 0 },
  'echo +4us': { matrix: ECHO, delayUs: 4 },
  'echo +2us': { matrix: ECHO, delayUs: 2 },
  'cifar +200us': { matrix: CIFAR, delayUs: 200 },
  'cifar +100us': { matrix: CIFAR, delayUs: 100 },
};
const THRESHOLDS = [3, 5, 10];

const { values } = parseArgs({ options: { replicas: { type: 'string' }, runs: { type: 'string', default: '20' }, out: { type: 'string', default: '.cache/gate-experiment' }, only: { type: 'string' }, summarise: { type: 'string' } } });

const dirName = (name) => name.replace(/[^a-z0-9.]+/gi, '_');

function run(out, runs, only) {
  for (let i = 0; i < runs; i++) {
    for (const [name, c] of Object.entries(CONDITIONS)) {
      if (only !== undefined && !only.includes(name)) continue;
      const dir = path.join(out, dirName(name), String(i));
      if (existsSync(path.join(dir, 'ab.json'))) continue;
      mkdirSync(dir, { recursive: true });
      const delay = c.delayUs > 0 ? ['--head-sidecar-arg=--inject-delay-us', `--head-sidecar-arg=${c.delayUs}`] : [];
      const replicas = values.replicas === undefined ? [] : ['--replicas', values.replicas];
      const args = ['harness/bin.js', 'ab', '--base-dir', '.', '--head-dir', '.', '--out', dir, '--seed', String(1000 + i), ...replicas, ...delay, ...c.matrix];
      const started = Date.now();
      const r = spawnSync(process.execPath, args, { stdio: 'ignore', env: { ...process.env, GITHUB_STEP_SUMMARY: '' } });
      process.stderr.write(`gate-experiment: ${name} #${i}: exit ${r.status} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    }
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const regressed = (ratio, t) => ratio !== undefined && ratio.covered && ratio.low > 1 && ratio.estimate > 1 + t / 100;

function summarise(out) {
  const lines = ['| condition | runs | cell | head / base: median [min, max] | significant | ' + THRESHOLDS.map((t) => `regressed at ${t}%`).join(' | ') + ' |', '|---|---:|---|---:|---:|' + THRESHOLDS.map(() => '---:').join('|') + '|'];
  const runLines = ['| condition | runs | ' + THRESHOLDS.map((t) => `gate failed at ${t}%`).join(' | ') + ' |', '|---|---:|' + THRESHOLDS.map(() => '---:').join('|') + '|'];
  for (const name of Object.keys(CONDITIONS)) {
    const dir = path.join(out, dirName(name));
    if (!existsSync(dir)) continue;
    const abs = readdirSync(dir).map((i) => path.join(dir, i, 'ab.json')).filter(existsSync).map((f) => JSON.parse(readFileSync(f, 'utf8')));
    const gated = new Map();
    for (const ab of abs) for (const cell of ab.comparison.cells) if (cell.gated) (gated.get(cell.id) ?? gated.set(cell.id, []).get(cell.id)).push(cell);
    for (const [id, cells] of gated) {
      const est = cells.filter((c) => c.ratio !== undefined).map((c) => c.ratio.estimate);
      const sig = cells.filter((c) => c.ratio?.covered && (c.ratio.low > 1 || c.ratio.high < 1)).length;
      const short = id.split('/').slice(0, 4).join('/');
      lines.push(`| ${name} | ${cells.length} | \`${short}\` | ${median(est).toFixed(3)} [${Math.min(...est).toFixed(3)}, ${Math.max(...est).toFixed(3)}] | ${sig} | ${THRESHOLDS.map((t) => cells.filter((c) => regressed(c.ratio, t) || c.verdict === 'failed').length).join(' | ')} |`);
    }
    runLines.push(`| ${name} | ${abs.length} | ${THRESHOLDS.map((t) => abs.filter((ab) => ab.interrupted || ab.comparison.cells.some((c) => c.gated && (regressed(c.ratio, t) || c.verdict === 'failed'))).length).join(' | ')} |`);
  }
  process.stdout.write(`${runLines.join('\n')}\n\n${lines.join('\n')}\n`);
}

if (values.summarise !== undefined) summarise(values.summarise);
else {
  run(values.out, Number(values.runs), values.only?.split(','));
  summarise(values.out);
}
