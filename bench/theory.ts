/**
 * `npm run bench:theory`: wall time of population dynamics at v32 m8 s2, L = 30 (issue 3: under a
 * minute), for every process, upward pass only and with the level profile. A benchmark, not a test.
 */
import { PROCESS_NAMES, type ProcessName } from '../src/noise/process.ts';
import { linearSchedule } from '../src/noise/schedule.ts';
import { deepGrammar } from '../src/theory/deepGrammar.ts';
import { populationDynamics } from '../src/theory/quenchedPopulation.ts';

const NOISE: Record<ProcessName, number> = { eps: 0.73, mask: 0.26, uniform: 0.15, gaussian: 0.113 };
const sizes = { vocab: 32, synonyms: 8, tuple: 2 };
const depth = 30;
const population = 1000;
const schedule = linearSchedule();
const g = deepGrammar(sizes, depth, 0);
const rows: string[] = [];
for (const process of PROCESS_NAMES) {
  for (const levels of [false, true]) {
    const start = performance.now();
    populationDynamics(g, { process, noise: NOISE[process], population, schedule, levels });
    const seconds = (performance.now() - start) / 1000;
    rows.push(`${process.padEnd(9)} ${String(NOISE[process]).padEnd(6)} ${(levels ? 'profile' : 'upward').padEnd(8)} ${seconds.toFixed(2).padStart(7)} s`);
  }
}
console.log(`population dynamics, v32 m8 s2, L = ${depth}, N = ${population} per symbol, grammar seed 0`);
console.log('process   noise  pass      wall time');
for (const r of rows) console.log(r);
