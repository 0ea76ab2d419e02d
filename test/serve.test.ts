import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mimeType, parseHost, parsePort, resolveRequestPath, startServer, WEB_ROOT, type RunningServer } from '../src/cli/commands/serve.ts';
import { runCli } from './helpers/cli.ts';
import { expectOneLineError, paramError } from './helpers/errors.ts';
import { serveCli } from './helpers/web.ts';

/** A fake build: every kind of file the page may ship, a sub-folder, and a secret beside the root. */
const dir = mkdtempSync(join(tmpdir(), 'hierdiff-serve-'));
const root = join(dir, 'web');
const FILES: Record<string, string> = {
  'index.html': '<!doctype html><title>explorer</title>',
  'assets/app-1a2b.js': 'export {};',
  'assets/worker.mjs': 'export {};',
  'assets/style.css': 'body{}',
  'favicon.svg': '<svg xmlns="http://www.w3.org/2000/svg"/>',
  'icon.png': '\x89PNG',
  'data.json': '{}',
  'assets/kernels.wasm': '\0asm',
  'assets/font.woff2': 'wOF2',
  'assets/blob.unknownext': '?',
  'docs/index.html': '<p>docs</p>',
  'a b/c d.txt': 'spaces',
};
mkdirSync(join(root, 'assets'), { recursive: true });
mkdirSync(join(root, 'docs'));
mkdirSync(join(root, 'a b'));
for (const [name, body] of Object.entries(FILES)) writeFileSync(join(root, name), body);
writeFileSync(join(dir, 'secret.txt'), 'secret');

let running: RunningServer;
beforeAll(async () => {
  running = await startServer({ root, host: '127.0.0.1', port: 0 });
});
afterAll(async () => {
  await running?.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Reply {
  status: number;
  type: string | undefined;
  cache: string | undefined;
  body: string;
}

/** A raw request (no URL normalisation by a client library: `..` reaches the server as written). */
function get(path: string, base = running.url, method = 'GET'): Promise<Reply> {
  const { hostname, port } = new URL(base);
  return new Promise((done, fail) => {
    const req = request({ hostname, port, path, method }, (res) => {
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => done({ status: res.statusCode!, type: res.headers['content-type'], cache: res.headers['cache-control'], body }));
    });
    req.on('error', fail);
    req.end();
  });
}

describe('the static server', () => {
  it('serves index.html for / and for a folder, with the right content types', async () => {
    const home = await get('/');
    expect(home).toMatchObject({ status: 200, type: 'text/html; charset=utf-8', body: FILES['index.html'] });
    expect(home.cache).toBe('no-cache');
    expect((await get('/index.html?v=3&L=5#x')).body).toBe(FILES['index.html']);
    expect((await get('/docs/')).body).toBe(FILES['docs/index.html']);
    expect((await get('/docs')).body).toBe(FILES['docs/index.html']);
    const types: Record<string, string> = {
      '/assets/app-1a2b.js': 'text/javascript; charset=utf-8',
      '/assets/worker.mjs': 'text/javascript; charset=utf-8',
      '/assets/style.css': 'text/css; charset=utf-8',
      '/favicon.svg': 'image/svg+xml',
      '/icon.png': 'image/png',
      '/data.json': 'application/json; charset=utf-8',
      '/assets/kernels.wasm': 'application/wasm',
      '/assets/font.woff2': 'font/woff2',
      '/assets/blob.unknownext': 'application/octet-stream',
      '/a%20b/c%20d.txt': 'text/plain; charset=utf-8',
    };
    for (const [path, type] of Object.entries(types)) {
      const r = await get(path);
      expect([path, r.status, r.type]).toEqual([path, 200, type]);
    }
    expect(mimeType('X.HTML')).toBe('text/html; charset=utf-8');
  });

  it('answers HEAD without a body and refuses other methods', async () => {
    expect(await get('/', running.url, 'HEAD')).toMatchObject({ status: 200, body: '' });
    expect((await get('/', running.url, 'POST')).status).toBe(405);
  });

  it('answers 404 for what is not there', async () => {
    for (const path of ['/missing.js', '/assets/', '/assets/missing/', '/favicon.ico']) expect([path, (await get(path)).status]).toEqual([path, 404]);
  });

  it('refuses path traversal in every spelling', async () => {
    const attempts = [
      '/../secret.txt',
      '/assets/../../secret.txt',
      '/%2e%2e/secret.txt',
      '/%2E%2E%2Fsecret.txt',
      '/assets/..%2f..%2fsecret.txt',
      '/..%5csecret.txt',
      '/%00',
      '/%E0%A4%A',
      '/assets/%2e%2e/index.html',
    ];
    for (const path of attempts) {
      const r = await get(path);
      expect([path, r.status]).toEqual([path, 400]);
      expect(r.body).not.toContain('secret');
    }
    expect(resolveRequestPath(root, '/../secret.txt')).toBeNull();
    expect(resolveRequestPath(root, '/./assets/./style.css')).toBe(join(root, 'assets', 'style.css'));
    expect(resolveRequestPath(root, '/')).toBe(join(root, 'index.html'));
  });

  it('refuses a taken port, a missing build, bad --port and --host values as ParamErrors', async () => {
    const port = Number(new URL(running.url).port);
    const taken = await startServer({ root, host: '127.0.0.1', port }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(String(taken)).toMatch(/--port .*already in use/);
    await expect(startServer({ root: join(dir, 'nowhere'), host: '127.0.0.1', port: 0 })).rejects.toThrow(/nowhere.*npm run build:web/);
    for (const bad of ['-1', '65536', 'abc', '80.5', '']) expect(paramError(() => parsePort(bad)).message).toMatch(/--port/);
    for (const bad of ['', 'http://localhost', 'a/b', 'a b']) expect(paramError(() => parseHost(bad)).message).toMatch(/--host/);
  });

  it('looks for the build beside the CLI: <package>/dist/web', () => {
    expect(WEB_ROOT.replace(/[\\/]+$/, '')).toMatch(/[\\/]dist[\\/]web$/);
  });
});

describe('hierdiff serve (real binary)', () => {
  it('prints its URL once listening, serves the page, and exits 0 on SIGTERM and SIGINT', async () => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      const served = await serveCli(['--root', root, '--port', '0']);
      expect(served.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      expect((await get('/', served.url)).body).toBe(FILES['index.html']);
      const exited = new Promise<number | null>((r) => served.child.on('exit', (code) => r(code)));
      served.child.kill(signal);
      expect(await exited).toBe(0);
    }
  }, 30_000);

  it('refuses a port in use, a bad --port/--host and a missing build with one line, exit 2', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as AddressInfo).port;
    try {
      expectOneLineError(runCli(['serve', '--root', root, '--port', String(port)]), /--port .*in use/);
    } finally {
      blocker.close();
    }
    expectOneLineError(runCli(['serve', '--root', root, '--port', 'http']), /--port/);
    expectOneLineError(runCli(['serve', '--root', root, '--host', 'no such host.invalid']), /--host/);
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    expectOneLineError(runCli(['serve', '--root', empty, '--port', '0']), /empty.*npm run build:web/);
  }, 30_000);

  it('documents --port and --host in its help, not the testing-only --root', () => {
    const help = runCli(['serve', '--help']);
    expect(help.stdout).toContain('--port');
    expect(help.stdout).toContain('--host');
    expect(help.stdout).not.toContain('--root');
  });
});
