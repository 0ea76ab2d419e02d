/**
 * `node --import tsx bench/ratio.ts [fast|fast32|reference] [rounds]`: the L12/L8 per-datum cost
 * ratio of issue 5's "linear in tokens" target (v32 m8 s2, whole runCell loop as in bench.ts:
 * ε = 0.7, K = 1, marginals off), on this thread. The bench's single timed run per
 * configuration varies by up to 2× on a shared VM; here L8 (4 096 data) and L12 (256 data) runs
 * alternate, each pair's rate ratio is taken, and the median (with min and max) is printed, along
 * with each configuration's best rate.
 */
import { resolveBackend, type BackendName } from '../src/bp/fast.ts';
import { runCell, type CellSpec } from '../src/experiment/forwardBackward.ts';
import { sampleRules } from '../src/grammar/sampleRules.ts';
import { linearSchedule } from '../src/noise/schedule.ts';

const backend = (process.argv[2] ?? 'fast') as BackendName;
const rounds = Number(process.argv[3] ?? 10);
const runs = (
  [
    [8, 4096],
    [12, 256],
  ] as const
).map(([L, samples]) => {
  const g = sampleRules({ vocab: 32, synonyms: 8, tuple: 2, depth: L }, 0);
  const cell: CellSpec = { grammarSeed: 0, depth: L, process: 'eps', noise: 0.7 };
  const options = { samples, trajectories: 1, schedule: linearSchedule(), marginals: false, correlations: false, backend: resolveBackend(backend) };
  runCell(g, cell, { ...options, samples: samples / 4 }); // warm-up: JIT and wasm tier-up
  return {
    L,
    run: (): number => {
      const t0 = performance.now();
      runCell(g, cell, options);
      return (samples / (performance.now() - t0)) * 1000;
    },
    best: 0,
  };
});
const ratios: number[] = [];
for (let r = 0; r < rounds; r++) {
  const rates = runs.map((x) => {
    const rate = x.run();
    x.best = Math.max(x.best, rate);
    return rate;
  });
  ratios.push(rates[0] / rates[1]);
}
ratios.sort((a, b) => a - b);
const median = ratios[Math.floor(ratios.length / 2)];
for (const x of runs) console.log(`v32 m8 s2 L${x.L} ${backend}: best ${x.best.toFixed(0)} samples/s`);
console.log(`L8/L12 rate ratio over ${rounds} alternating pairs: median ${median.toFixed(2)} (min ${ratios[0].toFixed(2)}, max ${ratios[ratios.length - 1].toFixed(2)}); target ≤ 16`);
