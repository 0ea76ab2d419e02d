/**
 * Training throughput of the bpUNet trainer (src/learn/tf/train.ts) on tfjs' wasm and cpu
 * backends: the published RHM model v = 8, m = 3, s = 2, L = 3 (d = 8), width 256, batch 64,
 * uniform process. Reports ms per Adam step, samples/s and an estimate of GFLOP/s: the forward
 * pass's multiply-adds (the convolutions as matMuls) × 2 FLOP × 3 for forward + backward.
 * The first steps (tfjs warm-up) are left out. A benchmark, not a test: numbers vary with the
 * machine and its load.
 *
 * Environment: BENCH_WIDTH (256), BENCH_BATCH (64), BENCH_STEPS (wasm steps timed, 30),
 * BENCH_CPU_STEPS (4), BENCH_BACKENDS ("wasm,cpu").
 */
import { createRng } from '../src/core/random.ts';
import { generate } from '../src/grammar/generate.ts';
import { sampleRules } from '../src/grammar/sampleRules.ts';
import type { BpUnetConfig } from '../src/learn/bpUnet.ts';
import type { TfBackend } from '../src/learn/tf/backend.ts';
import { train } from '../src/learn/tf/train.ts';

const width = Number(process.env.BENCH_WIDTH ?? 256);
const batch = Number(process.env.BENCH_BATCH ?? 64);
const backends = (process.env.BENCH_BACKENDS ?? 'wasm,cpu').split(',') as TfBackend[];
const timedSteps: Record<TfBackend, number> = { wasm: Number(process.env.BENCH_STEPS ?? 30), cpu: Number(process.env.BENCH_CPU_STEPS ?? 4) };
const warmup = 2;

const config: BpUnetConfig = { vocab: 8, tuple: 2, depth: 3, width, process: 'uniform' };
const grammar = sampleRules({ vocab: 8, synonyms: 3, tuple: 2, depth: 3 }, 42);
const data = generate(grammar, 1024, createRng(1)).levels[3];

/** Multiply-adds of one forward pass for one sample. */
function forwardMacs(c: BpUnetConfig): number {
  const { vocab: v, tuple: s, depth: L, width: W } = c;
  const d = s ** L;
  let macs = d * v * W; // embed 1×1
  for (let i = 1; i <= L; i++) macs += (d / s ** i) * (s * W) * W; // down: output length × fan-in × out
  for (let j = 0; j < L; j++) macs += s ** j * (2 * W) * (s * W); // up: input length × 2W × s·W
  return macs + d * 2 * W * v; // readout
}

const flopPerSample = 2 * 3 * forwardMacs(config);
console.log(`bpUNet training: v 8, s 2, L 3 (d 8), width ${width}, batch ${batch}, uniform; ${(forwardMacs(config) / 1e6).toFixed(2)} M multiply-adds per sample forward`);
for (const backend of backends) {
  const steps = warmup + timedSteps[backend];
  let tStart = 0;
  const result = await train({
    config,
    data,
    steps,
    batch,
    seed: 2,
    backend,
    onProgress: (p) => {
      if (p.step === warmup) tStart = performance.now();
    },
  });
  const seconds = (performance.now() - tStart) / 1000;
  const perStep = seconds / timedSteps[backend];
  const samplesPerSecond = batch / perStep;
  console.log(
    `  ${backend.padEnd(5)} ${(1000 * perStep).toFixed(1).padStart(8)} ms/step  ${samplesPerSecond.toFixed(0).padStart(6)} samples/s  ≈ ${((samplesPerSecond * flopPerSample) / 1e9).toFixed(1)} GFLOP/s  (${timedSteps[backend]} steps after ${warmup} warm-up; last loss ${result.losses[steps - 1].toFixed(5)})`,
  );
}
