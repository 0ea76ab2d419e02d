/**
 * The explorer's "Real digits" view (issue 24) in Debian's chromium: the page built by vite, served
 * by the real `hierdiff serve --root` (with its cross-origin isolation headers), the shipped MNIST
 * models on onnxruntime-web in the page's worker. Checks the hooks and states, that nothing leaves
 * the origin, the class kept at t/T = 0.1 and lost at t/T = 1.0 (fixed seeds), the share URL, the
 * screenshots (test-artifacts/web/), and that the page's round trips are the CLI's: the same
 * digit, seed, t/T and trajectories through `hierdiff images forward-backward`.
 * Skips without chromium unless HIERDIFF_REQUIRE_BROWSER=1, as test/web.test.ts.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromUint8, toUint8 } from '../src/images/io/pixels.ts';
import { loadForDiffusion } from '../src/images/io/preprocess.ts';
import { writePng } from '../src/images/io/writeImages.ts';
import { decodeDigits } from '../src/mnist/digitsFile.ts';
import { curveRows, curveUnit } from '../web/src/digitsCurve.ts';
import { DIGITS_DEFAULTS, digitsFromQuery, onGrid, viewFromQuery, viewToQuery } from '../web/src/digitsParams.ts';
import { runCli } from './helpers/cli.ts';
import { CHROMIUM, type Explorer, haveChromium, ROOT, startExplorer, type Watched, watchPage } from './helpers/web.ts';

const required = process.env.HIERDIFF_REQUIRE_BROWSER === '1';
const present = haveChromium();
if (!present && !required) console.warn(`test/web-digits.test.ts: SKIPPED, no chromium at ${CHROMIUM} (apt-get install chromium)`);

const ARTIFACTS = join(ROOT, 'test-artifacts', 'web');
const LAPTOP = { width: 1366, height: 900 };
const NARROW = { width: 390, height: 844 };
/** Without the curve (curvePerClass=0) the runs have the worker to themselves. */
const NO_CURVE = 'curvePerClass=0';
/** Round trips at t/T = 1 take 100 model calls each: minutes on a loaded 2-core machine. */
const SLOW = 300_000;

let explorer: Explorer | undefined;

beforeAll(async () => {
  if (!present) return;
  explorer = await startExplorer();
  mkdirSync(ARTIFACTS, { recursive: true });
}, 180_000);

afterAll(async () => {
  await explorer?.stop();
});

const open = (query: string, viewport = LAPTOP): Promise<Watched> => watchPage(explorer!.browser, new URL(`./?${query}`, explorer!.served.url).href, viewport);
const inPage = <T>(page: Page, expression: string): Promise<T> => page.evaluate(expression) as Promise<T>;
const until = (page: Page, expression: string, timeout = SLOW) => page.waitForFunction(expression, undefined, { timeout, polling: 100 });

/** Runs finished so far (data-digits-runs). */
const runsOf = async (page: Page) => Number((await inPage<string | undefined>(page, 'document.documentElement.dataset.digitsRuns')) ?? 0);

/** Waits for run number `n` to be shown. */
const runShown = (page: Page, n: number) => until(page, `document.documentElement.dataset.digits === 'done' && document.documentElement.dataset.digitsRuns === '${n}'`);

/** Clicks a button of the view and waits for the run it starts. */
async function click(page: Page, selector: string): Promise<void> {
  const n = await runsOf(page);
  await page.locator(selector).click();
  await runShown(page, n + 1);
}

interface Shown {
  class: number;
  prob: number;
  pixelChange: number;
  trajectory: number;
  pixels: Uint8Array;
}

/** The K reconstructions as the page shows them (test hooks). */
async function reconstructions(page: Page): Promise<Shown[]> {
  const names = ['class', 'prob', 'pixel-change', 'trajectory', 'pixels'];
  const raw = await page.locator('[data-testid="digit-denoised"]').evaluateAll((els, attrs) => els.map((e) => attrs.map((a) => e.getAttribute(`data-${a}`) ?? '')), names);
  return raw.map(([cls, prob, change, trajectory, pixels]) => ({
    class: Number(cls),
    prob: Number(prob),
    pixelChange: Number(change),
    trajectory: Number(trajectory),
    pixels: new Uint8Array(Buffer.from(pixels, 'base64')),
  }));
}

async function setT(page: Page, t: string): Promise<void> {
  await page.locator('[data-testid="digit-t"]').fill(t);
  expect(new URL(page.url()).searchParams.get('t')).toBe(t);
}

describe.skipIf(!present && !required)('the Real digits view in chromium', () => {
  it(
    'loads the runtime and models only when the view opens, from the origin, with no errors; the hooks and states',
    async () => {
      const w = await open('curveLevels=4&curveData=50');
      await until(w.page, `document.documentElement.dataset.datum === 'ready'`);
      expect(
        w.requests.filter((u) => /\.(onnx|wasm|bin)$/.test(new URL(u).pathname) || /ort-wasm/.test(u)),
        'nothing of the digits view before it opens',
      ).toEqual([]);
      expect(await inPage(w.page, 'document.documentElement.dataset.digits ?? null')).toBeNull();
      await w.page.locator('#tab-digits').click();
      expect(new URL(w.page.url()).searchParams.get('view')).toBe('digits');
      await until(w.page, `['ready', 'running', 'done'].includes(document.documentElement.dataset.digits)`);
      await runShown(w.page, 1);
      const names = w.requests.map((u) => new URL(u).pathname);
      for (const file of [/denoiser.*\.onnx$/, /classifier.*\.onnx$/, /ort-wasm-simd-threaded.*\.wasm$/, /mnist-digits\.bin$/])
        expect(
          names.some((n) => file.test(n)),
          String(file),
        ).toBe(true);
      // hierdiff serve sends COOP/COEP: the page is cross-origin isolated (WebAssembly threads possible).
      const head = await fetch(explorer!.served.url);
      expect([head.headers.get('cross-origin-opener-policy'), head.headers.get('cross-origin-embedder-policy')]).toEqual(['same-origin', 'require-corp']);
      expect(await inPage(w.page, 'self.crossOriginIsolated')).toBe(true);
      // Automatic: two threads from 2 logical cores on (web/README.md, Speed).
      const threads = (await inPage<number>(w.page, 'navigator.hardwareConcurrency')) >= 2 ? 2 : 1;
      expect(await inPage(w.page, 'document.documentElement.dataset.digitsThreads')).toBe(String(threads));
      expect(await w.page.locator('#digits-mode').textContent()).toMatch(threads === 2 ? /2 threads/ : /1 thread \(this machine has 1 core/);
      const labels = await w.page.locator('[data-testid="digit-choice"]').evaluateAll((els) => els.map((e) => e.getAttribute('data-label')));
      expect(labels).toHaveLength(100);
      for (let c = 0; c < 10; c++)
        expect(
          labels.filter((l) => l === String(c)),
          `class ${c}`,
        ).toHaveLength(10);
      for (const id of ['digits-view', 'digit-t', 'digit-run', 'digit-original', 'digit-noised', 'digits-class-kept-chart']) expect(await w.page.locator(`[data-testid="${id}"]`).count(), id).toBe(1);
      const shown = await reconstructions(w.page);
      expect(shown).toHaveLength(4);
      for (const r of shown) {
        expect(r.class).toBeGreaterThanOrEqual(0);
        expect(r.class).toBeLessThan(10);
        expect(r.prob).toBeGreaterThan(0.1);
        expect(r.pixels).toHaveLength(1024);
      }
      expect(Number(await w.page.locator('[data-testid="digits-class-kept-chart"]').getAttribute('data-points'))).toBeGreaterThanOrEqual(0);
      expect(w.errors).toEqual([]);
      expect(w.foreign).toEqual([]);
      await w.context.close();
    },
    SLOW,
  );

  it(
    'a clear digit at t/T = 0.1 comes back as itself in almost every run; at t/T = 1.0 the classes spread',
    async () => {
      // Digit 31, a clear 3 (the classifier gives it 0.9997). Five runs of K = 4 (trajectories 0 … 19, seed 0).
      const w = await open(`view=digits&digit=31&t=0.1&seed=0&j=0&${NO_CURVE}`);
      await runShown(w.page, 1);
      const original = Number(await w.page.locator('[data-testid="digit-original"]').getAttribute('data-class'));
      expect(original).toBe(3);
      const allKept: boolean[] = [];
      for (let run = 0; run < 5; run++) {
        if (run > 0) await click(w.page, '#digit-more');
        const shown = await reconstructions(w.page);
        expect(shown.map((s) => s.trajectory)).toEqual([0, 1, 2, 3].map((j) => 4 * run + j));
        allKept.push(shown.every((s) => s.class === original));
      }
      // A reconstruction at t/T = 0.1 changes class with probability ≈ 0.01 (images demo): a run of 4
      // keeps it whole with ≈ 0.96, so ≥ 4 of 5 whole runs fails with probability ≈ 2 %; the seeds are fixed.
      expect(allKept.filter(Boolean).length, `runs with all 4 reconstructions a 3: ${allKept}`).toBeGreaterThanOrEqual(4);

      // t/T = 1.0: pure noise, the model draws digits of any class. Two runs: 8 reconstructions.
      await setT(w.page, '1.00');
      await click(w.page, '[data-testid="digit-run"]');
      const classes = (await reconstructions(w.page)).map((s) => s.class);
      await click(w.page, '#digit-more');
      classes.push(...(await reconstructions(w.page)).map((s) => s.class));
      // 8 draws from ≈ uniform classes (each 7–13 % of samples, models/mnist/README.md): ≥ 3 distinct
      // fails with probability < 1e−4.
      expect(new Set(classes).size, `classes at t/T = 1: ${classes}`).toBeGreaterThanOrEqual(3);
      expect(w.errors).toEqual([]);
      expect(w.foreign).toEqual([]);
      await w.context.close();
    },
    SLOW,
  );

  it(
    'the share URL restores the view, the digit, t/T and the seeds, and shows the same reconstructions',
    async () => {
      const w = await open(`view=digits&t=0.2&${NO_CURVE}`);
      await runShown(w.page, 1);
      await w.page.locator('[data-testid="digit-choice"][data-index="57"]').click();
      await setT(w.page, '0.30');
      await click(w.page, '#digit-reseed');
      await click(w.page, '#digit-more');
      const share = w.page.url();
      const q = new URL(share).searchParams;
      expect(Object.fromEntries(['view', 'digit', 't', 'seed', 'j'].map((k) => [k, q.get(k)]))).toEqual({ view: 'digits', digit: '57', t: '0.30', seed: '1', j: '4' });
      const before = await reconstructions(w.page);
      const again = await open(share.slice(share.indexOf('?') + 1));
      await runShown(again.page, 1);
      expect(Number(await again.page.locator('[data-testid="digit-t"]').inputValue())).toBe(0.3);
      expect(await again.page.locator('[data-testid="digit-choice"][aria-pressed="true"]').getAttribute('data-index')).toBe('57');
      const after = await reconstructions(again.page);
      expect(after.map((s) => [s.trajectory, s.class, s.prob])).toEqual(before.map((s) => [s.trajectory, s.class, s.prob]));
      after.forEach((s, j) => expect(Buffer.from(s.pixels).equals(Buffer.from(before[j].pixels))).toBe(true));
      expect(again.page.url()).toBe(share);
      expect([...w.errors, ...again.errors]).toEqual([]);
      await again.context.close();
      await w.context.close();
    },
    SLOW,
  );

  it(
    'screenshots at 1366×900 and 390×844, the curve drawing, nothing wider than a phone',
    async () => {
      for (const [name, viewport] of [
        ['digits-laptop', LAPTOP],
        ['digits-narrow', NARROW],
      ] as const) {
        const w = await open('view=digits&digit=30&t=0.6&curvePerClass=1', viewport);
        await runShown(w.page, 1);
        // The first points of the class-kept curve (t/T = 0.1, 0.2: few model calls).
        await until(w.page, `Number(document.querySelector('[data-testid="digits-class-kept-chart"]').dataset.points) >= 2 && document.querySelector('#digits-class-kept-chart svg') !== null`);
        await w.page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
        const overflow = await inPage<number>(w.page, 'document.documentElement.scrollWidth - document.documentElement.clientWidth');
        expect(overflow, name).toBeLessThanOrEqual(1);
        expect(w.errors).toEqual([]);
        expect(w.foreign).toEqual([]);
        await w.context.close();
      }
    },
    SLOW,
  );
});

/**
 * The page against the CLI on the same model files. The CLI runs on PNGs of the page's digits
 * (`<label>/<kk>.png`); only class 0's folder is written, so that its image index is the page's digit
 * index (i = label·10 + k with label 0) and the random streams (seed, image, step, trajectory) agree.
 */
describe.skipIf(!present && !required)('the Real digits view agrees with hierdiff images forward-backward', () => {
  /**
   * The runtimes (onnxruntime-web's WebAssembly kernels, onnxruntime-node's native ones) may differ in
   * the last float bits of ε; the chains are the same JavaScript arithmetic. Measured: the pixel
   * changes (mean |x − x0| in [−1, 1], float64 of float32 images) agree to ≤ 5e−7 after 30 and 50
   * reverse steps, so the float reconstructions differ by ~1e−6, far below one uint8 step (2/255):
   * a saved pixel can move only when its float sits at a truncation boundary, by 1. Tolerances:
   * 1 uint8 unit per pixel (measured: 0, identical bytes), 1e−4 on the pixel change (200× the
   * measured gap), and equal classes (a tie within 1e−6 in the logits would be needed to differ).
   */
  const PIXEL_TOLERANCE = 1;
  const PIXEL_CHANGE_TOLERANCE = 1e-4;

  it(
    'same classes, pixel changes and pixels for one digit, seed, t/T and trajectories',
    async () => {
      const work = mkdtempSync(join(tmpdir(), 'hierdiff-web-cli-'));
      try {
        const digits = decodeDigits(readFileSync(join(ROOT, 'web', 'public', 'mnist-digits.bin')), 'mnist-digits.bin');
        for (let k = 0; k < 10; k++) await writePng(join(work, 'digits', '0', `${String(k).padStart(2, '0')}.png`), fromUint8(digits.pixels.subarray(k * 1024, (k + 1) * 1024), 32, 32, 1), 1, 32, 32);
        const digit = 3;
        // One case on two WebAssembly threads (the page is cross-origin isolated), one on one.
        const cases = [
          { t: '0.50', step: 50, seed: 0, j: 0, threads: 2 },
          { t: '0.30', step: 30, seed: 5, j: 4, threads: 1 },
        ];
        for (const c of cases) {
          const out = join(work, `cli-${c.step}`);
          const cli = runCli([
            'images',
            'forward-backward',
            '--model',
            join(ROOT, 'models/mnist/denoiser.onnx'),
            '--classifier',
            join(ROOT, 'models/mnist/classifier.onnx'),
            '--images',
            join(work, 'digits'),
            '--per-class',
            String(digit + 1),
            '--schedule',
            'linear',
            '--diffusion-steps',
            '1000',
            '--respacing',
            '100',
            '--variance',
            'fixed-small',
            '--times',
            String(c.step),
            '--trajectories',
            String(c.j + 4),
            '--seed',
            String(c.seed),
            '--examples',
            String(digit + 1),
            '--no-report',
            '--out',
            out,
          ]);
          expect(cli.code, cli.stderr).toBe(0);
          const unit = readFileSync(join(out, 'results.jsonl'), 'utf8')
            .trim()
            .split('\n')
            .map((l) => JSON.parse(l))
            .find((l) => l.type === 'unit' && l.image === digit);
          const w = await open(`view=digits&digit=${digit}&t=${c.t}&seed=${c.seed}&j=${c.j}&threads=${c.threads}&${NO_CURVE}`);
          await runShown(w.page, 1);
          expect(await inPage(w.page, 'document.documentElement.dataset.digitsThreads')).toBe(String(c.threads));
          const shown = await reconstructions(w.page);
          expect(Number(await w.page.locator('[data-testid="digit-original"]').getAttribute('data-class'))).toBe(unit.originalTop1);
          const cliTraj = unit.trajectories.slice(c.j, c.j + 4) as { top1: number; pixelChange: number }[];
          expect(
            shown.map((s) => s.class),
            'class decisions',
          ).toEqual(cliTraj.map((t) => t.top1));
          const changeGap = Math.max(...shown.map((s, j) => Math.abs(s.pixelChange - cliTraj[j].pixelChange)));
          let pixelGap = 0;
          if (c.j === 0) {
            // The CLI's examples are trajectory 0's.
            const noised = new Uint8Array(Buffer.from((await w.page.locator('[data-testid="digit-noised"]').getAttribute('data-pixels')) ?? '', 'base64'));
            const cliNoised = toUint8(await loadForDiffusion(join(out, 'examples', `i${digit}-k${c.step}-noised.png`), 32, 1), 1);
            const cliGenerated = toUint8(await loadForDiffusion(join(out, 'examples', `i${digit}-k${c.step}-generated.png`), 32, 1), 1);
            pixelGap = Math.max(...shown[0].pixels.map((p, i) => Math.abs(p - cliGenerated[i])));
            // x_t is JavaScript arithmetic on both sides: the same bytes.
            expect(Buffer.from(noised).equals(Buffer.from(cliNoised)), 'x_t of trajectory 0').toBe(true);
          }
          console.log(
            `page (${c.threads} thread${c.threads > 1 ? 's' : ''}) vs CLI, digit ${digit}, t/T ${c.t}, seed ${c.seed}, trajectories ${c.j}–${c.j + 3}: classes ${shown.map((s) => s.class)}, |Δ pixelChange| ≤ ${changeGap.toExponential(2)}${c.j === 0 ? `, trajectory-0 pixels within ${pixelGap} (uint8)` : ''}`,
          );
          expect(changeGap).toBeLessThan(PIXEL_CHANGE_TOLERANCE);
          expect(pixelGap).toBeLessThanOrEqual(PIXEL_TOLERANCE);
          expect(w.errors).toEqual([]);
          await w.context.close();
        }
      } finally {
        rmSync(work, { recursive: true, force: true });
      }
    },
    SLOW,
  );
});

describe('the digits view, pure parts', () => {
  it('round-trips its controls through the URL, beside the RHM view, and falls back on bad values', () => {
    const st = { digit: 57, t: 0.3, seed: 12, j: 8, curvePerClass: 2, threads: 1 };
    const query = viewToQuery('digits', st);
    expect(query).toBe('view=digits&digit=57&t=0.30&seed=12&j=8&curvePerClass=2&threads=1');
    expect(digitsFromQuery(`${query}&v=8&noise=0.4`)).toEqual(st);
    expect(viewFromQuery(query)).toBe('digits');
    expect(viewFromQuery('v=8')).toBe('rhm');
    expect(viewToQuery('rhm', st)).toBe('');
    expect(viewToQuery('digits', DIGITS_DEFAULTS)).toBe('view=digits&digit=30&t=0.50&seed=0&j=0');
    expect(digitsFromQuery('digit=100&t=0&seed=-1&j=x&curvePerClass=11&threads=9')).toEqual(DIGITS_DEFAULTS);
    expect(digitsFromQuery('t=0.123').t).toBe(0.12);
    expect([onGrid(0.001), onGrid(0.994), onGrid(7)]).toEqual([0.01, 0.99, 1]);
  });

  it('pools round trips into the images summary rows (class kept vs the original and the label, layer cosines)', () => {
    const verdict = (top1: number, cosine: number) => ({ top1, probs: [], pixelChange: 0.1, cosines: [cosine, cosine / 2] });
    const stats = { format: 'hierdiff.image-stats/1' as const, images: 3, layers: ['stage1', 'stage2'].map((name) => ({ name, channels: 1, mean: [0], meanSquare: [1] })) };
    const units = [curveUnit(30, 3, 10, [verdict(3, 1), verdict(3, 0.9)]), curveUnit(31, 3, 10, [verdict(3, 1), verdict(5, 0.5)]), curveUnit(40, 4, 20, [verdict(9, 1), verdict(9, 0.8)])];
    const { rows, points, perPoint } = curveRows([10, 20, 30], stats, units);
    expect([points, perPoint]).toEqual([2, 1]);
    expect(rows.map((r) => [r.tOverT, r.images, r.classKept, r.classKeptLabel])).toEqual([
      [0.1, 2, 0.5, 0.5],
      [0.2, 1, 1, 0],
    ]);
    expect(rows[0].layers.map((l) => [l.name, l.cosine])).toEqual([
      ['stage1', 0.7],
      ['stage2', 0.35],
    ]);
  });
});
