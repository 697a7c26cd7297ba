import { readFileSync, writeFileSync } from 'node:fs';
import { renderReport } from './html.js';
const r = JSON.parse(readFileSync('/tmp/rep-run/results.json', 'utf8'));
const t = performance.now();
const html = await renderReport(r);
console.log('ms', performance.now() - t, html.length);
writeFileSync('/tmp/rep-try.html', html);
console.log((html.match(/data-chart(-absent|-error)?="[^"]+"/g) ?? []).join('\n'));
console.log(/https?:/.test(html));
