/// <reference lib="webworker" />
/**
 * The page's computations, off the main thread, with the library's own code: grammar
 * (sampleRules, generate), noise (makeProcess), exact BP (the WebAssembly kernels of
 * src/bp/fast.ts), the forward–backward experiment (runCell, summariseCells) and theory (mean
 * field for ε, population dynamics for real noise).
 *
 * Two jobs. A datum request is answered at once (one datum's BP takes about a millisecond). A
 * curves request starts a progressive job that replaces any running one: in passes, each point
 * (depth, noise) gets another `passData` data (one runCell on an independent random stream), and
 * the pooled rows are posted after every unit of work. Between units the job yields with a
 * macrotask, so newer messages (a slider move, new controls) are handled within one unit, and it
 * pauses while datum requests keep coming (the slider being dragged).
 */
import { createRng } from '../../src/core/random.ts';
import { fast32Backend, fastBackend } from '../../src/bp/fast.ts';
import type { BpBackend } from '../../src/bp/types.ts';
import { runCell } from '../../src/experiment/forwardBackward.ts';
import type { CellStats } from '../../src/experiment/cell.ts';
import { summariseCells } from '../../src/experiment/summary.ts';
import { generate } from '../../src/grammar/generate.ts';
import type { Grammar } from '../../src/grammar/grammar.ts';
import { sampleRules } from '../../src/grammar/sampleRules.ts';
import { noiseKey } from '../../src/noise/level.ts';
import { leafLogLikelihood, makeProcess, MASK, PROCESS_STREAM_IDS } from '../../src/noise/process.ts';
import { makeSchedule, type Schedule } from '../../src/noise/schedule.ts';
import { evenlySpaced, predictAt, theoryGrid, type PopulationTheory } from '../../src/theory/grid.ts';
import { meanFieldCriticalNoise } from '../../src/theory/predict.ts';
import type { CurvesProgress, CurvesRequest, DatumRequest, DatumResult, GrammarSpec, LevelTheoryPoint, Reply, Request, TheoryPoint } from './protocol.ts';

const scope = self as unknown as DedicatedWorkerGlobalScope;

/** Messages per (level, symbol) of the population dynamics: small enough to be quick here. */
const POPULATION = 150;
/** Tokens (data × s^L) per unit of curve work between two looks at the message queue (a few ms). */
const UNIT_TOKENS = 8192;
/** Fine grid of the mean-field curves. */
const THEORY_POINTS = 81;

const post = (reply: Reply) => scope.postMessage(reply);

const grammars = new Map<string, Grammar>();
function grammarOf(spec: GrammarSpec, depth: number): Grammar {
  const key = JSON.stringify([spec, depth]);
  let g = grammars.get(key);
  if (!g) {
    if (grammars.size > 64) grammars.clear();
    g = sampleRules({ vocab: spec.vocab, synonyms: spec.synonyms, tuple: spec.tuple, depth, classes: spec.classes }, spec.gseed);
    grammars.set(key, g);
  }
  return g;
}

const schedules = new Map<string, Schedule>();
function scheduleOf(name: string): Schedule {
  let s = schedules.get(name);
  if (!s) schedules.set(name, (s = makeSchedule(name)));
  return s;
}

function backendOf(precision: 'f64' | 'f32'): BpBackend {
  return precision === 'f32' ? fast32Backend : fastBackend;
}

/** Stream roles of the datum view (independent of the experiment's streams). */
const STREAM_DATUM = 901;
const STREAM_DATUM_NOISE = 902;
const STREAM_DATUM_POSTERIOR = 903;

/**
 * One datum (docs/science.md §1–§4): its latent tree from the data seed, the forward noise at the
 * slider's level (the same stream at every level, so masking is nested as the slider moves), exact
 * BP marginals at every node, and posterior sample number `traj` (the backward process).
 */
function datum(r: DatumRequest): DatumResult {
  const t0 = performance.now();
  const g = grammarOf(r.grammar, r.depth);
  const L = g.depth;
  const s = g.tuple;
  const v = g.vocab;
  const d = s ** L;
  const truth = generate(g, 1, createRng(r.dseed, STREAM_DATUM, L));
  const process = makeProcess(r.process, r.noise, scheduleOf(r.schedule));
  const x0 = truth.levels[L];
  const obs = process.sample(x0, v, createRng(r.dseed, STREAM_DATUM_NOISE, L, PROCESS_STREAM_IDS[r.process]));
  const lambda = new Float64Array(d * v);
  process.likelihood(obs, v, lambda);
  const logLambda = new Float64Array(d * v);
  leafLogLikelihood(process, obs, v, logLambda);
  const backend = backendOf(r.precision);
  const up = backend.upward(g, lambda, 1, logLambda);
  const mu = backend.marginals(g, up);
  const post = backend.sample(g, up, createRng(r.dseed, STREAM_DATUM_POSTERIOR, L, PROCESS_STREAM_IDS[r.process], noiseKey(r.noise), r.traj), 1);
  const symbols = (l: number) => (l === 0 ? g.classes : v);
  const truthLevels = truth.levels.map((a) => Array.from(a));
  const postLevels = post.levels.map((a) => Array.from(a));
  const beliefOf = (levels: number[][]) => levels.map((row, l) => row.map((a, i) => Number(mu[l][i * symbols(l) + a])));
  // The noised leaves as drawn: the observed token (gaussian: argmax of x_t; masked: −1) and the
  // normalised evidence on it.
  const noised: number[] = [];
  const noisedEvidence: number[] = [];
  for (let i = 0; i < d; i++) {
    let best = 0;
    let z = 0;
    for (let b = 0; b < v; b++) {
      const x = lambda[i * v + b];
      z += x;
      if (x > lambda[i * v + best]) best = b;
    }
    const token = obs.kind === 'tokens' ? obs.tokens[i] : best;
    noised.push(token === MASK ? -1 : token);
    noisedEvidence.push(token === MASK ? 1 / v : z > 0 ? lambda[i * v + token] / z : 0);
  }
  return {
    type: 'datum',
    id: r.id,
    ms: performance.now() - t0,
    truth: truthLevels,
    trueBelief: beliefOf(truthLevels),
    noised,
    noisedEvidence,
    posterior: postLevels,
    posteriorBelief: beliefOf(postLevels),
    classPosterior: Array.from(mu[0].subarray(0, g.classes), Number),
    control: process.control,
  };
}

// ---- curves ----

let curvesJob = 0;

/** Yields to the event loop with a macrotask (not clamped like nested timers), so queued messages run. */
function macrotask(): Promise<void> {
  return new Promise((resolve) => {
    const ch = new MessageChannel();
    ch.port1.onmessage = () => {
      ch.port1.close();
      resolve();
    };
    ch.port2.postMessage(0);
  });
}

/** A point's independent random stream for pass `pass`: the cell's stream key (see runCell). */
function passSeed(gseed: number, unit: number): number {
  return gseed * 2 ** 20 + unit;
}

async function curves(r: CurvesRequest): Promise<void> {
  const job = ++curvesJob;
  const t0 = performance.now();
  const schedule = scheduleOf(r.schedule);
  const backend = backendOf(r.precision);
  const passes = Math.max(1, Math.ceil(r.data / r.passData));
  const cells: CellStats[] = [];
  const theory: TheoryPoint[] = [];
  const levelTheory: LevelTheoryPoint[] = [];
  const isEps = r.process === 'eps';
  const params = { vocab: r.grammar.vocab, synonyms: r.grammar.synonyms, tuple: r.grammar.tuple, classes: r.grammar.classes };
  const critical = isEps ? meanFieldCriticalNoise(params, 'eps') : null;
  const theoryLabel = isEps ? 'mean-field theory' : `population dynamics (N = ${POPULATION})`;
  const levelTheoryLabel = `population dynamics (N = ${POPULATION})`;
  const units = passes * r.depths.length * r.noises.length + (isEps ? 0 : r.depths.length * r.noises.length);
  let done = 0;
  let dataPerPoint = 0;

  if (isEps) {
    // Mean field is instant: the whole fine curve for every depth up front. Its level profile is
    // upward-only, not the marginal estimator the data show: not drawn.
    const noises = evenlySpaced(r.noises[0], r.noises[r.noises.length - 1], THEORY_POINTS);
    for (const p of theoryGrid({ method: 'mean-field', sizes: params, process: 'eps' }, r.depths, noises)) theory.push({ depth: p.depth, noise: p.noise, value: p.classKept });
  }

  const report = (finished: boolean) => {
    const progress: CurvesProgress = {
      type: 'curves',
      id: r.id,
      rows: cells.length ? summariseCells(cells) : [],
      theory,
      theoryLabel,
      levelTheory,
      levelTheoryLabel,
      critical,
      dataPerPoint,
      done,
      total: units,
      finished,
      ms: performance.now() - t0,
    };
    post(progress);
  };

  // Population theory one point per unit of work (predictAt), so newer messages wait at most one point.
  const population: PopulationTheory = {
    method: 'population',
    grammarsAt: (depth) => [grammarOf(r.grammar, depth)],
    process: r.process,
    schedule,
    population: POPULATION,
    seed: r.grammar.gseed,
    levels: () => true,
  };
  const theoryUnit = (depth: number, noise: number) => {
    const p = predictAt(population, depth, noise, population.grammarsAt(depth));
    theory.push({ depth, noise, value: p.classKept });
    (p.levelKept ?? p.upwardKept).forEach((value, level) => levelTheory.push({ depth, level, noise, value }));
  };

  for (let pass = 0; pass < passes; pass++) {
    const samples = Math.min(r.passData, r.data - pass * r.passData);
    for (const depth of r.depths) {
      const g = grammarOf(r.grammar, depth);
      for (const noise of r.noises) {
        // Deep trees in several cells of at most UNIT_TOKENS tokens, each on its own stream, so
        // that no unit of work keeps a newer message waiting long.
        const per = Math.max(1, Math.min(samples, Math.floor(UNIT_TOKENS / g.tuple ** depth)));
        for (let sub = 0, start = 0; start < samples; sub++, start += per) {
          await yieldToInteraction();
          if (job !== curvesJob) return;
          const cell = { grammarSeed: passSeed(r.grammar.gseed, pass * 64 + sub), depth, process: r.process, noise };
          cells.push(runCell(g, cell, { samples: Math.min(per, samples - start), trajectories: r.trajectories, schedule, backend }));
        }
        done++;
        report(false);
      }
    }
    dataPerPoint += samples;
    // Population theory after the first pass: the data's first look comes first.
    if (pass === 0 && !isEps) {
      for (const depth of r.depths) {
        for (const noise of r.noises) {
          await yieldToInteraction();
          if (job !== curvesJob) return;
          theoryUnit(depth, noise);
          done++;
          report(false);
        }
      }
    }
  }
  report(true);
}

// ---- the datum: newest request only, ahead of the curves ----

let pendingDatum: DatumRequest | null = null;
let lastDatumAt = -Infinity;
/** Curve work pauses this long after a datum request: while the slider moves, the datum view comes first. */
const INTERACTIVE_MS = 150;

function answerDatum(): void {
  const r = pendingDatum;
  pendingDatum = null;
  if (!r) return;
  try {
    post(datum(r));
  } catch (e) {
    post({ type: 'error', id: r.id, job: 'datum', message: e instanceof Error ? e.message : String(e) });
  }
}

/** Waits while datum requests keep arriving (a slider being dragged). */
async function yieldToInteraction(): Promise<void> {
  await macrotask();
  while (performance.now() - lastDatumAt < INTERACTIVE_MS) await new Promise((res) => setTimeout(res, 40));
}

scope.onmessage = (event: MessageEvent<Request>) => {
  const r = event.data;
  if (r.type === 'stop') {
    curvesJob++;
    return;
  }
  if (r.type === 'datum') {
    // Answered in the next task, so that of several queued requests only the newest is computed.
    const first = pendingDatum === null;
    pendingDatum = r;
    lastDatumAt = performance.now();
    if (first) void macrotask().then(answerDatum);
    return;
  }
  curves(r).catch((e: unknown) => post({ type: 'error', id: r.id, job: 'curves', message: e instanceof Error ? e.message : String(e) }));
};
