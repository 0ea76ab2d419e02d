import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sweepCommand } from '../src/cli/commands/sweep.ts';
import { BIN, runCli } from './helpers/cli.ts';
import { expectOneLineError } from './helpers/errors.ts';
import { sleep } from './helpers/sleep.ts';
import { tempDir } from './helpers/tempDir.ts';

const dir = tempDir('hierdiff-sweep-cli-');
const file = (name: string) => join(dir, name);
const read = (path: string) => readFileSync(path, 'utf8');
const lineCount = (path: string) => (existsSync(path) ? read(path).split('\n').length - 1 : 0);

/** v8 m2 s2, 2 seeds × 2 depths × (2 eps + 1 mask) = 12 cells of a few ms each. */
const TINY = ['sweep', '--vocab', '8', '--synonyms', '2', '--depth', '2,3', '--grammars', '2', '--samples', '30', '--trajectories', '3', '--noise-levels-eps', '0.3,0.6', '--noise-levels-mask', '0.2'];

describe('recorded command', () => {
  it('leaves out the options that do not change results, in both spellings', () => {
    const argv = ['node', 'hierdiff', 'sweep', '--workers=1', '--samples', '30', '--resume', '--shard', '0/2', '--out', 'a b.jsonl', '--overwrite', '--out=x', '--workers', '4', '--depth', '2'];
    expect(sweepCommand(argv)).toBe('hierdiff sweep --samples 30 --depth 2');
  });
});

describe('hierdiff sweep and merge (real binary)', () => {
  it('a sweep killed mid-way and resumed writes the same file as an uninterrupted run', async () => {
    // 16 cells of v8 m2 s2 L4 with 1500 data each: long enough to be killed after a few cells.
    const args = ['sweep', '--vocab', '8', '--synonyms', '2', '--depth', '4', '--samples', '1500', '--trajectories', '2', '--process', 'eps,mask', '--noise-levels', '0.1:0.9:8'];
    const killed = file('killed.jsonl');
    const child = spawn(process.execPath, [BIN, ...args, '--workers', '1', '--out', killed], { stdio: 'ignore' });
    let exited = false;
    child.on('exit', () => (exited = true));
    const deadline = Date.now() + 60_000;
    while (lineCount(killed) < 3 && !exited && Date.now() < deadline) await sleep(5);
    child.kill('SIGKILL');
    await new Promise((r) => (exited ? r(null) : child.on('exit', r)));
    const written = lineCount(killed);
    // Killed with the header and 2+ cells written, but not all 16.
    expect(written).toBeGreaterThanOrEqual(3);
    expect(written).toBeLessThan(17);
    // And as if the kill had landed in the middle of a write.
    const lastLine = read(killed).trimEnd().split('\n').at(-1)!;
    appendFileSync(killed, lastLine.replace(/"key":"[^"]*"/, '"key":"s0/L4/mask/0.9"').slice(0, 60));

    const resumed = runCli([...args, '--workers', '2', '--resume', '--out', killed]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain(`${written - 1} found finished`);
    const full = file('full.jsonl');
    const whole = runCli([...args, '--workers', '2', '--out', full]);
    expect(whole.code, whole.stderr).toBe(0);
    expect(read(killed)).toBe(read(full));
    expect(lineCount(full)).toBe(17);
  });

  it('a whole run and 2 shards merged give the same bytes; merge prints the summary', () => {
    const whole = file('whole.jsonl');
    expect(runCli([...TINY, '--workers', '2', '--out', whole]).code).toBe(0);
    const header = JSON.parse(read(whole).split('\n')[0]);
    expect(header.run.command).toBe(`hierdiff ${TINY.join(' ')}`);
    for (const i of [0, 1]) expect(runCli([...TINY, '--shard', `${i}/2`, '--workers', '1', '--out', file(`s${i}.jsonl`)]).code).toBe(0);
    const m = runCli(['merge', file('s1.jsonl'), file('s0.jsonl'), '--out', file('merged.jsonl')]);
    expect(m.code, m.stderr).toBe(0);
    expect(m.stdout).toMatch(/L\s+process\s+noise\s+P0/);
    expect(m.stdout).toContain('mask');
    expect(read(file('merged.jsonl'))).toBe(read(whole));
  });

  it('merge reports missing and doubled cells in one line, exit 2, no output file', () => {
    expectOneLineError(runCli(['merge', file('s0.jsonl'), '--out', file('m-missing.jsonl')]), /6 of 12 cells missing.*shard 1\/2 was not given/);
    expectOneLineError(runCli(['merge', file('s0.jsonl'), file('s1.jsonl'), file('s0.jsonl'), '--out', file('m-double.jsonl')]), /appears twice/);
    expect(existsSync(file('m-missing.jsonl')) || existsSync(file('m-double.jsonl'))).toBe(false);
  });

  it('bad inputs give one line and exit 2 and leave no new file behind', () => {
    const bad = join(dir, 'bad');
    rmSync(bad, { recursive: true, force: true });
    const out = join(bad, 'r.jsonl');
    expectOneLineError(runCli([...TINY, '--shard', '3/2', '--out', out]), /invalid --shard "3\/2"/);
    expectOneLineError(runCli([...TINY, '--workers', '0', '--out', out]), /invalid --workers "0"/);
    expectOneLineError(runCli([...TINY, '--config', file('none.json'), '--out', out]), /invalid --vocab with --config/);
    expect(existsSync(bad)).toBe(false);
    // Resume of a file that holds another sweep: refused, the file untouched, nothing else written.
    const before = read(file('whole.jsonl'));
    const entries = readdirSync(dir).sort();
    const other = TINY.map((a) => (a === '30' ? '31' : a));
    expectOneLineError(runCli([...other, '--resume', '--out', file('whole.jsonl')]), /cannot resume .*whole\.jsonl: it holds a different sweep \(config differs \(samples: 30 vs 31\)\)/);
    expect(read(file('whole.jsonl'))).toBe(before);
    expect(readdirSync(dir).sort()).toEqual(entries);
  });

  it('--config FILE runs the same cells as the equivalent options', () => {
    const config = {
      vocab: 8,
      synonyms: 2,
      depths: [2, 3],
      grammars: 2,
      samples: 30,
      trajectories: 3,
      noiseLevels: { eps: '0.3:0.6:2', mask: [0.2] },
    };
    writeFileSync(file('config.json'), JSON.stringify(config));
    const r = runCli(['sweep', '--config', file('config.json'), '--workers', '2', '--out', file('from-config.jsonl')]);
    expect(r.code, r.stderr).toBe(0);
    const [h1, ...cells1] = read(file('from-config.jsonl')).split('\n');
    const [h2, ...cells2] = read(file('whole.jsonl')).split('\n');
    expect(JSON.parse(h1).config).toEqual(JSON.parse(h2).config);
    expect(cells1).toEqual(cells2);
    writeFileSync(file('bad-config.json'), JSON.stringify({ ...config, samples: 0 }));
    expectOneLineError(runCli(['sweep', '--config', file('bad-config.json'), '--out', file('bad-config.jsonl')]), /invalid sweep config samples: 0/);
    expect(existsSync(file('bad-config.jsonl'))).toBe(false);
  });
});
