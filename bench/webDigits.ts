/**
 * The explorer's "Real digits" view in headless chromium (issue 24), for bench/web.ts: the time of
 * one "Noise and denoise" (K = 4 round trips at t/T = 0.5, 100 respaced steps: 50 model calls of
 * 4 images) and of the class-kept curve at the 10 values of t/T with 20 digits each (2 per class),
 * as the page reports them (worker clock: data-digits-run-ms, the chart's data-ms) and as wall time.
 * `threads`: onnxruntime-web's WebAssembly threads (the page's `threads` URL parameter; 0 = the
 * page's choice, 2 when cross-origin isolated as `hierdiff serve` makes it).
 */
import { loadavg } from 'node:os';
import type { Browser, Page } from 'playwright-core';

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const RUNS = 5;

async function waitFor(page: Page, expression: string): Promise<void> {
  await page.waitForFunction(expression, undefined, { timeout: 600_000, polling: 50 });
}

async function fresh(browser: Browser, url: string): Promise<{ page: Page; close: () => Promise<void>; errors: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1366, height: 900 } });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(url);
  return { page, close: () => context.close(), errors };
}

/** One "Noise and denoise" with K = 4 at t/T = 0.5: the first (warm-up) run, then the median of {@link RUNS} more. */
async function benchRun(browser: Browser, base: string, threads: number): Promise<void> {
  const { page, close, errors } = await fresh(browser, new URL(`./?view=digits&digit=30&t=0.5&curvePerClass=0&threads=${threads}`, base).href);
  await waitFor(page, `document.documentElement.dataset.digitsRuns === '1'`);
  const load = Number(await page.evaluate('document.documentElement.dataset.digitsLoadMs'));
  const used = await page.evaluate('document.documentElement.dataset.digitsThreads');
  const first = Number(await page.evaluate('document.documentElement.dataset.digitsRunMs'));
  console.log(`digits: runtime + models + whitening statistics loaded in ${(load / 1000).toFixed(2)} s, ${used} WebAssembly thread(s); first run (warm-up) ${(first / 1000).toFixed(2)} s`);
  const worker: number[] = [];
  const wall: number[] = [];
  for (let run = 2; run <= RUNS + 1; run++) {
    const start = performance.now();
    await page.locator('#digit-more').click();
    await waitFor(page, `document.documentElement.dataset.digitsRuns === '${run}' && document.documentElement.dataset.digits === 'done'`);
    wall.push(performance.now() - start);
    worker.push(Number(await page.evaluate('document.documentElement.dataset.digitsRunMs')));
    console.log(`digits: Noise and denoise (K = 4, t/T = 0.5) run ${run}: ${(worker.at(-1)! / 1000).toFixed(2)} s in the worker, ${(wall.at(-1)! / 1000).toFixed(2)} s click to picture`);
  }
  if (errors.length) throw new Error(`page errors: ${errors.join('; ')}`);
  console.log(
    `digits: Noise and denoise, median of ${RUNS}: ${(median(worker) / 1000).toFixed(2)} s (worker), ${(median(wall) / 1000).toFixed(2)} s click to picture; load average ${loadavg()[0].toFixed(1)}`,
  );
  await close();
}

/** The class-kept curve at t/T = 0.1 … 1.0 with 2 digits per class (20 per point), after a 1-step first run. */
async function benchCurve(browser: Browser, base: string, threads: number): Promise<void> {
  const start = performance.now();
  const { page, close, errors } = await fresh(browser, new URL(`./?view=digits&digit=30&t=0.01&curvePerClass=2&threads=${threads}`, base).href);
  const chart = `document.querySelector('[data-testid="digits-class-kept-chart"]')`;
  await waitFor(page, `${chart}.dataset.state === 'done'`);
  const wall = (performance.now() - start) / 1000;
  const [ms, points, perPoint] = (await page.evaluate(`[${chart}.dataset.ms, ${chart}.dataset.points, ${chart}.dataset.perPoint]`)) as string[];
  if (errors.length) throw new Error(`page errors: ${errors.join('; ')}`);
  console.log(
    `digits: class-kept curve, ${points} values of t/T × ${perPoint} digits: ${(Number(ms) / 1000).toFixed(1)} s in the worker, ${wall.toFixed(1)} s from navigation; load average ${loadavg()[0].toFixed(1)}`,
  );
  await close();
}

/** Both measurements on the page served at `base`, with `threads` WebAssembly threads (0: the page's choice). */
export async function benchDigits(browser: Browser, base: string, threads: number): Promise<void> {
  await benchRun(browser, base, threads);
  await benchCurve(browser, base, threads);
}
