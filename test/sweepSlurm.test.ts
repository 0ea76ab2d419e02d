import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sweepCommand } from '../src/cli/commands/sweep.ts';
import { batchScript, checkSlurmArrayOptions, slurmFolder, taskLogFile } from '../src/sweep/slurm.ts';
import { shardFromEnvironment } from '../src/core/shard.ts';
import { BIN, runCli } from './helpers/cli.ts';
import { expectOneLineError } from './helpers/errors.ts';
import { slurmUnavailable, startSlurm, type SlurmCluster } from './helpers/slurm.ts';
import { sleep } from './helpers/sleep.ts';
import { tempDir } from './helpers/tempDir.ts';

// A space in every path: the batch script and the commands must quote it.
const dir = tempDir('hierdiff slurm-cli-');
const file = (name: string) => join(dir, name);
const read = (path: string) => readFileSync(path, 'utf8');
/** The TINY sweep run locally (once), to compare Slurm runs with. */
function localTiny(): string {
  const local = file('local.jsonl');
  if (!existsSync(local)) expect(runCli([...TINY, '--workers', '2', '--out', local]).code).toBe(0);
  return local;
}
const cellLines = (path: string) =>
  existsSync(path)
    ? read(path)
        .split('\n')
        .filter((l) => l.startsWith('{"type":"cell"')).length
    : 0;

/** v8 m2 s2, 2 seeds × 2 depths × (2 eps + 1 mask) = 12 cells of a few ms each. */
const TINY = ['sweep', '--vocab', '8', '--synonyms', '2', '--depth', '2,3', '--grammars', '2', '--samples', '30', '--trajectories', '3', '--noise-levels-eps', '0.3,0.6', '--noise-levels-mask', '0.2'];

/** Runs the real binary with an environment (Slurm's, or a job array task's). */
function runWith(args: string[], env: NodeJS.ProcessEnv, cwd = dir) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, env, encoding: 'utf8', timeout: 240_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

describe('sharding by the job array environment (--shard auto)', () => {
  it("reads Slurm task id and count, Kubernetes index with a count, and a given count over Slurm's", () => {
    expect(shardFromEnvironment({ SLURM_ARRAY_TASK_ID: '2', SLURM_ARRAY_TASK_COUNT: '3' }, null)).toEqual({ index: 2, count: 3 });
    expect(shardFromEnvironment({ JOB_COMPLETION_INDEX: '4' }, 5)).toEqual({ index: 4, count: 5 });
    // A hand-resubmitted `sbatch --array=1` has a task count of 1; the script's --shard-count keeps the sweep's.
    expect(shardFromEnvironment({ SLURM_ARRAY_TASK_ID: '1', SLURM_ARRAY_TASK_COUNT: '1' }, 3)).toEqual({ index: 1, count: 3 });
    expect(() => shardFromEnvironment({}, null)).toThrow(/--shard auto outside a job array/);
    expect(() => shardFromEnvironment({ JOB_COMPLETION_INDEX: '0' }, null)).toThrow(/--shard-count/);
    expect(() => shardFromEnvironment({ SLURM_ARRAY_TASK_ID: '3', SLURM_ARRAY_TASK_COUNT: '3' }, null)).toThrow(/SLURM_ARRAY_TASK_ID=3 of 3/);
    expect(() => shardFromEnvironment({ JOB_COMPLETION_INDEX: 'x' }, 2)).toThrow(/JOB_COMPLETION_INDEX=x/);
  });

  it('a shard run with --shard auto writes the same file as --shard i/N (Slurm and Kubernetes)', () => {
    const explicit = file('explicit.jsonl');
    expect(runCli([...TINY, '--workers', '1', '--shard', '1/3', '--out', explicit]).code).toBe(0);
    const slurm = file('auto-slurm.jsonl');
    const a = runWith([...TINY, '--workers', '1', '--shard', 'auto', '--out', slurm], { ...process.env, SLURM_ARRAY_TASK_ID: '1', SLURM_ARRAY_TASK_COUNT: '3' });
    expect(a.code, a.stderr).toBe(0);
    const k8s = file('auto-k8s.jsonl');
    const b = runWith([...TINY, '--workers', '1', '--shard', 'auto', '--shard-count', '3', '--out', k8s], { ...process.env, JOB_COMPLETION_INDEX: '1' });
    expect(b.code, b.stderr).toBe(0);
    expect(read(slurm)).toBe(read(explicit));
    expect(read(k8s)).toBe(read(explicit));
  });
});

describe('the batch script', () => {
  const input = {
    folder: '/data/run one.slurm',
    cwd: '/home/me/project',
    node: '/usr/bin/node',
    bin: '/opt/hierdiff/bin/hierdiff.js',
    sweepArgs: ['sweep', '--config', 'my sweep.json'],
    array: checkSlurmArrayOptions({ tasks: 4, cpusPerTask: 2, time: '1-02:00:00', partition: 'gpu', sbatchArgs: ['--mem=4G', '--account=abc'] }),
  };
  const script = batchScript(input);

  it('asks for the array, resources, logs and folder, and runs each shard with --resume', () => {
    const directives = script.split('\n').filter((l) => l.startsWith('#SBATCH '));
    expect(directives).toEqual([
      '#SBATCH --job-name=hierdiff-sweep',
      '#SBATCH --array=0-3',
      '#SBATCH --cpus-per-task=2',
      '#SBATCH --output="/data/run one.slurm/logs/slurm-%A_%a.out"',
      '#SBATCH --chdir=/home/me/project',
      '#SBATCH --time=1-02:00:00',
      '#SBATCH --partition=gpu',
      '#SBATCH --mem=4G',
      '#SBATCH --account=abc',
    ]);
    expect(script.startsWith('#!/bin/bash\n')).toBe(true);
    expect(script).toContain(
      `exec /usr/bin/node /opt/hierdiff/bin/hierdiff.js sweep --config 'my sweep.json' \\\n  --shard auto --shard-count 4 --resume --workers "\${SLURM_CPUS_PER_TASK:-1}" \\\n  --out '/data/run one.slurm/shard-'"\${SLURM_ARRAY_TASK_ID}".jsonl\n`,
    );
    expect(script).toContain(`#   hierdiff merge '/data/run one.slurm/shard-'*.jsonl --out '/data/run one.jsonl'`);
  });

  it('runs in bash with the task variables filled in (the command it execs)', () => {
    // Replace exec with echo of each argument on its own line, then run it as task 2.
    const r = spawnSync('bash', ['-c', script.replace('exec ', 'printf "%s\\n" ')], { encoding: 'utf8', env: { ...process.env, SLURM_ARRAY_TASK_ID: '2', SLURM_CPUS_PER_TASK: '2' } });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual([
      '/usr/bin/node',
      '/opt/hierdiff/bin/hierdiff.js',
      'sweep',
      '--config',
      'my sweep.json',
      '--shard',
      'auto',
      '--shard-count',
      '4',
      '--resume',
      '--workers',
      '2',
      '--out',
      '/data/run one.slurm/shard-2.jsonl',
    ]);
  });

  it('a path with a double quote cannot go into an #SBATCH line: one clear error', () => {
    expect(() => batchScript({ ...input, cwd: '/home/"me"' })).toThrow(/invalid path "\/home\/"me"" for a Slurm batch script/);
  });

  it('the folder sits beside the results file', () => {
    expect(slurmFolder('/a/results.jsonl')).toBe('/a/results.slurm');
    expect(slurmFolder('/a/out')).toBe('/a/out.slurm');
  });

  it('the recorded command leaves out the Slurm options, so tasks and a local run record the same', () => {
    const argv = [
      'node',
      'hierdiff',
      'sweep',
      '--slurm',
      '--array',
      '3',
      '--cpus-per-task=2',
      '--time',
      '10',
      '--partition',
      'p',
      '--sbatch-arg=--mem=1G',
      '--sbatch-arg',
      '--qos=x',
      '--wait',
      '--shard',
      'auto',
      '--shard-count',
      '3',
      '--samples',
      '30',
    ];
    expect(sweepCommand(argv)).toBe('hierdiff sweep --samples 30');
  });
});

describe('bad Slurm options: one line, exit 2, nothing written', () => {
  const cases: [string, string[], RegExp][] = [
    ['array without --slurm', ['--array', '3'], /^hierdiff: invalid --array without --slurm$/],
    ['wait without --slurm', ['--wait'], /invalid --wait without --slurm/],
    ['workers with --slurm', ['--slurm', '--workers', '2'], /invalid --workers with --slurm/],
    ['shard with --slurm', ['--slurm', '--shard', '0/2'], /invalid --shard with --slurm/],
    ['more tasks than cells', ['--slurm', '--array', '13'], /invalid --array "13" \(expected an integer in \[1, 12\]\)/],
    ['no tasks', ['--slurm', '--array', '0'], /invalid --array "0"/],
    ['cpus', ['--slurm', '--cpus-per-task', '0'], /invalid --cpus-per-task "0"/],
    ['time', ['--slurm', '--time', '2 hours'], /invalid --time "2 hours"/],
    ['partition', ['--slurm', '--partition', 'a;rm -rf'], /invalid --partition/],
    ['sbatch arg', ['--slurm', '--sbatch-arg', 'mem=4G'], /invalid --sbatch-arg "mem=4G"/],
    ['shard-count without auto', ['--shard-count', '3'], /invalid --shard-count without --shard auto/],
    ['auto outside an array', ['--shard', 'auto'], /--shard auto outside a job array/],
    ['status with other options', ['--status', 'x.jsonl'], /^hierdiff: invalid --[a-z-]+ with --status \(--status only reads the files of a sweep\)$/],
  ];
  it.each(cases)('%s', (_name, extra, message) => {
    const out = file('bad.jsonl');
    const env = { ...process.env, SLURM_ARRAY_TASK_ID: undefined, JOB_COMPLETION_INDEX: undefined };
    const r = runWith([...TINY, ...extra, '--out', out], env);
    expectOneLineError(r, message);
    expect(existsSync(out)).toBe(false);
    expect(existsSync(slurmFolder(out))).toBe(false);
  });

  it('no sbatch on PATH: one line naming it, and no Slurm folder left', () => {
    const out = file('nosbatch.jsonl');
    const r = runWith([...TINY, '--slurm', '--out', out], { ...process.env, PATH: '/nonexistent' });
    expectOneLineError(r, /sbatch not found/);
    expect(existsSync(slurmFolder(out))).toBe(false);
  });

  it('--status of a sweep that has neither a results file nor a Slurm folder', () => {
    expectOneLineError(runCli(['sweep', '--status', file('none.jsonl')]), /invalid --status .*none\.jsonl \(neither the results file nor its Slurm folder/);
  });
});

// Against a real Slurm: a single-node cluster of this machine (test/helpers/slurm.ts).
const unavailable = slurmUnavailable();
if (unavailable) console.warn(`SKIPPED: the Slurm tests need a single-node Slurm, which cannot start here: ${unavailable}`);

// .ci/run installs Slurm and sets this: there the tests must run.
it.runIf(process.env.HIERDIFF_REQUIRE_SLURM === '1')('Slurm can be started here (HIERDIFF_REQUIRE_SLURM=1)', () => {
  expect(unavailable).toBeNull();
});

describe.skipIf(unavailable !== null)('sweeps on a real Slurm (single node, started for these tests)', () => {
  let slurm: SlurmCluster;
  const untilQueueEmpty = async (jobId: string) => {
    const deadline = Date.now() + 120_000;
    while (spawnSync('squeue', ['--noheader', '--jobs', jobId], { env: slurm.env, encoding: 'utf8' }).stdout.trim() !== '' && Date.now() < deadline) await sleep(200);
  };
  beforeAll(async () => {
    slurm = await startSlurm();
  }, 60_000);
  afterAll(() => slurm?.stop());

  it('a 3-task array with --wait merges into the bytes of a local run; --status says it is complete', () => {
    const local = localTiny();
    const out = file('slurm.jsonl');
    const r = runWith([...TINY, '--slurm', '--array', '3', '--wait', '--out', out], slurm.env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/submitted job array \d+ \(3 tasks, 12 cells\)/);
    expect(r.stderr).toMatch(/12 cells from 3 Slurm tasks/);
    expect(r.stdout).toContain('P0');
    expect(read(out)).toBe(read(local));
    const folder = slurmFolder(out);
    expect(readdirSync(folder).sort()).toEqual(['job.json', 'logs', 'shard-0.jsonl', 'shard-1.jsonl', 'shard-2.jsonl', 'sweep.sbatch']);
    expect(readdirSync(join(folder, 'logs'))).toHaveLength(3);
    const status = runWith(['sweep', '--status', out], slurm.env);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toContain(`${out}: 12/12 cells (complete)`);
    expect(status.stdout).toMatch(/2\/3\s+4\s+4\s+done/);
    expect(status.stdout).toContain(`12/12 cells in the shards; merged into ${out}`);
  }, 240_000);

  it('without --wait: prints the job id; --overwrite and --resume refuse while tasks are queued; hierdiff merge joins the shards', async () => {
    const local = localTiny();
    const out = file('slurm.jsonl');
    const folder = slurmFolder(out);
    // Held in the queue for 10 minutes by --begin: a queued array, for as long as the test needs.
    const held = runWith([...TINY, '--slurm', '--array', '3', '--overwrite', '--sbatch-arg=--begin=now+600', '--out', out], slurm.env);
    expect(held.code, held.stderr).toBe(0);
    const jobId = held.stdout.trim();
    expect(jobId).toMatch(/^\d+$/);
    expect(read(join(folder, 'sweep.sbatch'))).toContain('#SBATCH --begin=now+600');
    expect(existsSync(out)).toBe(false);
    const status = runWith(['sweep', '--status', out], slurm.env);
    expect(status.stdout).toMatch(/0\/3\s+0\s+4\s+pending/);
    expect(status.stdout).toContain(`0/12 cells in the shards; 12 cells to do; job ${jobId} is still in the queue`);
    for (const flag of ['--resume', '--overwrite']) {
      expectOneLineError(
        runWith([...TINY, '--slurm', '--array', '3', flag, '--out', out], slurm.env),
        new RegExp(`cannot ${flag.slice(2)} .*slurm\\.slurm yet: job ${jobId} still has 3 tasks in the queue`),
      );
    }
    expect(spawnSync('scancel', [jobId], { env: slurm.env }).status).toBe(0);
    await untilQueueEmpty(jobId);
    const resumed = runWith([...TINY, '--slurm', '--array', '3', '--resume', '--out', out], slurm.env);
    expect(resumed.code, resumed.stderr).toBe(0);
    await untilQueueEmpty(resumed.stdout.trim());
    const done = runWith(['sweep', '--status', out], slurm.env);
    expect(done.stdout).toContain(`12/12 cells in the shards; all shards done; merge them: hierdiff merge slurm.slurm/shard-*.jsonl --out '${out}'`);
    const merged = runCli(['merge', ...[0, 1, 2].map((i) => join(folder, `shard-${i}.jsonl`)), '--out', out]);
    expect(merged.code, merged.stderr).toBe(0);
    expect(read(out)).toBe(read(local));
  }, 240_000);

  it('a task cancelled mid-run is reported with its log; resubmitting with --resume finishes only it, and the result equals a local run', async () => {
    // 12 cells of about half a second each, 4 per task: long enough to cancel task 1 between cells.
    const args = ['sweep', '--vocab', '16', '--synonyms', '4', '--depth', '7', '--samples', '12000', '--trajectories', '2', '--process', 'eps,mask', '--noise-levels', '0.1:0.9:6'];
    const out = file('cancelled.jsonl');
    const folder = slurmFolder(out);
    const waiting = spawn(process.execPath, [BIN, ...args, '--slurm', '--array', '3', '--wait', '--out', out], { cwd: dir, env: slurm.env });
    let stderr = '';
    waiting.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number>((r) => waiting.on('exit', (code) => r(code ?? -1)));
    // The job id is in job.json once submitted; cancel task 1 once it has written a cell.
    const shard1 = join(folder, 'shard-1.jsonl');
    const deadline = Date.now() + 120_000;
    while (cellLines(shard1) < 1 && Date.now() < deadline) await sleep(50);
    const before = cellLines(shard1);
    expect(before).toBeGreaterThanOrEqual(1);
    expect(before).toBeLessThan(4);
    const jobId = (JSON.parse(read(join(folder, 'job.json'))) as { jobs: string[] }).jobs[0];
    const cancel = spawnSync('scancel', [`${jobId}_1`], { env: slurm.env, encoding: 'utf8' });
    expect(cancel.status, cancel.stderr).toBe(0);
    expect(await exited).toBe(1);
    const cancelledAt = cellLines(shard1);
    expect(cancelledAt).toBeLessThan(4);
    expect(stderr).toContain(`task ${jobId}_1 (shard 1/3) CANCELLED`);
    expect(stderr).toContain(`log: ${join('cancelled.slurm', 'logs', `slurm-${jobId}_1.out`)}`);
    expect(stderr).toContain('1 of 3 tasks did not finish');
    expect(existsSync(out)).toBe(false);
    const status = runWith(['sweep', '--status', out], slurm.env);
    expect(status.stdout).toContain(`${out}: not written yet`);
    expect(status.stdout).toMatch(new RegExp(`1/3\\s+${cancelledAt}\\s+4\\s+stopped`));

    const again = runWith([...args, '--slurm', '--array', '3', '--resume', '--wait', '--out', out], slurm.env);
    expect(again.code, again.stderr).toBe(0);
    // The resubmitted tasks 0 and 2 found their shards done; task 1 ran only its missing cells.
    const record = JSON.parse(read(join(folder, 'job.json'))) as { jobs: string[] };
    expect(record.jobs).toHaveLength(2);
    expect(read(taskLogFile(folder, record.jobs[1], 1))).toContain(`${cancelledAt} found finished`);
    expect(read(taskLogFile(folder, record.jobs[1], 0))).toContain('4 found finished');
    const local = file('cancelled-local.jsonl');
    expect(runCli([...args, '--workers', '2', '--out', local]).code).toBe(0);
    expect(read(out)).toBe(read(local));
  }, 400_000);
});
