/**
 * The explorer page in a real browser, for the browser tests and bench/web.ts: build the page (vite,
 * web/vite.config.ts) into a folder, serve it with the real `hierdiff serve`, and drive Debian's
 * chromium (never a downloaded browser) through playwright-core.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = join(ROOT, 'bin', 'hierdiff.js');
const VITE = join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js');

/** Debian's chromium (`apt-get install chromium`); HIERDIFF_CHROMIUM overrides the path. */
export const CHROMIUM = process.env.HIERDIFF_CHROMIUM ?? '/usr/bin/chromium';

export function haveChromium(): boolean {
  return existsSync(CHROMIUM);
}

/** Builds the page into `outDir` (what `npm run build:web` does into dist/web); throws with vite's output on failure. */
export function buildPage(outDir: string): void {
  const r = spawnSync(process.execPath, [VITE, 'build', '--config', join(ROOT, 'web', 'vite.config.ts'), '--outDir', outDir, '--emptyOutDir', '--logLevel', 'warn'], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 180_000,
  });
  if (r.status !== 0) throw new Error(`vite build exited ${r.status ?? r.signal}:\n${r.stdout}\n${r.stderr}`);
  if (!existsSync(join(outDir, 'index.html'))) throw new Error(`vite build wrote no index.html into ${outDir}`);
}

export interface Served {
  readonly child: ChildProcess;
  /** `http://127.0.0.1:PORT/` as `hierdiff serve` printed it. */
  readonly url: string;
  stop(): Promise<number | null>;
}

/** Starts the real `hierdiff serve` with `args` and resolves once it prints the URL it listens on. */
export function serveCli(args: readonly string[]): Promise<Served> {
  const child = spawn(process.execPath, [BIN, 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return new Promise((done, fail) => {
    let out = '';
    let err = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /^hierdiff: serving the explorer at (http:\/\/\S+)\n/.exec(out);
      if (m)
        done({
          child,
          url: m[1],
          stop: () => {
            if (child.exitCode === null) child.kill('SIGTERM');
            return exited;
          },
        });
    });
    child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
    void exited.then((code) => fail(new Error(`hierdiff serve exited ${code}: ${out}${err}`)));
  });
}

/** Headless chromium from Debian's package. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
}

/** The built page served and a browser open on it, as the browser tests and bench:web use them. */
export interface Explorer {
  readonly served: Served;
  readonly browser: Browser;
  /** Seconds the vite build took (0 when HIERDIFF_WEB_BUILD named an already built folder). */
  readonly buildSeconds: number;
  /** Closes the browser, stops the server and removes the built page. */
  stop(): Promise<void>;
}

/**
 * Builds the page into a temporary folder (or serves HIERDIFF_WEB_BUILD, an already built one, for
 * debugging a test), serves it with the real `hierdiff serve` and launches chromium.
 */
export async function startExplorer(): Promise<Explorer> {
  const dir = mkdtempSync(join(tmpdir(), 'hierdiff-web-'));
  const built = process.env.HIERDIFF_WEB_BUILD;
  const out = built ?? join(dir, 'web');
  const start = performance.now();
  if (!built) buildPage(out);
  const buildSeconds = built ? 0 : (performance.now() - start) / 1000;
  const served = await serveCli(['--root', out, '--port', '0']);
  const browser = await launchChromium();
  return {
    served,
    browser,
    buildSeconds,
    async stop() {
      await browser.close();
      await served.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A page with everything it logged and every request it made outside its own origin. */
export interface Watched {
  context: BrowserContext;
  page: Page;
  /** Console errors, page errors, failed requests and HTTP errors. */
  errors: string[];
  /** Requests of the page, its workers and its favicon to another origin (data: and blob: URLs count as inline). */
  foreign: string[];
  /** Every URL requested, in order. */
  requests: string[];
}

/** Opens `url` in a fresh context of `browser` at `viewport`, watching it (see {@link Watched}). */
export async function watchPage(browser: Browser, url: string, viewport: { width: number; height: number }): Promise<Watched> {
  const origin = new URL(url).origin;
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const w: Watched = { context, page, errors: [], foreign: [], requests: [] };
  page.on('console', (m) => {
    if (m.type() === 'error') w.errors.push(`console: ${m.text()} (${m.location().url})`);
  });
  page.on('pageerror', (e) => w.errors.push(`pageerror: ${e.message}`));
  page.on('requestfailed', (r) => w.errors.push(`request failed: ${r.url()} ${r.failure()?.errorText ?? ''}`));
  page.on('response', (r) => {
    if (r.status() >= 400) w.errors.push(`HTTP ${r.status()}: ${r.url()}`);
  });
  context.on('request', (r) => {
    w.requests.push(r.url());
    const u = new URL(r.url());
    if (u.protocol !== 'data:' && u.protocol !== 'blob:' && u.origin !== origin) w.foreign.push(r.url());
  });
  await page.goto(url);
  return w;
}
