/**
 * Progress when stderr is not a terminal (a log file, a Slurm task's log): plain lines, at most one
 * every HIERDIFF_PROGRESS_EVERY seconds (30 by default), none for a run shorter than that.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROGRESS_LOG_ENV, progressLogSeconds, throttledLines } from '../src/cli/progress.ts';
import { BIN } from './helpers/cli.ts';
import { tempDir } from './helpers/tempDir.ts';

const dir = tempDir('hierdiff-progress-log-');

describe('progress lines in a log', () => {
  it('throttledLines: nothing before the interval, then at most one line per interval, built only when written', () => {
    let clock = 1000;
    const written: string[] = [];
    let built = 0;
    const say = throttledLines(
      30_000,
      (t) => written.push(t),
      () => clock,
    );
    const line = (n: number) => () => {
      built++;
      return `line ${n}`;
    };
    say(line(1));
    clock += 29_999;
    say(line(2));
    clock += 1;
    say(line(3));
    clock += 10_000;
    say(line(4));
    clock += 20_000;
    say(line(5));
    expect(written).toEqual(['line 3\n', 'line 5\n']);
    expect(built).toBe(2);
  });

  it('HIERDIFF_PROGRESS_EVERY: seconds ≥ 0, anything else the default 30', () => {
    expect(progressLogSeconds({})).toBe(30);
    expect(progressLogSeconds({ [PROGRESS_LOG_ENV]: '0' })).toBe(0);
    expect(progressLogSeconds({ [PROGRESS_LOG_ENV]: ' 5.5 ' })).toBe(5.5);
    for (const bad of ['', '-1', 'x', 'Infinity']) expect(progressLogSeconds({ [PROGRESS_LOG_ENV]: bad })).toBe(30);
  });

  const train = (env: Record<string, string>) =>
    spawnSync(
      process.execPath,
      [BIN, 'train', '--steps', '6', '--width', '8', '--threads', '1', '--train-size', '64', '--test-size', '16', '--checkpoint-every', '1000', '--out', join(dir, `run-${Object.keys(env).length}`)],
      { encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...env } },
    );

  it('a training run logs its steps as plain lines (no bar codes), and nothing at the default interval when short', () => {
    const every = train({ [PROGRESS_LOG_ENV]: '0' });
    expect(every.status, every.stderr).toBe(0);
    const lines = every.stderr.split('\n').filter((l) => l.startsWith('train: step '));
    expect(lines.length).toBe(6);
    expect(lines[5]).toMatch(/^train: step 6\/6 \(100%\), [\d.]+ steps\/s, loss [\d.e+-]+, ETA 0s$/);
    expect(every.stderr).not.toMatch(/\u001b|\r/);
    const quiet = train({});
    expect(quiet.status, quiet.stderr).toBe(0);
    expect(quiet.stderr).not.toMatch(/train: step /);
  }, 240_000);
});
