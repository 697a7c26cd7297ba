/** The command-line flags a sidecar's model is built from. */
import type { ResolvedConfig } from './config.js';

/**
 * The model flags for `model`: a sidecar and its in-process baseline are both started with this
 * very list, so they build the same model on the same device with the same options. Quick runs
 * use the tiny Gemma config unless the user chose a model with `--sidecar-arg`.
 */
export function modelFlags(config: ResolvedConfig, model: 'echo' | 'cifar' | 'gemma'): string[] {
  const chosen = config.sidecarArgs.includes('--config') || config.sidecarArgs.includes('--checkpoint');
  const tiny = model === 'gemma' && config.quick && !chosen ? ['--config', 'tiny', '--random-init'] : [];
  const dtype = model !== 'echo' && config.dtype !== 'auto' ? ['--dtype', config.dtype] : [];
  return [...tiny, '--device', config.device, ...dtype, ...config.sidecarArgs];
}
