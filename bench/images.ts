/**
 * `npm run bench:images`: where the time of an image forward–backward run goes. A small
 * random-weight UNet-like denoiser (32×32 RGB, feature width 64) and a small conv classifier, both
 * built in TypeScript and run by onnxruntime-node on the CPU; the run's wall time is split into
 * denoiser calls, classifier calls, and the rest (q_sample, the reverse-chain arithmetic and its
 * Gaussian noise, batching, observables, image I/O, result lines): the reverse chain's own overhead.
 * A benchmark, not a test: numbers vary with the machine and its load.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runImagesExperiment } from '../src/images/experiment/run.ts';
import { openImagesExperiment } from '../src/images/experiment/setup.ts';
import { saveModel, tinyClassifierModel, tinyUnetModel, writeTestImages } from '../test/helpers/imageModels.ts';

const size = 32;
const width = Number(process.env.BENCH_WIDTH ?? 64);
const images = Number(process.env.BENCH_IMAGES ?? 16);
const dir = mkdtempSync(join(tmpdir(), 'hierdiff-bench-images-'));
try {
  await writeTestImages(join(dir, 'images'), { count: images, size, channels: 3, classes: 2 });
  const model = saveModel(dir, 'unet.onnx', tinyUnetModel({ channels: 3, size, width }));
  const classifier = saveModel(dir, 'clf.onnx', tinyClassifierModel({ channels: 3, size, classes: 2 }));
  const exp = await openImagesExperiment({ model, classifier, images: join(dir, 'images'), respacing: '50', steps: [10, 20, 30, 40, 50], trajectories: 2, batchSize: 16, examples: 4 });
  // Warm-up call: onnxruntime's first run allocates its arena.
  await exp.denoiser.run(new Float32Array(16 * 3 * size * size), 16, new Array(16).fill(500));
  exp.denoiser.calls = 0;
  exp.denoiser.callSeconds = 0;
  const r = await runImagesExperiment(exp, { outDir: join(dir, 'out'), version: 'bench', command: 'bench' });
  await exp.release();
  const rest = r.seconds - r.modelSeconds - r.classifierSeconds;
  const chainSteps = images * 2 * (10 + 20 + 30 + 40 + 50);
  const pct = (x: number) => `${((100 * x) / r.seconds).toFixed(1)} %`;
  console.log(`image forward–backward, ${images} images 32×32×3, respacing 50, steps 10…50, 2 trajectories, batch 16; UNet-like width ${width}`);
  console.log(`  reverse steps (model evaluations of one image): ${chainSteps}, ${exp.denoiser.calls} denoiser calls`);
  console.log(`  whole run           ${r.seconds.toFixed(2).padStart(7)} s`);
  console.log(`  denoiser calls      ${r.modelSeconds.toFixed(2).padStart(7)} s  ${pct(r.modelSeconds)}  (${((1000 * r.modelSeconds) / chainSteps).toFixed(3)} ms per image-step)`);
  console.log(`  classifier calls    ${r.classifierSeconds.toFixed(2).padStart(7)} s  ${pct(r.classifierSeconds)}`);
  console.log(`  everything else     ${rest.toFixed(2).padStart(7)} s  ${pct(rest)}  (${((1000 * rest) / chainSteps).toFixed(3)} ms per image-step): the reverse chain's own overhead`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
