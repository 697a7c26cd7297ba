/** Which sidecars a suite runs: every chosen transport x family (x HTTP set-up), in registry order. */
import { parseAddress } from '../../transports/address.js';
import { TRANSPORT_NAMES, type HttpSetup } from '../../transports/types.js';
import type { SidecarTarget, SuiteContext } from './context.js';

/**
 * `allHttpSetups`: the echo suite measures every gunicorn set-up; the model suites, whose request
 * cost dwarfs connection set-up, measure one (keep-alive when chosen).
 */
export function sidecarTargets(ctx: SuiteContext, model: SidecarTarget['model'], allHttpSetups: boolean): SidecarTarget[] {
  const { config } = ctx;
  // With --connect there is one sidecar, on whatever family its address has.
  const families = config.connect === undefined ? config.families : [parseAddress(config.connect).family];
  const preferred: HttpSetup = config.httpSetups.includes('gthread') ? 'gthread' : 'sync';
  const targets: SidecarTarget[] = [];
  for (const transport of TRANSPORT_NAMES.filter((t) => config.transports.includes(t))) {
    const setups: (HttpSetup | undefined)[] = transport !== 'http-json' ? [undefined] : allHttpSetups ? [...config.httpSetups] : [preferred];
    for (const family of families) {
      for (const httpSetup of setups) targets.push({ model, transport, family, ...(httpSetup === undefined ? {} : { httpSetup }) });
    }
  }
  return targets;
}
