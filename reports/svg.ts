/**
 * Vega-Lite spec -> static SVG, in Node, at report build time: the report carries no script and
 * fetches nothing. Specs must hold their data inline (`data.values`); the loader refuses any URL.
 */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

/** A loader that never touches the network or the disk, so a spec cannot make the build fetch. */
const offlineLoader = vega.loader();
const refuse = (uri: string): Promise<never> => Promise.reject(new Error(`report charts hold their data inline; refusing to load \`${uri}\``));
offlineLoader.load = refuse;
offlineLoader.sanitize = refuse;

/**
 * Render a spec to SVG. Vega and Vega-Lite warnings go to `warnings` (when given) instead of the
 * console, so building a report prints nothing; the tests read them.
 */
export async function renderSvg(spec: TopLevelSpec, warnings: string[] = []): Promise<string> {
  const logger = vega.logger(vega.Warn, undefined, (_method, _level, args) => {
    warnings.push(args.map(String).join(' '));
  });
  const view = new vega.View(vega.parse(compile(spec, { logger }).spec), { renderer: 'none', loader: offlineLoader, logger });
  try {
    return inlineSvg(await view.toSVG());
  } finally {
    view.finalize();
  }
}

/**
 * Inline SVG inside HTML needs no namespace declarations; dropping them leaves the report with no
 * `http://` at all, which makes "fetches nothing" easy to check.
 */
function inlineSvg(svg: string): string {
  return svg.replace(/^<svg\b[^>]*>/, (open) => open.replace(/\s+xmlns(:xlink)?="[^"]*"/g, ''));
}
