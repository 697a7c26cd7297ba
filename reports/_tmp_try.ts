import { readFileSync, writeFileSync } from 'node:fs';
import { renderReport } from './html.js';
const r = JSON.parse(readFileSync(process.argv[2]!, 'utf8'));
const html = await renderReport(r);
writeFileSync(process.argv[3]!, html);
for (const m of html.matchAll(/.{30}(<script|<link|<img|<iframe|@import|url\(|@font-face).{40}/gi)) console.log(m[0]);
