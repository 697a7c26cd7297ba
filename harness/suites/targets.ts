/** Which sidecars a suite runs: every chosen transport x family (x HTTP set-up), in registry order. */
import { formatAddress, parseAddress } from '../../transports/address.js';
import { TRANSPORT_NAMES, type HttpSetup } from '../../transports/types.js';
import type { CellKey } from '../results.js';
import type { SidecarTarget, SuiteContext } from './context.js';

/**
 * `allHttpSetups`: the echo suite measures every gunicorn set-up; the model suites, whose request
 * cost dwarfs connection set-up, measure one (keep-alive when chosen). With --connect there is one
 * server, set up however it is, on whatever family its address has: one target per transport.
 */
export function sidecarTargets(ctx: SuiteContext, model: SidecarTarget['model'], allHttpSetups: boolean): SidecarTarget[] {
  const { config } = ctx;
  const connected = config.connect !== undefined;
  const families = config.connect === undefined ? config.families : [parseAddress(config.connect).family];
  const preferred: HttpSetup = config.httpSetups.includes('gthread') ? 'gthread' : 'sync';
  const targets: SidecarTarget[] = [];
  for (const transport of TRANSPORT_NAMES.filter((t) => config.transports.includes(t))) {
    const setups: (HttpSetup | undefined)[] = transport !== 'http-json' || connected ? [undefined] : allHttpSetups ? [...config.httpSetups] : [preferred];
    for (const family of families) {
      for (const httpSetup of setups) targets.push({ model, transport, family, ...(httpSetup === undefined ? {} : { httpSetup }) });
    }
  }
  return targets;
}

/** What tells a target's cells apart beyond transport and family: its HTTP set-up, or the address measured under --connect. */
export function targetKeyFields(ctx: SuiteContext, target: SidecarTarget): Pick<CellKey, 'httpSetup' | 'connect'> {
  if (ctx.config.connect !== undefined) return { connect: formatAddress(parseAddress(ctx.config.connect)) };
  return target.httpSetup === undefined ? {} : { httpSetup: target.httpSetup };
}
