import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The published package, as a user gets it: `npm pack` (which runs prepare, i.e. the build into
 * dist/), the tarball installed into an empty project the way `npm install hierdiff` does it (install
 * scripts enabled, none of our environment variables), then its bin, its library entry and its
 * types, with no TypeScript sources and no tsx. One pack and one install for the whole file.
 *
 * The install simulates a machine without internet access for onnxruntime-node's install script,
 * which on linux x64 downloads CUDA provider files from nuget.org by default: global-agent, which
 * that script bootstraps, sends its requests to a closed local port (GLOBAL_AGENT_HTTPS_PROXY), so
 * the script fails as it does offline. The user sets nothing: the proxy variables only stand for
 * "no internet" and reach nothing but that script (npm ignores them). npm itself installs
 * --prefer-offline from this machine's cache, falling back to the registry, which stands for the
 * registry or mirror a user installs from (the consumer resolves hierdiff's version ranges anew,
 * which may need metadata that `npm ci` never cached). onnxruntime-node is an optional
 * dependency: npm drops it when its script fails, and the commands run on onnxruntime-web's
 * WebAssembly runtime instead (src/nn/runtime.ts).
 */
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const NPX = process.platform === 'win32' ? 'npx.cmd' : 'npx';
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const NO_INTERNET = 'http://127.0.0.1:9';
// What would change how onnxruntime-node installs or which runtime runs: .ci/run exports
// ONNXRUNTIME_NODE_INSTALL=skip for the checkout's own `npm ci`, and `npm test` passes npm's
// config down as npm_config_* variables. None of them reaches the user's install.
const NOT_THE_USERS = /^(onnxruntime_node_install(_cuda)?|npm_config_(onnxruntime_node_install(_cuda)?|ignore_scripts|offline)|hierdiff_runtime)$/i;
const ENV: NodeJS.ProcessEnv = {
  ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !NOT_THE_USERS.test(k))),
  GLOBAL_AGENT_HTTP_PROXY: NO_INTERNET,
  GLOBAL_AGENT_HTTPS_PROXY: NO_INTERNET,
  npm_config_update_notifier: 'false',
};

let work: string;
let project: string;
let tarball: string;
let packed: { path: string }[];

function run(cmd: string, args: string[], cwd: string, timeout = 240_000): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, { cwd, env: ENV, encoding: 'utf8', timeout });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} (in ${cwd}) exited ${r.status ?? r.signal}:\n${r.stdout}\n${r.stderr}`);
  return r;
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'hierdiff-package-'));
  const pack = run(NPM, ['pack', '--json', '--pack-destination', work], ROOT);
  // npm pack runs prepare (the build), whose output comes first; the JSON report is the array that starts a line.
  const info = JSON.parse(pack.stdout.slice(pack.stdout.search(/^\[$/m))) as { filename: string; files: { path: string }[] }[];
  tarball = join(work, info[0].filename);
  packed = info[0].files;
  project = join(work, 'consumer');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  // Install scripts on, as npm's default is (said explicitly against a user config that turns them off).
  run(NPM, ['install', '--no-audit', '--no-fund', '--prefer-offline', '--ignore-scripts=false', tarball], project, 300_000);
}, 420_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the npm package', () => {
  it('holds the compiled library, the bin, the docs and the MNIST models, and no sources, tests or benches', async () => {
    const paths = packed.map((f) => f.path);
    for (const p of [
      'package.json',
      'README.md',
      'bin/hierdiff.js',
      'dist/index.js',
      'dist/index.d.ts',
      'dist/cli/run.js',
      'dist/sweep/task.js',
      'dist/experiment/cellWorkerTask.js',
      'dist/bp/wasm/kernelsBinary.js',
      'models/mnist/denoiser.onnx',
      'models/mnist/classifier.onnx',
      'models/mnist/card.json',
      'dist/web/index.html',
    ])
      expect(paths).toContain(p);
    expect(paths.filter((p) => !/^(dist|docs|models\/mnist)\/|^(package\.json|README\.md|bin\/hierdiff\.js)$/.test(p))).toEqual([]);
    expect(paths.filter((p) => p.endsWith('.ts') && !p.endsWith('.d.ts'))).toEqual([]);
    // The one .mjs: onnxruntime-web's thread glue, an asset of the explorer's digits view (web/README.md).
    expect(paths.filter((p) => p.endsWith('.mjs') && !/^dist\/web\/assets\/ort-wasm-simd-threaded-[\w-]+\.mjs$/.test(p))).toEqual([]);
    const installed = join(project, 'node_modules', 'hierdiff');
    expect(existsSync(join(installed, 'src'))).toBe(false);
    expect(readdirSync(join(project, 'node_modules'))).not.toContain('tsx');
    // The compiled demo finds the models shipped in the installed package (images demo's default).
    const shipped = (await import(join(installed, 'dist', 'mnist', 'shipped.js'))) as typeof import('../src/mnist/shipped.ts');
    expect(shipped.mnistModelPaths().denoiser).toBe(join(installed, 'models', 'mnist', 'denoiser.onnx'));
  });

  it("installs with install scripts on while onnxruntime-node's CUDA download fails: npm drops onnxruntime-node (optional) and the WebAssembly runtime runs", () => {
    const modules = join(project, 'node_modules');
    // Gone only because its install script ran and failed (with --ignore-scripts it would be there).
    expect(existsSync(join(modules, 'onnxruntime-node'))).toBe(false);
    expect(existsSync(join(modules, 'onnxruntime-web', 'package.json'))).toBe(true);
    writeFileSync(
      join(project, 'runtime.mjs'),
      `import { onnxRuntime } from './node_modules/hierdiff/dist/nn/runtime.js';
import { openOnnxSession } from './node_modules/hierdiff/dist/nn/session.js';
import { mnistModelPaths } from './node_modules/hierdiff/dist/mnist/shipped.js';
const runtime = await onnxRuntime(1);
const cuda = await openOnnxSession(mnistModelPaths().classifier, 'classifier', 'cuda').then(() => 'opened', (e) => e.message);
console.log(JSON.stringify({ runtime, cuda }));
`,
    );
    const r = JSON.parse(run(process.execPath, ['runtime.mjs'], project, 60_000).stdout) as { runtime: { name: string; fallback: string }; cuda: string };
    expect(r.runtime).toMatchObject({ name: 'onnxruntime-web', fallback: 'onnxruntime-node is not installed' });
    expect(r.cuda).toMatch(/^invalid --device "cuda" \(onnxruntime-node is not installed, only the CPU-only runtime onnxruntime-web \(WebAssembly\): .*CUDA 12/);
    expect(r.cuda).not.toContain('\n');
  }, 60_000);

  it('runs `hierdiff --version` from the compiled entry', () => {
    const r = run(NPX, ['--no-install', 'hierdiff', '--version'], project, 60_000);
    expect(r.stdout.trim()).toBe((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version);
  });

  it('serves the explorer built into the package (`hierdiff serve` finds dist/web beside dist/cli)', async () => {
    const child = spawn(process.execPath, [join(project, 'node_modules', 'hierdiff', 'bin', 'hierdiff.js'), 'serve', '--port', '0'], { cwd: project, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const url = await new Promise<string>((done, fail) => {
        let out = '';
        child.stdout.on('data', (c: Buffer) => {
          out += c.toString();
          const m = /serving the explorer at (http:\/\/\S+)/.exec(out);
          if (m) done(m[1]);
        });
        child.on('exit', (code) => fail(new Error(`hierdiff serve exited ${code}: ${out}`)));
      });
      const home = await fetch(url);
      expect(home.headers.get('content-type')).toBe('text/html; charset=utf-8');
      const html = await home.text();
      expect(html).toContain('<html');
      // Every script the page loads is served too, as JavaScript.
      for (const [, src] of html.matchAll(/<script[^>]*src="([^"]+)"/g)) {
        const script = await fetch(new URL(src, url));
        expect([src, script.status, script.headers.get('content-type')]).toEqual([src, 200, 'text/javascript; charset=utf-8']);
      }
    } finally {
      child.kill('SIGTERM');
    }
  }, 60_000);

  it('runs `hierdiff reproduce --quick` (sweep workers from dist) and writes report.html', () => {
    const out = join(work, 'report');
    run(NPX, ['--no-install', 'hierdiff', 'reproduce', '--quick', '--out', out], project);
    expect(readFileSync(join(out, 'report.html'), 'utf8')).toContain('<html');
    expect(existsSync(join(out, 'results.jsonl'))).toBe(true);
  }, 240_000);

  it('runs `hierdiff images demo --quick` (the shipped MNIST models on the WebAssembly runtime) and writes its results and report', () => {
    const out = join(work, 'demo');
    const r = run(NPX, ['--no-install', 'hierdiff', 'images', 'demo', '--quick', '--out', out], project, 600_000);
    // The fallback is said, once, not silent.
    expect(r.stderr.match(/note: models run on onnxruntime-web \(WebAssembly.*because onnxruntime-node is not installed/g)).toHaveLength(1);
    const lines = readFileSync(join(out, 'results.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string });
    expect(lines.filter((l) => l.type === 'unit')).toHaveLength(100); // 20 digits × 5 steps
    expect(existsSync(join(out, 'summary.json'))).toBe(true);
    expect(readFileSync(join(out, 'report.html'), 'utf8')).toContain('<html');
  }, 600_000);

  it("imports from 'hierdiff' in plain JavaScript (cell workers from dist too)", () => {
    writeFileSync(
      join(project, 'use.mjs'),
      `import { sampleRules, createRng, generate, runCell, runCellParallel, linearSchedule } from 'hierdiff';
const g = sampleRules({ vocab: 8, synonyms: 2, tuple: 2, depth: 3 }, 0);
const data = generate(g, 5, createRng(1));
const cell = { grammarSeed: 0, depth: 3, process: 'eps', noise: 0.3 };
const options = { samples: 3000, trajectories: 2, schedule: linearSchedule() };
const parallel = await runCellParallel(g, cell, options, { workers: 2 });
const same = JSON.stringify(parallel) === JSON.stringify(runCell(g, cell, options));
console.log(JSON.stringify({ leaves: data.levels[3].length, same }));
`,
    );
    const r = run(process.execPath, ['use.mjs'], project, 120_000);
    expect(JSON.parse(r.stdout)).toEqual({ leaves: 5 * 8, same: true });
  }, 120_000);

  it('has types that resolve for a TypeScript consumer (tsc --noEmit)', () => {
    writeFileSync(
      join(project, 'use.ts'),
      `import { sampleRules, createRng, generate, type Grammar, type TreeBatch } from 'hierdiff';
const g: Grammar = sampleRules({ vocab: 8, synonyms: 2, tuple: 2, depth: 3 }, 0);
const data: TreeBatch = generate(g, 5, createRng(1));
const leaves: Int32Array = data.levels[g.depth];
// Fails (unused directive) if the declarations did not resolve and sampleRules were any.
// @ts-expect-error: the seed is a number
sampleRules({ vocab: 8, synonyms: 2, tuple: 2, depth: 3 }, 'zero');
console.log(leaves.length);
`,
    );
    // skipLibCheck as consumers have it: dependencies' own declarations are not ours to check.
    const compilerOptions = {
      target: 'ES2022',
      module: 'NodeNext',
      moduleResolution: 'NodeNext',
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      types: ['node'],
      typeRoots: [join(ROOT, 'node_modules', '@types')],
    };
    writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: ['use.ts'] }));
    run(process.execPath, [TSC, '-p', 'tsconfig.json'], project, 120_000);
  }, 120_000);
});
