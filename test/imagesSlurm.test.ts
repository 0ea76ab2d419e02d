import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resultsArgv } from '../src/cli/commands/imagesOptions.ts';
import { checkSlurmArrayOptions, taskLogFile } from '../src/core/slurm.ts';
import { imagesArrayScript, imagesSlurmFolder, imagesStatsScript } from '../src/images/experiment/slurm.ts';
import { writePng } from '../src/images/io/writeImages.ts';
import { heldOutSubset, MNIST_SIZE } from '../src/mnist/data.ts';
import { BIN } from './helpers/cli.ts';
import { expectOneLineError } from './helpers/errors.ts';
import { slurmUnavailable, startSlurm, type SlurmCluster } from './helpers/slurm.ts';
import { sleep } from './helpers/sleep.ts';
import { tempDir } from './helpers/tempDir.ts';

// `images forward-backward --slurm` on the shipped MNIST models and held-out digits (one per class):
// the image experiment through the mechanism sweeps use (src/cli/slurmArray.ts). A space in every
// path: the scripts and commands must quote it.
const dir = tempDir('hierdiff images-slurm-');
const read = (path: string) => readFileSync(path, 'utf8');
const MODELS = join(import.meta.dirname, '..', 'models', 'mnist');
const unitLines = (path: string) =>
  existsSync(path)
    ? read(path)
        .split('\n')
        .filter((l) => l.startsWith('{"type":"unit"')).length
    : 0;

/** 10 digits × 2 times = 20 units of a few tens of ms each. */
const RUN = [
  'images',
  'forward-backward',
  '--model',
  join(MODELS, 'denoiser.onnx'),
  '--classifier',
  join(MODELS, 'classifier.onnx'),
  '--images',
  'digits',
  '--schedule',
  'linear',
  '--diffusion-steps',
  '1000',
  '--respacing',
  '10',
  '--variance',
  'fixed-small',
  '--times',
  '3,10',
  '--trajectories',
  '2',
  '--examples',
  '0',
  '--no-report',
];

/** Runs the real binary in the test folder with an environment (Slurm's, or a job array task's). */
function runWith(args: string[], env: NodeJS.ProcessEnv = process.env) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: dir, env, encoding: 'utf8', timeout: 240_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** The run done locally (once), to compare Slurm runs with. */
function localRun(): string {
  const out = join(dir, 'local run');
  if (!existsSync(join(out, 'results.jsonl'))) expect(runWith([...RUN, '--out', 'local run']).code).toBe(0);
  return out;
}

beforeAll(async () => {
  const digits = heldOutSubset(1);
  const px = MNIST_SIZE * MNIST_SIZE;
  for (let i = 0; i < digits.count; i++) {
    await writePng(join(dir, 'digits', String(digits.labels[i]), `${i}.png`), digits.images.subarray(i * px, (i + 1) * px), 1, MNIST_SIZE, MNIST_SIZE);
  }
}, 60_000);

describe('the scripts of an image run on Slurm', () => {
  const input = {
    out: '/data/run one',
    cwd: '/home/me/project',
    node: '/usr/bin/node',
    bin: '/opt/hierdiff/bin/hierdiff.js',
    args: ['images', 'forward-backward', '--model', 'my model.onnx', '--device', 'cuda'],
    array: checkSlurmArrayOptions({ tasks: 4, cpusPerTask: 2, gpusPerTask: 1, time: '2:00:00', partition: 'gpu', sbatchArgs: ['--mem=16G'] }),
  };

  it('the array: GPUs per task, logs in OUT/slurm, each task its shard with --resume', () => {
    const script = imagesArrayScript(input);
    expect(script.split('\n').filter((l) => l.startsWith('#SBATCH '))).toEqual([
      '#SBATCH --job-name=hierdiff-images',
      '#SBATCH --array=0-3',
      '#SBATCH --cpus-per-task=2',
      '#SBATCH --gpus-per-task=1',
      '#SBATCH --output="/data/run one/slurm/logs/slurm-%A_%a.out"',
      '#SBATCH --chdir=/home/me/project',
      '#SBATCH --time=2:00:00',
      '#SBATCH --partition=gpu',
      '#SBATCH --mem=16G',
    ]);
    const r = spawnSync('bash', ['-c', script.replace('exec ', 'printf "%s\\n" ')], { encoding: 'utf8', env: { ...process.env, SLURM_ARRAY_TASK_ID: '2' } });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual([...['/usr/bin/node', '/opt/hierdiff/bin/hierdiff.js', ...input.args], '--shard', 'auto', '--shard-count', '4', '--resume', '--out', '/data/run one']);
    expect(script).toContain(`#   hierdiff images merge '/data/run one'`);
  });

  it('the first step: one job (no array) computing the statistics with --stats-only', () => {
    const script = imagesStatsScript(input);
    expect(script).toContain('#SBATCH --job-name=hierdiff-images-stats\n');
    expect(script).not.toContain('--array');
    expect(script).toContain('#SBATCH --output="/data/run one/slurm/logs/slurm-%j.out"');
    expect(script).toContain(`--device cuda \\\n  --stats-only --out '/data/run one'\n`);
  });

  it('the recorded command and what tasks run leave out how and where the run runs', () => {
    const argv = ['node', 'hierdiff', 'images', 'forward-backward', '--slurm', '--array', '3', '--gpus-per-task=1', '--cpus-per-task', '2', '--time', '10', '--partition', 'p'];
    const more = ['--sbatch-arg=--mem=1G', '--wait', '--shard', 'auto', '--shard-count', '3', '--resume', '--no-report', '--stats-only', '--out', 'x', '--seed', '3'];
    expect(resultsArgv([...argv, ...more])).toEqual(['node', 'hierdiff', 'images', 'forward-backward', '--seed', '3']);
  });
});

describe('image runs by shard: --shard auto, --stats-only', () => {
  it('--shard auto in a job array task writes the file --shard 1/3 writes, and says which execution provider ran', () => {
    expect(runWith([...RUN, '--shard', '1/3', '--out', 'explicit']).code).toBe(0);
    const auto = runWith([...RUN, '--shard', 'auto', '--out', 'auto'], { ...process.env, SLURM_ARRAY_TASK_ID: '1', SLURM_ARRAY_TASK_COUNT: '3' });
    expect(auto.code, auto.stderr).toBe(0);
    expect(auto.stderr).toContain('models run on the CPU (onnxruntime CPU execution provider)');
    expect(read(join(dir, 'auto', 'results.shard-1-of-3.jsonl'))).toBe(read(join(dir, 'explicit', 'results.shard-1-of-3.jsonl')));
  }, 120_000);

  it('--stats-only writes the statistics a whole run computes, and shards started after it reuse them', () => {
    const local = localRun();
    const r = runWith([...RUN, '--stats-only', '--out', 'prepared']);
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(join(dir, 'prepared'))).toEqual(['stats.json']);
    expect(read(join(dir, 'prepared', 'stats.json'))).toBe(read(join(local, 'stats.json')));
    const shard = runWith([...RUN, '--shard', '0/2', '--out', 'prepared']);
    expect(shard.code, shard.stderr).toBe(0);
    expect(shard.stderr).not.toContain('whitening statistics computed');
    // A run that finds none computes them, and says so.
    const fresh = runWith([...RUN, '--shard', '1/2', '--out', 'fresh']);
    expect(fresh.stderr).toContain(`whitening statistics computed on the clean images -> ${join('fresh', 'stats.json')}`);
  }, 120_000);
});

describe('bad Slurm options of an image run: one line, exit 2, nothing written', () => {
  const cases: [string, string[], RegExp][] = [
    ['gpus without --slurm', ['--gpus-per-task', '1'], /^hierdiff: invalid --gpus-per-task without --slurm$/],
    ['wait without --slurm', ['--wait'], /^hierdiff: invalid --wait without --slurm$/],
    ['shard with --slurm', ['--slurm', '--shard', '0/2'], /invalid --shard with --slurm \(each array task runs its own shard\)/],
    ['stats-only with --slurm', ['--slurm', '--stats-only'], /invalid --stats-only with --slurm/],
    ['more tasks than units', ['--slurm', '--array', '21'], /invalid --array "21" \(expected an integer in \[1, 20\]\)/],
    ['gpus', ['--slurm', '--gpus-per-task', '0'], /invalid --gpus-per-task "0"/],
    ['time', ['--slurm', '--time', 'soon'], /invalid --time "soon"/],
    ['shard-count without auto', ['--shard-count', '3'], /invalid --shard-count without --shard auto/],
    ['status with other options', ['--status', 'x'], /^hierdiff: invalid --[a-z-]+ with --status \(--status only reads the files of a run\)$/],
  ];
  it.each(cases)('%s', (_name, extra, message) => {
    expectOneLineError(runWith([...RUN, ...extra, '--out', 'bad']), message);
    expect(existsSync(join(dir, 'bad'))).toBe(false);
  });

  it('without --out or --model (required unless --status), and --status of a folder with no run', () => {
    expectOneLineError(runWith(RUN), /^hierdiff: required option '--out <dir>' not specified$/);
    expectOneLineError(runWith(['images', 'forward-backward', '--out', 'x']), /^hierdiff: required option '--model <file>' not specified$/);
    expectOneLineError(runWith(['images', 'forward-backward', '--status', 'none']), /invalid --status none \(neither none\/results\.jsonl nor a Slurm folder .*none\/slurm exists\)/);
  });

  it('no sbatch on PATH: one line naming it, and no output folder left', () => {
    expectOneLineError(runWith([...RUN, '--slurm', '--out', 'nosbatch'], { ...process.env, PATH: '/nonexistent' }), /sbatch not found/);
    expect(existsSync(join(dir, 'nosbatch'))).toBe(false);
  }, 60_000);
});

// Against a real Slurm: a single-node cluster of this machine (test/helpers/slurm.ts), as for sweeps.
const unavailable = slurmUnavailable();
if (unavailable) console.warn(`SKIPPED: the Slurm tests need a single-node Slurm, which cannot start here: ${unavailable}`);

describe.skipIf(unavailable !== null)('image runs on a real Slurm (single node, started for these tests)', () => {
  let slurm: SlurmCluster;
  const queue = (jobId: string) => spawnSync('squeue', ['--noheader', '--jobs', jobId], { env: slurm.env, encoding: 'utf8' }).stdout.trim();
  const untilQueueEmpty = async (jobId: string) => {
    const deadline = Date.now() + 120_000;
    while (queue(jobId) !== '' && Date.now() < deadline) await sleep(200);
  };
  beforeAll(async () => {
    slurm = await startSlurm();
  }, 60_000);
  afterAll(() => slurm?.stop());

  it('a 3-task array with --wait: statistics once, then the shards, merged into the bytes of a local run; --status says it is complete', () => {
    const local = localRun();
    const r = runWith([...RUN, '--slurm', '--array', '3', '--wait', '--out', 'on slurm'], slurm.env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/submitted job array (\d+) \(3 tasks, 20 units\) after job (\d+) \(whitening statistics\)/);
    expect(r.stderr).toMatch(/20 units from 3 Slurm tasks/);
    const out = join(dir, 'on slurm');
    for (const name of ['results.jsonl', 'summary.json', 'stats.json']) expect(read(join(out, name)), name).toBe(read(join(local, name)));
    const folder = imagesSlurmFolder(out);
    expect(readdirSync(folder).sort()).toEqual(['forward-backward.sbatch', 'job.json', 'logs', 'stats.sbatch']);
    const logs = readdirSync(join(folder, 'logs')).sort();
    expect(logs).toHaveLength(4);
    // Every task read the statistics the first job wrote, and says what ran its models.
    for (const log of logs) expect(read(join(folder, 'logs', log))).toContain('onnxruntime CPU execution provider');
    const statsLog = logs.filter((log) => !log.includes('_'));
    expect(statsLog).toHaveLength(1);
    expect(read(join(folder, 'logs', statsLog[0]))).toContain('whitening statistics of 4 layers over 10 images');
    for (const log of logs.filter((l) => l.includes('_'))) expect(read(join(folder, 'logs', log))).not.toContain('whitening statistics computed');
    const status = runWith(['images', 'forward-backward', '--status', 'on slurm'], slurm.env);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toContain('on slurm/results.jsonl: 20/20 units (complete)');
    expect(status.stdout).toMatch(/2\/3\s+6\s+6\s+done/);
    expect(status.stdout).toContain('20/20 units in the shards; merged into on slurm/results.jsonl');
  }, 240_000);

  it('refused, nothing submitted: an unknown partition, a results folder another live run is writing', () => {
    expectOneLineError(runWith([...RUN, '--slurm', '--partition', 'nosuchpartition', '--out', 'bad partition'], slurm.env), /Invalid partition name specified/);
    expect(existsSync(join(dir, 'bad partition'))).toBe(false);
    // A local run holds the results file's lock (this test's own pid: a live process on this host).
    const busy = join(dir, 'busy');
    expect(runWith([...RUN, '--stats-only', '--out', 'busy']).code).toBe(0);
    writeFileSync(join(busy, 'results.jsonl.lock'), JSON.stringify({ pid: process.pid, hostname: hostname(), started: new Date().toISOString() }));
    expectOneLineError(runWith([...RUN, '--slurm', '--out', 'busy'], slurm.env), /busy\/results\.jsonl is being written by another run \(pid \d+/);
    expect(existsSync(join(busy, 'slurm'))).toBe(false);
    expect(spawnSync('squeue', ['--noheader'], { env: slurm.env, encoding: 'utf8' }).stdout.trim()).toBe('');
  }, 120_000);

  it('held in the queue: --status says pending (the statistics job too); --resume refuses until it is cancelled', async () => {
    const held = runWith([...RUN, '--slurm', '--array', '3', '--sbatch-arg=--begin=now+600', '--out', 'held'], slurm.env);
    expect(held.code, held.stderr).toBe(0);
    const jobId = held.stdout.trim();
    const status = runWith(['images', 'forward-backward', '--status', 'held'], slurm.env);
    expect(status.stdout).toContain('held/results.jsonl: not written yet');
    expect(status.stdout).toMatch(/whitening statistics: job \d+ pending/);
    expect(status.stdout).toMatch(/0\/3\s+0\s+7\s+pending/);
    expect(status.stdout).toContain(`0/20 units in the shards; 20 units to do; job ${jobId} is still in the queue`);
    expectOneLineError(runWith([...RUN, '--slurm', '--array', '3', '--resume', '--out', 'held'], slurm.env), /cannot resume held\/slurm yet: job \d+ still has/);
    const record = JSON.parse(read(join(dir, 'held', 'slurm', 'job.json'))) as { jobs: string[]; prepareJobs: string[] };
    for (const job of [...record.jobs, ...record.prepareJobs]) spawnSync('scancel', [job], { env: slurm.env });
    for (const job of [...record.jobs, ...record.prepareJobs]) await untilQueueEmpty(job);
  }, 120_000);

  it('a task cancelled mid-run is named with its state and log; --resume --wait finishes it to the bytes of a local run', async () => {
    // 40 units of about a second (100 steps, one unit per model batch): long enough to cancel task 1 between units.
    const slow = RUN.map((a) => (a === '10' ? '100' : a === '3,10' ? '50,100' : a)).concat(['--batch-size', '2']);
    const out = join(dir, 'cancelled');
    const shard1 = join(out, 'results.shard-1-of-3.jsonl');
    const waiting = spawn(process.execPath, [BIN, ...slow, '--slurm', '--array', '3', '--wait', '--out', 'cancelled'], { cwd: dir, env: slurm.env });
    let stderr = '';
    waiting.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number>((r) => waiting.on('exit', (code) => r(code ?? -1)));
    const deadline = Date.now() + 180_000;
    while (unitLines(shard1) < 1 && Date.now() < deadline) await sleep(50);
    expect(unitLines(shard1)).toBeGreaterThanOrEqual(1);
    const running = runWith(['images', 'forward-backward', '--status', 'cancelled'], slurm.env);
    expect(running.stdout).toMatch(/1\/3\s+\d+\s+7\s+running/);
    const jobId = (JSON.parse(read(join(out, 'slurm', 'job.json'))) as { jobs: string[] }).jobs[0];
    const cancel = spawnSync('scancel', [`${jobId}_1`], { env: slurm.env, encoding: 'utf8' });
    expect(cancel.status, cancel.stderr).toBe(0);
    expect(await exited).toBe(1);
    const cancelledAt = unitLines(shard1);
    expect(cancelledAt).toBeLessThan(7);
    expect(stderr).toContain(`task ${jobId}_1 (shard 1/3) CANCELLED`);
    expect(stderr).toContain(`log: ${join('cancelled', 'slurm', 'logs', `slurm-${jobId}_1.out`)}`);
    expect(stderr).toContain('1 of 3 tasks did not finish');
    expect(existsSync(join(out, 'results.jsonl'))).toBe(false);
    const stopped = runWith(['images', 'forward-backward', '--status', 'cancelled'], slurm.env);
    expect(stopped.stdout).toMatch(new RegExp(`1/3\\s+${cancelledAt}\\s+7\\s+stopped`));

    const again = runWith([...slow, '--slurm', '--array', '3', '--resume', '--wait', '--out', 'cancelled'], slurm.env);
    expect(again.code, again.stderr).toBe(0);
    // The statistics were kept (no second statistics job); task 1 ran only its missing units.
    expect(again.stderr).not.toContain('whitening statistics)');
    const record = JSON.parse(read(join(out, 'slurm', 'job.json'))) as { jobs: string[]; prepareJobs: string[] };
    expect(record.jobs).toHaveLength(2);
    expect(record.prepareJobs).toHaveLength(1);
    expect(read(taskLogFile(join(out, 'slurm'), record.jobs[1], 1))).toContain(`(${cancelledAt} resumed)`);
    const local = runWith([...slow, '--out', 'cancelled local']);
    expect(local.code, local.stderr).toBe(0);
    expect(read(join(out, 'results.jsonl'))).toBe(read(join(dir, 'cancelled local', 'results.jsonl')));
  }, 600_000);
});
