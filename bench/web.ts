/**
 * `npm run bench:web`: in Debian's headless chromium, the time the explorer takes to finish its
 * class-kept curves at L = 2, 4, 6, 8 with 12 noise levels and 500 data per point (issue 13), as the
 * page reports it (`document.documentElement.dataset.curvesMs`) and as wall time from navigation;
 * then the "Real digits" view (issue 24, bench/webDigits.ts): one "Noise and denoise" and the
 * digits' class-kept curve. Builds the page (vite) into a temporary folder, serves it with
 * `hierdiff serve`, loads it 3 times (a fresh browser context each) and prints the median.
 * `--only rhm` or `--only digits` runs one half; `--threads N` gives the digits view N WebAssembly
 * threads (default: the page's choice, 2 when cross-origin isolated). A benchmark, not a test.
 */
import { cpus } from 'node:os';
import { CHROMIUM, haveChromium, startExplorer } from '../test/helpers/web.ts';
import { benchDigits } from './webDigits.ts';

/** The page's curve set-up parameters (web/src/params.ts): depths, noise levels per curve, data per point. */
const BENCH_QUERY = 'curveDepths=2,4,6,8&curveLevels=12&curveData=500';
const RUNS = 3;
const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : null;
if (only !== null && only !== 'rhm' && only !== 'digits') {
  console.error(`bench:web: invalid --only ${only} (expected rhm or digits)`);
  process.exit(2);
}
const threadsArg = process.argv.includes('--threads') ? process.argv[process.argv.indexOf('--threads') + 1] : '0';
if (!/^[0-4]$/.test(threadsArg ?? '')) {
  console.error(`bench:web: invalid --threads ${threadsArg} (expected 1 to 4, or 0 for the page's choice)`);
  process.exit(2);
}

if (!haveChromium()) {
  console.error(`bench:web: no chromium at ${CHROMIUM} (apt-get install chromium)`);
  process.exit(2);
}
const { served, browser, buildSeconds, stop } = await startExplorer();
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
try {
  const url = new URL(`./?${BENCH_QUERY}`, served.url).href;
  const page = [] as number[];
  const wall = [] as number[];
  console.log(`explorer benchmark: ${served.url}`);
  console.log(`chromium ${browser.version()}, ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), vite build ${buildSeconds.toFixed(1)} s`);
  for (let run = 1; run <= (only === 'digits' ? 0 : RUNS); run++) {
    const context = await browser.newContext({ viewport: { width: 1366, height: 900 } });
    const tab = await context.newPage();
    const errors: string[] = [];
    tab.on('pageerror', (e) => errors.push(e.message));
    const start = performance.now();
    await tab.goto(url);
    // Page-side code as strings: the project's TypeScript checks Node code, without the DOM's declarations.
    await tab.waitForFunction(`document.documentElement.dataset.curves === 'done'`, undefined, { timeout: 600_000, polling: 50 });
    const seconds = (performance.now() - start) / 1000;
    const ms = Number(await tab.evaluate('document.documentElement.dataset.curvesMs'));
    if (errors.length > 0) throw new Error(`page errors: ${errors.join('; ')}`);
    page.push(ms);
    wall.push(seconds);
    console.log(`run ${run}: curves ${(ms / 1000).toFixed(2)} s (page's curvesMs), ${seconds.toFixed(2)} s from navigation`);
    await context.close();
  }
  if (page.length) console.log(`median of ${RUNS}: curves ${(median(page) / 1000).toFixed(2)} s, ${median(wall).toFixed(2)} s from navigation`);
  if (only !== 'rhm') await benchDigits(browser, served.url, Number(threadsArg));
} finally {
  await stop();
}
