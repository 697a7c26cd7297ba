/**
 * Vega-Lite spec -> static SVG, in Node, at report build time: the report carries no script and
 * fetches nothing. Specs must hold their data inline (`data.values`); the loader refuses any URL.
 */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

/** A loader that never touches the network or the disk, so a spec cannot make the build fetch. */
const offlineLoader = vega.loader();
offlineLoader.load = (uri: string): Promise<string> => Promise.reject(new Error(`report charts hold their data inline; refusing to load \`${uri}\``));

export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none', loader: offlineLoader });
  try {
    const svg = await view.toSVG();
    return inlineSvg(svg);
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
