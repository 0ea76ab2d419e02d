import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ParamError } from '../src/core/errors.ts';
import { grammarToJson } from '../src/grammar/serialize.ts';
import { sampleRules } from '../src/grammar/sampleRules.ts';
import {
  cellKey,
  mergeSweepFiles,
  parseShard,
  readSweepFile,
  runSweep,
  runSweepTask,
  shardCells,
  sweepCells,
  validateSweepConfig,
  type SweepConfigInput,
  type SweepProgress,
} from '../src/sweep/index.ts';
import { tempDir } from './helpers/tempDir.ts';

const dir = tempDir('hierdiff-sweep-');
const file = (name: string) => join(dir, name);
const read = (path: string) => readFileSync(path, 'utf8');

/** Tiny grammars (v8 m2 s2) so each cell takes milliseconds: 2 seeds × 2 depths × 3 levels = 12 cells. */
const CONFIG: SweepConfigInput = {
  vocab: 8,
  synonyms: 2,
  tuple: 2,
  grammars: 2,
  depths: [2, 3],
  noiseLevels: { eps: [0.3, 0.6], mask: [0.2] },
  samples: 30,
  samplesByDepth: { 3: 20 },
  trajectories: 3,
};
const COMMAND = 'hierdiff sweep (test)';

describe('sweep config and cells', () => {
  it('normalises a config and is idempotent', () => {
    const c = validateSweepConfig(CONFIG);
    expect(c.classes).toBe(8);
    expect(c.processes).toEqual(['eps', 'mask']);
    expect(c.samplesByDepth).toEqual({ '3': 20 });
    expect(validateSweepConfig(JSON.parse(JSON.stringify(c)))).toEqual(c);
  });

  it('rejects bad configs with a ParamError naming the field', () => {
    const bad = (patch: Record<string, unknown>, field: string) => {
      let error: unknown;
      try {
        validateSweepConfig({ ...CONFIG, ...patch });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ParamError);
      expect((error as ParamError).param).toBe(field);
    };
    bad({ samples: 0 }, 'samples');
    bad({ noiseLevels: { eps: [0.3, 1.5] } }, 'noiseLevels');
    bad({ noiseLevels: { eps: [0.3, 0.3] } }, 'noiseLevels');
    bad({ noiseLevels: { eps: [0.3] }, processes: ['eps', 'mask'] }, 'noiseLevels');
    bad({ noiseLevels: { gauss: [0.3] } }, 'noiseLevels');
    bad({ samplesByDepth: { 5: 10 } }, 'samplesByDepth');
    bad({ synonyms: 9 }, 'synonyms');
    bad({ colour: 'red' }, 'colour');
    bad({ schedule: 'quadratic' }, 'schedule');
  });

  it('expands grids written as text like the CLI does', () => {
    const c = validateSweepConfig({ ...CONFIG, noiseLevels: { eps: '0.5:0.9:9', mask: '0.2,0.25' } });
    expect(c.noiseLevels.eps).toEqual([0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9]);
    expect(c.noiseLevels.mask).toEqual([0.2, 0.25]);
    expect(() => validateSweepConfig({ ...CONFIG, noiseLevels: { eps: '0.5:0.9' } })).toThrow(/noiseLevels: eps: "0.5:0.9"/);
  });

  it('accepts the config file shown in docs/sweeps.md', () => {
    const doc = readFileSync(new URL('../docs/sweeps.md', import.meta.url), 'utf8');
    const block = /The same sweep as a file[\s\S]*?```json\n([\s\S]*?)```/.exec(doc);
    expect(block).not.toBeNull();
    const c = validateSweepConfig(JSON.parse(block![1]));
    expect(sweepCells(c)).toHaveLength(6 * 4 * (9 + 5));
    expect(sweepCells(c).filter((x) => x.depth === 8)[0].samples).toBe(600);
  });

  it('takes parameters and depth from a saved grammar', () => {
    const g = sampleRules({ vocab: 8, synonyms: 2, tuple: 2, depth: 2 }, 5);
    const c = validateSweepConfig({ noiseLevels: { eps: [0.5] }, samples: 10, grammar: grammarToJson(g) });
    expect(c.depths).toEqual([2]);
    expect(c.vocab).toBe(8);
    expect(() => validateSweepConfig({ noiseLevels: { eps: [0.5] }, samples: 10, grammar: grammarToJson(g), depths: [3] })).toThrow(ParamError);
  });

  it('lists cells in canonical order with stable keys, per-process grids and per-depth samples', () => {
    const cells = sweepCells(validateSweepConfig(CONFIG));
    expect(cells).toHaveLength(12);
    expect(cells.slice(0, 4).map((c) => c.key)).toEqual(['s0/L2/eps/0.3', 's0/L2/eps/0.6', 's0/L2/mask/0.2', 's0/L3/eps/0.3']);
    expect(cells[3].samples).toBe(20);
    expect(cells.map((c) => c.index)).toEqual(cells.map((_, i) => i));
    expect(cellKey({ grammarSeed: 1, depth: 8, process: 'gaussian', noise: 0.125 })).toBe('s1/L8/gaussian/0.125');
  });

  it('shards round-robin into disjoint covering subsets; parses i/N', () => {
    const cells = sweepCells(validateSweepConfig(CONFIG));
    const shards = [0, 1, 2].map((index) => shardCells(cells, { index, count: 3 }).map((c) => c.index));
    expect(shards[1]).toEqual([1, 4, 7, 10]);
    expect(shards.flat().sort((a, b) => a - b)).toEqual(cells.map((c) => c.index));
    expect(parseShard('2/3')).toEqual({ index: 2, count: 3 });
    for (const bad of ['3/2', '2/2', '1/0', '-1/2', 'a/b', '1']) expect(() => parseShard(bad)).toThrow(ParamError);
  });
});

describe('runSweep', () => {
  let whole = '';

  it('writes identical bytes on 1 and 2 workers, and reports progress', async () => {
    const progress: SweepProgress[] = [];
    const one = await runSweep(CONFIG, { out: file('w1.jsonl'), workers: 1, command: COMMAND, onProgress: (p) => progress.push(p) });
    await runSweep(CONFIG, { out: file('w2.jsonl'), workers: 2, command: COMMAND });
    whole = read(file('w1.jsonl'));
    expect(read(file('w2.jsonl'))).toBe(whole);
    const lines = whole.trimEnd().split('\n');
    expect(lines).toHaveLength(13);
    const header = JSON.parse(lines[0]);
    expect(header).toMatchObject({ type: 'header', run: { tool: 'hierdiff', command: COMMAND }, cells: 12, shard: null });
    expect(lines.slice(1).map((l) => JSON.parse(l).key)).toEqual(sweepCells(validateSweepConfig(CONFIG)).map((c) => c.key));
    expect(one.cells.map(cellKey)).toEqual(lines.slice(1).map((l) => JSON.parse(l).key));
    const last = progress[progress.length - 1];
    expect(last).toMatchObject({ cellsDone: 12, cellsTotal: 12, samplesDone: 2 * (3 * 30 + 3 * 20), samplesTotal: 300 });
    expect(progress[0].lastKey).toBeNull();
    expect(progress.length).toBe(13);
    // A worker's cell equals the same cell run on this thread: nothing depends on who runs it.
    const config = validateSweepConfig(CONFIG);
    const cell = sweepCells(config)[4];
    expect(runSweepTask({ config, cell: { grammarSeed: cell.grammarSeed, depth: cell.depth, process: cell.process, noise: cell.noise }, samples: cell.samples })).toEqual(one.cells[4]);
  });

  it('refuses an existing file without resume or overwrite, and leaves it alone', async () => {
    await expect(runSweep(CONFIG, { out: file('w1.jsonl'), workers: 1, command: COMMAND })).rejects.toThrow(/already exists/);
    expect(read(file('w1.jsonl'))).toBe(whole);
  });

  it('three shards merged equal the whole run byte for byte', async () => {
    const paths = [0, 1, 2].map((i) => file(`shard${i}.jsonl`));
    for (const [i, path] of paths.entries()) {
      const r = await runSweep(CONFIG, { out: path, workers: 1, shard: `${i}/3`, command: COMMAND });
      expect(r.cells).toHaveLength(4);
      expect(JSON.parse(read(path).split('\n')[0])).toMatchObject({ cells: 4, shard: { index: i, count: 3 } });
    }
    // Input order does not matter.
    const merged = mergeSweepFiles([paths[2], paths[0], paths[1]], file('merged.jsonl'));
    expect(read(file('merged.jsonl'))).toBe(whole);
    expect(merged.cells).toHaveLength(12);
    expect(readSweepFile(file('merged.jsonl')).cells).toEqual(merged.cells);
  });

  it('merge detects missing and doubled cells and different sweeps, and writes nothing then', () => {
    const paths = [0, 1, 2].map((i) => file(`shard${i}.jsonl`));
    const out = file('bad-merge.jsonl');
    expect(() => mergeSweepFiles([paths[0], paths[2]], out)).toThrow(/4 of 12 cells missing.*shard 1\/3 was not given/);
    expect(() => mergeSweepFiles([paths[0], paths[1], paths[2], paths[1]], out)).toThrow(/appears twice/);
    expect(() => mergeSweepFiles([file('w1.jsonl'), paths[0]], out)).toThrow(/appears twice/);
    // A shard that lost its last cell line.
    const cut = read(paths[1]).trimEnd().split('\n').slice(0, -1).join('\n') + '\n';
    writeFileSync(file('shard1-cut.jsonl'), cut);
    expect(() => mergeSweepFiles([paths[0], file('shard1-cut.jsonl'), paths[2]], out)).toThrow(/1 of 12 cells missing.*shard 1\/3\) is unfinished/);
    expect(() => readSweepFile(file('shard1-cut.jsonl'))).toThrow(/1 of 4 cells missing/);
    expect(readSweepFile(file('shard1-cut.jsonl'), { partial: true }).cells).toHaveLength(3);
    // Another sweep (different samples).
    const otherHeader = JSON.parse(read(paths[1]).split('\n')[0]);
    otherHeader.config.samples = 31;
    writeFileSync(file('other.jsonl'), `${JSON.stringify(otherHeader)}\n`);
    expect(() => mergeSweepFiles([paths[0], file('other.jsonl'), paths[2]], out)).toThrow(/different sweeps \(config differs \(samples: 30 vs 31\)\)/);
    expect(existsSync(out)).toBe(false);
  });

  it('resume drops a half-written last line, skips finished cells and ends byte-identical', async () => {
    const lines = whole.trimEnd().split('\n');
    // Crash state: cells written in completion order (not canonical), then a cut-off write.
    const partial = [lines[0], lines[5], lines[2], lines[9]].join('\n') + '\n' + lines[7].slice(0, 40);
    writeFileSync(file('resume.jsonl'), partial);
    expect(() => readSweepFile(file('resume.jsonl'))).toThrow(/half-written/);
    const progress: SweepProgress[] = [];
    const r = await runSweep(CONFIG, { out: file('resume.jsonl'), workers: 2, resume: true, command: 'a different command', onProgress: (p) => progress.push(p) });
    expect(r.resumed).toBe(3);
    expect(progress[0]).toMatchObject({ cellsDone: 3, cellsResumed: 3 });
    expect(progress).toHaveLength(1 + 9);
    // The header is the one the file started with, so the command recorded stays the first one.
    expect(read(file('resume.jsonl'))).toBe(whole);
    // Resuming a finished file runs nothing and changes nothing.
    const again = await runSweep(CONFIG, { out: file('resume.jsonl'), workers: 1, resume: true, command: COMMAND });
    expect(again.resumed).toBe(12);
    expect(read(file('resume.jsonl'))).toBe(whole);
  });

  it('resume of a missing file starts afresh; resume of another sweep or shard is refused untouched', async () => {
    const r = await runSweep({ ...CONFIG, grammars: 1, depths: [2], samplesByDepth: {} }, { out: file('fresh.jsonl'), workers: 1, resume: true, command: COMMAND });
    expect(r.resumed).toBe(0);
    expect(r.cells).toHaveLength(3);
    const before = read(file('w1.jsonl'));
    await expect(runSweep({ ...CONFIG, samples: 31 }, { out: file('w1.jsonl'), workers: 1, resume: true })).rejects.toThrow(/different sweep \(config differs \(samples: 30 vs 31\)\)/);
    await expect(runSweep(CONFIG, { out: file('w1.jsonl'), workers: 1, resume: true, shard: '0/2' })).rejects.toThrow(/holds the whole sweep, not shard 0\/2/);
    expect(read(file('w1.jsonl'))).toBe(before);
  });

  it('rejects a corrupt file instead of guessing', async () => {
    const lines = whole.trimEnd().split('\n');
    writeFileSync(file('dup.jsonl'), [lines[0], lines[1], lines[2], lines[1]].join('\n') + '\n');
    // An exact duplicate is refused by readers (with the repair hint) and repaired by --resume; a conflicting one is refused.
    expect(() => readSweepFile(file('dup.jsonl'))).toThrow(/appears twice \(lines 2 and 4\).*--resume/);
    const conflicting = JSON.parse(lines[1]);
    conflicting.stats.classMarginal.sum += 1;
    writeFileSync(file('dup2.jsonl'), [lines[0], lines[1], lines[2], JSON.stringify(conflicting)].join('\n') + '\n');
    await expect(runSweep(CONFIG, { out: file('dup2.jsonl'), workers: 1, resume: true })).rejects.toThrow(/appears twice with different stats/);
    writeFileSync(file('garbage.jsonl'), [lines[0], '{"type":"cell"', lines[2]].join('\n') + '\n');
    expect(() => readSweepFile(file('garbage.jsonl'))).toThrow(/line 2 is not JSON/);
    const wrong = JSON.parse(lines[1]);
    wrong.stats.samples = 29;
    writeFileSync(file('wrong.jsonl'), [lines[0], JSON.stringify(wrong)].join('\n') + '\n');
    expect(() => readSweepFile(file('wrong.jsonl'), { partial: true })).toThrow(/has 29 samples/);
    appendFileSync(file('empty.jsonl'), '');
    expect(() => readSweepFile(file('empty.jsonl'))).toThrow(/no complete header/);
  });

  it('validates workers and shard before writing anything', async () => {
    await expect(runSweep(CONFIG, { out: file('none.jsonl'), workers: 0 })).rejects.toThrow(ParamError);
    await expect(runSweep(CONFIG, { out: file('none.jsonl'), shard: '3/2' })).rejects.toThrow(/invalid --shard "3\/2"/);
    await expect(runSweep({ ...CONFIG, samples: -1 }, { out: file('none.jsonl') })).rejects.toThrow(ParamError);
    expect(existsSync(file('none.jsonl'))).toBe(false);
  });
});
