/** The command-line flags a sidecar's model is built from, and the `model` suite's `--model` spec. */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { HarnessError } from '../transports/errors.js';
import type { ResolvedConfig, SuiteName } from './config.js';

const BUILT_IN = ['echo', 'cifar', 'gemma'] as const;
const IDENT = '[A-Za-z_][A-Za-z0-9_]*';
const MODULE_SPEC = new RegExp(`^${IDENT}(\\.${IDENT})*:${IDENT}$`);
const FILE_SPEC = new RegExp(`^(.+\\.py):(${IDENT})$`);

/**
 * The model flags for `model`: a sidecar and its in-process baseline are both started with this
 * very list, so they build the same model on the same device with the same options. Quick runs
 * use the tiny Gemma config unless the user chose a model with `--sidecar-arg`. A user's model
 * (the `model` suite) gets the device and the user's `--sidecar-arg`s (`--model-arg k=v` among
 * them); `--dtype` is for our own cores, whose weights we choose.
 */
export function modelFlags(config: ResolvedConfig, model: SuiteName): string[] {
  const chosen = config.sidecarArgs.includes('--config') || config.sidecarArgs.includes('--checkpoint');
  const tiny = model === 'gemma' && config.quick && !chosen ? ['--config', 'tiny', '--random-init'] : [];
  const dtype = (model === 'cifar' || model === 'gemma') && config.dtype !== 'auto' ? ['--dtype', config.dtype] : [];
  return [...tiny, '--device', config.device, ...dtype, ...config.sidecarArgs];
}

/**
 * What `--model` the Python side gets for a suite's model: the suite's own core, or for the
 * `model` suite the user's spec, with a file path made absolute (the sidecar runs in the
 * repository, not where the user typed the path).
 */
export function modelSpecArg(config: ResolvedConfig, model: SuiteName): string {
  if (model !== 'model') return model;
  const spec = config.modelPath;
  if (spec === undefined) throw new HarnessError('USAGE', 'Expected `--model path/to/file.py:Class` with `--suite model`');
  const file = FILE_SPEC.exec(spec);
  return file === null ? spec : `${path.resolve(file[1] as string)}:${file[2] as string}`;
}

/** Checks the `model` suite's options before any cell (USAGE, exit 2): a spec that can name a class, files that exist. */
export function checkModelOptions(config: ResolvedConfig): void {
  const usage = (message: string): never => {
    throw new HarnessError('USAGE', message);
  };
  const spec = config.modelPath;
  // Under --connect the server has the model: no file to load (and so no in-process baseline).
  if (config.suites.includes('model') && spec === undefined && config.connect === undefined) usage('Expected `--model path/to/file.py:Class` (or `package.module:Class`) with `--suite model`: the suite measures your model (or `--connect ADDRESS` to a server that serves it)');
  if (spec !== undefined) {
    const file = FILE_SPEC.exec(spec);
    const ok = (BUILT_IN as readonly string[]).includes(spec) || file !== null || MODULE_SPEC.test(spec);
    if (!ok) usage(`Expected \`--model\` to be path/to/file.py:Class, package.module:Class or one of ${BUILT_IN.join(', ')}, got \`${spec}\``);
    if (file !== null && !existsSync(file[1] as string)) usage(`\`--model ${spec}\`: no file ${path.resolve(file[1] as string)}`);
  }
  if (config.modelInputs !== undefined && !existsSync(config.modelInputs)) usage(`\`--model-inputs ${config.modelInputs}\`: no such file`);
  if (config.modelInputs !== undefined && (config.tensorBytes?.length ?? 0) > 0) usage('`--tensor-bytes` sizes synthesised requests; `--model-inputs` gives them: choose one');
  const tolerance = config.floatTolerance ?? 0;
  if (!(Number.isFinite(tolerance) && tolerance >= 0)) usage(`Expected \`--float-tolerance\` to be a non-negative number, got \`${config.floatTolerance}\``);
}
