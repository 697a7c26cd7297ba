import { readFileSync } from 'node:fs';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { createPinning, parseCpuList, processTree } from './affinity.js';

const allowed = (pid: number): string => /Cpus_allowed_list:\s*(\S+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? '';

describe('cpu lists', () => {
  it('reads the kernel list format', () => {
    expect(parseCpuList('0')).toEqual([0]);
    expect(parseCpuList('0-3,6,8-9')).toEqual([0, 1, 2, 3, 6, 8, 9]);
    expect(parseCpuList('')).toEqual([]);
  });
});

describe.skipIf(process.platform !== 'linux')('pinning the harness and what it started', () => {
  it('finds children and grandchildren of this process', async () => {
    const child = execa('sh', ['-c', 'sleep 5 & wait'], { reject: false, stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 200));
    const tree = processTree();
    expect(tree[0]).toBe(process.pid);
    expect(tree).toContain(child.pid);
    expect(tree.length).toBeGreaterThanOrEqual(3); // this process, sh, sleep
    for (const pid of processTree(child.pid)) process.kill(pid, 'SIGKILL');
    await child;
  });

  it('puts everyone on one core (shared), the children apart (split), and gives the cores back', async () => {
    const pinning = await createPinning();
    if ('unavailable' in pinning) return; // no taskset: nothing to test
    const before = allowed(process.pid);
    const child = execa('sleep', ['10'], { reject: false });
    await new Promise((r) => setTimeout(r, 100));
    const pid = child.pid as number;
    try {
      expect(await pinning.pin('shared')).toBe(true);
      expect(allowed(process.pid)).toBe(String(pinning.cpu));
      expect(allowed(pid)).toBe(String(pinning.cpu));
      await pinning.unpin();
      expect(allowed(process.pid)).toBe(before);
      expect(allowed(pid)).toBe(before);
      const others = parseCpuList(before).filter((c) => c !== pinning.cpu);
      expect(await pinning.pin('split')).toBe(others.length > 0);
      if (others.length > 0) {
        expect(parseCpuList(allowed(process.pid))).toEqual([pinning.cpu]);
        expect(parseCpuList(allowed(pid))).toEqual(others);
      }
    } finally {
      await pinning.unpin();
      child.kill('SIGKILL');
      await child;
    }
    expect(allowed(process.pid)).toBe(before);
  });
});
