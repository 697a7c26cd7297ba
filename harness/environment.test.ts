import { describe, expect, it } from 'vitest';
import { checkDevice, type Environment } from './environment.js';

const CPU: Environment = {
  cpuModel: 'x', cores: 2, memoryBytes: 1, os: 'Linux', arch: 'x64', node: 'v20', python: '3.11', torch: '1.13.0', cudaAvailable: false,
  gpu: null, gpuCount: 0, gpuDriver: null, torchCuda: null, gitCommit: null, gitDirty: null, harnessVersion: '0.1.0', hostname: 'h',
};
const GPU: Environment = { ...CPU, torch: '2.11.0+cu130', cudaAvailable: true, gpu: 'NVIDIA H200', gpuCount: 1, gpuDriver: '580.1', torchCuda: '13.0' };

describe('checkDevice', () => {
  it('lets cpu and auto through anywhere', () => {
    for (const device of ['cpu', 'auto']) expect(() => checkDevice(device, CPU, 'py')).not.toThrow();
  });

  it('refuses CUDA on a CPU-only torch, saying which part is missing', () => {
    expect(() => checkDevice('cuda', CPU, 'py')).toThrow('is a CPU-only build, and nvidia-smi finds no GPU');
    expect(() => checkDevice('cuda', { ...CPU, gpu: 'NVIDIA H200', gpuDriver: '580.1' }, 'py')).toThrow('torch 1.13.0 in py is a CPU-only build, though this machine has NVIDIA H200 (driver 580.1)');
    expect(() => checkDevice('cuda', { ...CPU, torchCuda: '12.1' }, 'py')).toThrow('torch 1.13.0 (CUDA 12.1) in py sees no CUDA device');
    expect(() => checkDevice('cuda', { ...CPU, torch: null }, 'py')).toThrow("the sidecar's Python (py) has no torch");
    try {
      checkDevice('cuda', CPU, 'py');
    } catch (error) {
      expect((error as { code: string }).code).toBe('USAGE');
    }
  });

  it('accepts the CUDA devices torch sees, and no others', () => {
    expect(() => checkDevice('cuda', GPU, 'py')).not.toThrow();
    expect(() => checkDevice('cuda:0', GPU, 'py')).not.toThrow();
    expect(() => checkDevice('cuda:1', GPU, 'py')).toThrow('torch sees 1 CUDA device (cuda:0)');
    expect(() => checkDevice('cuda:3', { ...GPU, gpuCount: 2 }, 'py')).toThrow('cuda:0..cuda:1');
  });
});
