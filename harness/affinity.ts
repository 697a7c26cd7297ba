/**
 * CPU pinning for the echo groups, where one round trip costs microseconds. Messages between
 * processes on different cores pay a cross-core wake-up whenever the receiving core was idle; on
 * a virtual machine that wake-up can cost more than the IPC itself and flips between a fast and a
 * slow regime every few milliseconds (the hypervisor's halt polling), so the medians of 5 ms blocks
 * were bimodal and no interval narrowed (docs/results.md). Two layouts:
 *   - `shared` (the default): the harness and every server on one core. A message is a context
 *     switch and the core never idles inside a block; what is measured is each stack's own cost,
 *     and with many in flight, the throughput of one core.
 *   - `split`: the harness (the clients) on one core, every server on the others: clients and
 *     servers in parallel, as on a many-core host, at the price of the wake-ups above.
 * Linux only (`taskset`, util-linux); elsewhere pinning is reported as unavailable and nothing
 * changes. Children inherit the harness's affinity, so a process started while pinned (a native
 * client, a restarted sidecar) lands on the harness's core.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { execa } from 'execa';

export type Layout = 'shared' | 'split';

export interface Pinning {
  /** The harness's core (and, for `shared`, everyone's). */
  readonly cpu: number;
  /** Pin the harness and every process it started; false when `split` is impossible (one core). */
  pin(layout: Layout): Promise<boolean>;
  /** Give them back the CPUs the harness had at start. */
  unpin(): Promise<void>;
}

/** The CPUs this process may run on (`Cpus_allowed_list`), or undefined off Linux. */
function allowedCpus(): string | undefined {
  try {
    return /Cpus_allowed_list:\s*(\S+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
  } catch {
    return undefined;
  }
}

/** This process and its descendants, from /proc (parent pid is the 4th field of /proc/PID/stat). */
export function processTree(root: number = process.pid): number[] {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parents.set(Number(entry), ppid);
    } catch {
      // The process ended while we looked.
    }
  }
  const tree = [root];
  for (let i = 0; i < tree.length; i++) for (const [pid, ppid] of parents) if (ppid === tree[i]) tree.push(pid);
  return tree;
}

/** The CPU numbers of a list like `0-3,6`. */
export function parseCpuList(list: string): number[] {
  return list.split(',').filter((part) => part.trim() !== '').flatMap((part) => {
    const [a, b] = part.split('-').map(Number);
    return a === undefined || Number.isNaN(a) ? [] : Array.from({ length: (b ?? a) - a + 1 }, (_, i) => a + i);
  });
}

/** `harness` for this process, `others` for every process it started; false when this process could not be pinned. */
async function setAffinity(harness: string, others: string): Promise<boolean> {
  const [self, ...children] = processTree();
  const own = await execa('taskset', ['-a', '-p', '-c', harness, String(self)], { reject: false });
  if (own.exitCode !== 0) return false;
  // One shell for the rest; a process that ended meanwhile is not an error.
  if (children.length > 0) await execa('sh', ['-c', `${children.map((pid) => `taskset -a -p -c ${others} ${pid} >/dev/null 2>&1`).join('; ')}; true`], { reject: false });
  return true;
}

/** Pinning for this machine, or the reason there is none. */
export async function createPinning(): Promise<Pinning | { unavailable: string }> {
  const allowed = allowedCpus();
  if (process.platform !== 'linux' || allowed === undefined) return { unavailable: 'not Linux' };
  const probe = await execa('taskset', ['-p', String(process.pid)], { reject: false });
  if (probe.exitCode !== 0) return { unavailable: 'no `taskset` (util-linux)' };
  const cpus = parseCpuList(allowed);
  const cpu = cpus[0] ?? 0;
  const rest = cpus.slice(1).join(',');
  return {
    cpu,
    async pin(layout) {
      if (layout === 'split' && rest === '') return false;
      return setAffinity(String(cpu), layout === 'shared' ? String(cpu) : rest);
    },
    unpin: async () => {
      await setAffinity(allowed, allowed);
    },
  };
}
