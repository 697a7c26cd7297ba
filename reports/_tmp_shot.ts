import { chromium } from 'playwright-core';
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu'] });
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
await page.goto('file://' + process.argv[2]);
for (const f of await page.$$('figure')) {
  const id = (await f.getAttribute('id')) ?? 'x';
  await f.screenshot({ path: `${process.argv[3]}/${id}.png` });
}
await browser.close();
