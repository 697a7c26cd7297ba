/**
 * The house's layers, checked on the import graph of every non-test source file: data flows
 * CLI -> config -> runner -> transport -> sidecar, so the wire layer (transports/) and the data
 * sets never import the harness or the reports; reports never call transports (they may read its
 * vocabulary: names, codes); the CLI's modules
 * form no cycle; and the runner's lower modules do not reach up into the suites.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from './paths.js';

const TOP = ['harness', 'transports', 'datasets', 'reports'];
/**
 * What reports may read from transports/: the vocabulary (transport names, error codes, address
 * text), which is plain data. Anything else there is a way to call a transport, which reports never do.
 */
const VOCABULARY = ['transports/types.ts', 'transports/errors.ts', 'transports/address.ts'];
/** Modules below the suites layer: the suites build on them, never the other way round. */
const BELOW_SUITES = ['harness/contracts.ts', 'harness/progress.ts', 'harness/leases.ts'];

function sources(dir: string): string[] {
  return readdirSync(path.join(REPO_ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) return e.name === 'node_modules' || e.name.startsWith('.') ? [] : sources(rel);
    return /\.ts$/.test(e.name) && !/\.test\.ts$/.test(e.name) && e.name !== 'testing.ts' && e.name !== 'fixtures.ts' ? [rel] : [];
  });
}

/** Every module a file imports (static, re-export, or dynamic with a literal), as repo-relative .ts paths. */
export function importsOf(file: string, text: string): string[] {
  const specs = [...text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?\bfrom\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)|(?:^|\n)\s*import\s*['"]([^'"]+)['"]/g)].map((m) => m[1] ?? m[2] ?? m[3] ?? '');
  return specs.filter((s) => s.startsWith('.')).map((s) => path.posix.normalize(path.posix.join(path.posix.dirname(file), s)).replace(/\.js$/, '.ts'));
}

export type Graph = ReadonlyMap<string, readonly string[]>;

function graph(): Graph {
  return new Map(TOP.flatMap(sources).map((f) => [f, importsOf(f, readFileSync(path.join(REPO_ROOT, f), 'utf8'))]));
}

/** Arrows that break a layer rule, as `from -> to`. */
export function forbiddenEdges(g: Graph): string[] {
  const under = (f: string, dir: string): boolean => f.startsWith(`${dir}/`);
  const bad: string[] = [];
  for (const [from, tos] of g) {
    for (const to of tos) {
      const wireOrData = under(from, 'transports') || under(from, 'datasets');
      if ((wireOrData && (under(to, 'harness') || under(to, 'reports'))) || (under(from, 'reports') && under(to, 'transports') && !VOCABULARY.includes(to)) || (BELOW_SUITES.includes(from) && under(to, 'harness/suites'))) {
        bad.push(`${from} -> ${to}`);
      }
    }
  }
  return bad;
}

/** A cycle among the files `inside` selects, as `a -> b -> a`, or undefined. */
export function cycleAmong(g: Graph, inside: (f: string) => boolean): string | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (f: string): string | undefined => {
    if (state.get(f) === 'open') return [...stack.slice(stack.indexOf(f)), f].join(' -> ');
    if (state.get(f) === 'done') return undefined;
    state.set(f, 'open');
    stack.push(f);
    for (const to of (g.get(f) ?? []).filter(inside)) {
      const found = visit(to);
      if (found !== undefined) return found;
    }
    stack.pop();
    state.set(f, 'done');
    return undefined;
  };
  for (const f of [...g.keys()].filter(inside)) {
    const found = visit(f);
    if (found !== undefined) return found;
  }
  return undefined;
}

describe('the import graph', () => {
  const g = graph();

  it('reads the real graph (a parser that finds nothing would pass everything)', () => {
    expect(g.get('harness/cli/run.ts')).toContain('harness/runner.ts');
    expect(g.get('harness/cli/main.ts')).toContain('harness/cli/run.ts'); // a dynamic import
    expect(g.size).toBeGreaterThan(50);
  });

  it('has no arrow from transports/ or datasets/ into harness/ or reports/, from reports/ into transports/, or from below the suites into them', () => {
    expect(forbiddenEdges(g)).toEqual([]);
  });

  it('has no cycle among the CLI\'s modules', () => {
    expect(cycleAmong(g, (f) => f.startsWith('harness/cli/'))).toBeUndefined();
  });

  it('finds what it forbids, on a graph made to break each rule', () => {
    const broken: Graph = new Map([
      ['transports/framed.ts', ['harness/paths.ts']],
      ['datasets/cifar10.ts', ['reports/units.ts']],
      ['reports/html.ts', ['transports/registry.ts', 'transports/types.ts']],
      ['harness/progress.ts', ['harness/suites/context.ts']],
      ['harness/cli/run.ts', ['harness/cli/main.ts']],
      ['harness/cli/main.ts', ['harness/cli/run.ts']],
    ]);
    expect(forbiddenEdges(broken)).toHaveLength(4);
    expect(cycleAmong(broken, (f) => f.startsWith('harness/cli/'))).toBe('harness/cli/run.ts -> harness/cli/main.ts -> harness/cli/run.ts');
  });
});
