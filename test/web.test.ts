/**
 * The explorer page (web/) in Debian's chromium through playwright-core: built once with vite into a
 * temporary folder, served by the real `hierdiff serve --root`, then driven through its stable hooks
 * (data-testid, control ids, documentElement.dataset.datum/curves). Screenshots land in
 * test-artifacts/web/. Without chromium the file skips with a warning, unless HIERDIFF_REQUIRE_BROWSER=1
 * (.ci/run), where a missing browser fails.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, type Explorer, haveChromium, ROOT, startExplorer, type Watched, watchPage } from './helpers/web.ts';

const required = process.env.HIERDIFF_REQUIRE_BROWSER === '1';
const present = haveChromium();
if (!present && !required) console.warn(`test/web.test.ts: SKIPPED, no chromium at ${CHROMIUM} (apt-get install chromium; HIERDIFF_REQUIRE_BROWSER=1 makes this a failure)`);

const ARTIFACTS = join(ROOT, 'test-artifacts', 'web');
const LAPTOP = { width: 1366, height: 900 };
const NARROW = { width: 390, height: 844 };
/**
 * A small curve set-up so each page load finishes its curves quickly (the page's curve URL parameters,
 * web/README.md); the datum view does not depend on them.
 */
const CURVES = 'curveDepths=2,3&curveLevels=4&curveData=50';

let explorer: Explorer | undefined;
let origin: string;

beforeAll(async () => {
  if (!present) return;
  explorer = await startExplorer();
  origin = new URL(explorer.served.url).origin;
  mkdirSync(ARTIFACTS, { recursive: true });
}, 180_000);

afterAll(async () => {
  await explorer?.stop();
});

/** Opens a page of the explorer, watched (errors, foreign requests), once its datum view is drawn. */
async function open(path: string, viewport = LAPTOP): Promise<Watched> {
  const w = await watchPage(explorer!.browser, new URL(path, explorer!.served.url).href, viewport);
  await datumReady(w.page);
  return w;
}

/** Waits until the datum view is up to date with the controls. */
async function datumReady(page: Page): Promise<void> {
  await until(page, `document.documentElement.dataset.datum === 'ready'`);
}

/**
 * Waits until a JavaScript expression is true in the page. Page-side code is written as strings: the
 * project's TypeScript checks Node code, without the DOM's declarations.
 */
async function until(page: Page, expression: string, timeout = 30_000): Promise<void> {
  await page.waitForFunction(expression, undefined, { timeout });
}

/** The value of a JavaScript expression in the page. */
const inPage = <T>(page: Page, expression: string): Promise<T> => page.evaluate(expression) as Promise<T>;

const symbols = (page: Page, testid: string): Promise<string[]> => page.locator(`[data-testid="${testid}"]`).evaluateAll((els) => els.map((e) => e.getAttribute('data-symbol') ?? ''));

/** Sets a control as a user would: picks an option of a select, otherwise types the value and commits it. */
async function setControl(page: Page, selector: string, value: string): Promise<void> {
  const control = page.locator(selector);
  if ((await control.evaluate((e) => e.tagName)) === 'SELECT') await control.selectOption(value);
  else {
    await control.fill(value);
    await control.dispatchEvent('change');
  }
}

/** The value of the noise slider at a fraction of its range, on its step grid, as the input writes it. */
async function sliderValueAt(page: Page, fraction: number): Promise<string> {
  return inPage(
    page,
    `(() => {
      const input = document.querySelector('#noise-slider');
      const min = Number(input.min || 0);
      const max = Number(input.max || 100);
      const probe = document.createElement('input');
      probe.type = 'range';
      probe.min = input.min;
      probe.max = input.max;
      probe.step = input.step;
      probe.value = String(min + ${fraction} * (max - min));
      return probe.value;
    })()`,
  );
}

/** Moves the slider and waits until the chart marker shows the new value and the datum is redrawn. */
async function moveSlider(page: Page, value: string): Promise<void> {
  await setControl(page, '#noise-slider', value);
  await until(page, `document.querySelector('[data-testid="class-kept-chart"]')?.getAttribute('data-marker') === ${JSON.stringify(value)} && document.documentElement.dataset.datum === 'ready'`);
}

const CONTROLS = ['#param-v', '#param-m', '#param-s', '#param-L', '#param-nc', '#param-process', '#param-schedule', '#noise-slider', '#param-gseed', '#param-dseed', '#param-precision'];

describe.skipIf(!present && !required)('the explorer in chromium', () => {
  it('finds chromium (HIERDIFF_REQUIRE_BROWSER=1 makes a missing browser a failure)', () => {
    expect(present, `no chromium at ${CHROMIUM}: apt-get install chromium`).toBe(true);
  });

  it('loads with no console errors and no request outside its own origin (favicon included)', async () => {
    const w = await open(`./?${CURVES}`);
    await until(w.page, `document.documentElement.dataset.curves === 'done'`, 40_000);
    // The favicon the page links is fetched from its own origin (chromium asks for it after load).
    const icon = await inPage<string | null>(w.page, `document.querySelector('link[rel~="icon"]')?.href ?? null`);
    expect(icon, 'the page links a favicon').not.toBeNull();
    if (!icon!.startsWith('data:')) expect(new URL(icon!).origin).toBe(origin);
    for (const id of CONTROLS) expect(await w.page.locator(id).count(), id).toBe(1);
    expect(await w.page.locator('#resample').count()).toBe(1);
    expect(await w.page.locator('[data-testid="leaf"]').count()).toBeGreaterThan(0);
    expect(await w.page.locator('[data-testid="class-kept-chart"]').count()).toBe(1);
    expect(w.errors).toEqual([]);
    expect(w.foreign).toEqual([]);
    await w.context.close();
  });

  it('moving the noise slider changes the noised leaves, the posterior sample and the chart marker (screenshots)', async () => {
    // Uniform noise: a noised token is redrawn, so its symbol changes (under ε only its evidence does).
    const w = await open(`./?${CURVES}&process=uniform`);
    expect(await w.page.locator('#param-process').inputValue()).toBe('uniform');
    const chart = w.page.locator('[data-testid="class-kept-chart"]');
    const low = await sliderValueAt(w.page, 0.1);
    const high = await sliderValueAt(w.page, 0.9);
    expect(low).not.toBe(high);
    await moveSlider(w.page, low);
    expect(await chart.getAttribute('data-marker')).toBe(low);
    const clean = await symbols(w.page, 'leaf');
    const noisedLow = await symbols(w.page, 'noised-leaf');
    const posteriorLow = await symbols(w.page, 'posterior-leaf');
    expect(noisedLow).toHaveLength(clean.length);
    expect(posteriorLow).toHaveLength(clean.length);
    await w.page.screenshot({ path: join(ARTIFACTS, 'laptop-noise-low.png'), fullPage: true });

    await moveSlider(w.page, high);
    expect(await chart.getAttribute('data-marker')).toBe(high);
    expect(await symbols(w.page, 'leaf')).toEqual(clean);
    expect(await symbols(w.page, 'noised-leaf')).not.toEqual(noisedLow);
    expect(await symbols(w.page, 'posterior-leaf')).not.toEqual(posteriorLow);
    await w.page.screenshot({ path: join(ARTIFACTS, 'laptop-noise-high.png'), fullPage: true });
    expect(w.errors).toEqual([]);
    await w.context.close();
  });

  it('at a narrow width (390 px) the page loads without errors (screenshot)', async () => {
    const w = await open(`./?${CURVES}`, NARROW);
    await w.page.screenshot({ path: join(ARTIFACTS, 'narrow.png'), fullPage: true });
    // Nothing wider than the phone's screen forces a sideways scroll of the whole page.
    const overflow = await inPage<number>(w.page, `document.documentElement.scrollWidth - document.documentElement.clientWidth`);
    expect(overflow).toBeLessThanOrEqual(1);
    expect(w.errors).toEqual([]);
    await w.context.close();
  });

  it('L = 5 at s = 2 draws 32 leaves', async () => {
    const w = await open(`./?${CURVES}`);
    const drawn = (n: number) => until(w.page, `document.querySelectorAll('[data-testid="leaf"]').length === ${n} && document.documentElement.dataset.datum === 'ready'`);
    // From another shape first (s = 3, L = 3: 27 leaves), so that the page really redraws.
    await setControl(w.page, '#param-s', '3');
    await setControl(w.page, '#param-L', '3');
    await drawn(27);
    await setControl(w.page, '#param-s', '2');
    await setControl(w.page, '#param-L', '5');
    await drawn(32);
    expect(await w.page.locator('[data-testid="leaf"]').count()).toBe(32);
    expect(await w.page.locator('[data-testid="param-error"]').count()).toBe(0);
    expect(w.errors).toEqual([]);
    await w.context.close();
  });

  it('an invalid m is explained inline, and nothing is computed until it is fixed', async () => {
    const w = await open(`./?${CURVES}`);
    const m = await w.page.locator('#param-m').inputValue();
    const before = await symbols(w.page, 'leaf');
    await setControl(w.page, '#param-m', '100000');
    const message = w.page.locator('[data-testid="param-error"]');
    await message.first().waitFor({ state: 'visible', timeout: 10_000 });
    expect(await message.first().textContent()).toMatch(/m/);
    // Given time to (wrongly) start a computation, the datum view is neither busy nor redrawn.
    await w.page.waitForTimeout(400);
    expect(await inPage(w.page, 'document.documentElement.dataset.datum')).not.toBe('busy');
    expect(await symbols(w.page, 'leaf')).toEqual(before);

    await setControl(w.page, '#param-m', m);
    await message
      .first()
      .waitFor({ state: 'detached', timeout: 10_000 })
      .catch(async () => expect(await message.isVisible()).toBe(false));
    await datumReady(w.page);
    expect(await symbols(w.page, 'leaf')).toEqual(before);
    expect(w.errors).toEqual([]);
    await w.context.close();
  });

  it('the share URL restores the same view, the drawn backward trajectory included', async () => {
    const w = await open(`./?${CURVES}`);
    await setControl(w.page, '#param-gseed', '7');
    await datumReady(w.page);
    await setControl(w.page, '#param-dseed', '3');
    await datumReady(w.page);
    await moveSlider(w.page, await sliderValueAt(w.page, 0.7));
    // Another backward trajectory of the same datum: the clean tree stays, the share URL names the new one.
    const clean = await symbols(w.page, 'leaf');
    const before = await w.page.locator('#share-url').inputValue();
    await w.page.locator('#resample').click();
    await until(w.page, `document.querySelector('#share-url').value !== ${JSON.stringify(before)} && document.documentElement.dataset.datum === 'ready'`);
    expect(await symbols(w.page, 'leaf')).toEqual(clean);
    const controls = async (page: Page) => Promise.all(CONTROLS.map(async (id) => [id, await page.locator(id).inputValue()]));
    const view = await controls(w.page);
    const leaves = await symbols(w.page, 'leaf');
    const noised = await symbols(w.page, 'noised-leaf');
    const posterior = await symbols(w.page, 'posterior-leaf');
    const share = await w.page.locator('#share-url').inputValue();
    expect(new URL(share).origin).toBe(origin);

    const again = await explorer!.browser.newContext({ viewport: LAPTOP });
    const page = await again.newPage();
    await page.goto(share);
    await datumReady(page);
    expect(await controls(page)).toEqual(view);
    expect(await symbols(page, 'leaf')).toEqual(leaves);
    expect(await symbols(page, 'noised-leaf')).toEqual(noised);
    expect(await symbols(page, 'posterior-leaf')).toEqual(posterior);
    expect(await page.locator('#share-url').inputValue()).toBe(share);
    await again.close();
    expect(w.errors).toEqual([]);
    await w.context.close();
  });
});
