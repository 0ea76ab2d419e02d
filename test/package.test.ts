import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The published package, as a user gets it: `npm pack` (which runs prepare, i.e. the build into
 * dist/), the tarball installed into an empty project, then its bin, its library entry and its
 * types, with no TypeScript sources and no tsx. One pack and one install for the whole file.
 */
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const NPX = process.platform === 'win32' ? 'npx.cmd' : 'npx';
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
// onnxruntime-node's install script would download CUDA libraries (its CPU library is in its tarball):
// skipped by env and by --ignore-scripts (no dependency of hierdiff needs its script to run).
const ENV = { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip', npm_config_update_notifier: 'false' };

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
  run(NPM, ['install', '--no-audit', '--no-fund', '--prefer-offline', '--ignore-scripts', tarball], project);
}, 300_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the npm package', () => {
  it('holds the compiled library, the bin, the docs and the MNIST models, and no sources, tests or benches', async () => {
    const paths = packed.map((f) => f.path);
    for (const p of ['package.json', 'README.md', 'bin/hierdiff.js', 'dist/index.js', 'dist/index.d.ts', 'dist/cli/run.js', 'dist/sweep/task.js', 'dist/experiment/cellWorkerTask.js', 'dist/bp/wasm/kernelsBinary.js', 'models/mnist/denoiser.onnx', 'models/mnist/classifier.onnx', 'models/mnist/card.json', 'dist/web/index.html']) expect(paths).toContain(p);
    expect(paths.filter((p) => !/^(dist|docs|models\/mnist)\/|^(package\.json|README\.md|bin\/hierdiff\.js)$/.test(p))).toEqual([]);
    expect(paths.filter((p) => p.endsWith('.ts') && !p.endsWith('.d.ts'))).toEqual([]);
    expect(paths.filter((p) => p.endsWith('.mjs'))).toEqual([]);
    const installed = join(project, 'node_modules', 'hierdiff');
    expect(existsSync(join(installed, 'src'))).toBe(false);
    expect(readdirSync(join(project, 'node_modules'))).not.toContain('tsx');
    // The compiled demo finds the models shipped in the installed package (images demo's default).
    const shipped = (await import(join(installed, 'dist', 'mnist', 'shipped.js'))) as typeof import('../src/mnist/shipped.ts');
    expect(shipped.mnistModelPaths().denoiser).toBe(join(installed, 'models', 'mnist', 'denoiser.onnx'));
  });

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
    const compilerOptions = { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: true, types: ['node'], typeRoots: [join(ROOT, 'node_modules', '@types')] };
    writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: ['use.ts'] }));
    run(process.execPath, [TSC, '-p', 'tsconfig.json'], project, 120_000);
  }, 120_000);
});
