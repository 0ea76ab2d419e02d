/**
 * Training throughput of the models trained here, through their real trainers (src/nn/train.ts
 * on onnxruntime): the MNIST diffusion U-Net (ε-MSE), the MNIST digit classifier (cross-entropy)
 * and the RHM bpUNet (v 8, m 3, s 2, L 3, d 8, uniform process, width 256 by default). Every step
 * counts: drawing the batch on the host, the forward + backward graph, Adam and the EMA. The
 * first steps (session start, warm-up) are left out. A benchmark, not a test: numbers vary with
 * the machine and its load; compare side by side with the PyTorch twin of the U-Net, alternating.
 *
 *   npm run bench:train -- --model mnist-unet|classifier|bpunet [--threads N] [--steps S] [--warmup W] [--batch B] [--width W] [--json]
 *
 * --json prints one line: {"model", "threads", "batch", "msPerStep", "samplesPerSec"}.
 */
import { parseArgs } from 'node:util';
import { createRng } from '../src/core/random.ts';
import { generate } from '../src/grammar/generate.ts';
import { sampleRules } from '../src/grammar/sampleRules.ts';
import { train } from '../src/learn/bpUnetTrain.ts';
import { trainDigitClassifier } from '../src/mnist/classifierTrain.ts';
import { MNIST_UNET_CONFIG } from '../src/mnist/unet.ts';
import { trainMnistDenoiser } from '../src/mnist/unetTrain.ts';
import { defaultThreads } from '../src/nn/runtime.ts';

const MODELS = ['mnist-unet', 'classifier', 'bpunet'] as const;
type Model = (typeof MODELS)[number];

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'mnist-unet' },
    threads: { type: 'string' },
    steps: { type: 'string' },
    warmup: { type: 'string', default: '3' },
    batch: { type: 'string', default: '64' },
    width: { type: 'string', default: '256' },
    json: { type: 'boolean', default: false },
  },
});
const model = values.model as Model;
if (!MODELS.includes(model)) {
  console.error(`invalid --model "${values.model}" (expected ${MODELS.join(', ')})`);
  process.exit(2);
}
const threads = Number(values.threads ?? defaultThreads());
const batch = Number(values.batch);
const warmup = Number(values.warmup);
const timed = Number(values.steps ?? (model === 'bpunet' ? 60 : 15));
const steps = warmup + timed;

let tStart = 0;
const onProgress = (p: { step: number }) => {
  if (p.step === warmup) tStart = performance.now();
};
// The 3-level U-Net (16, 32, 64 channels, 379 105 parameters) of the PyTorch twin in docs/performance.md; the shipped model has a 4th level.
if (model === 'mnist-unet') await trainMnistDenoiser({ config: { ...MNIST_UNET_CONFIG, channels: [16, 32, 64] }, steps, batch, seed: 0, threads, onProgress });
else if (model === 'classifier') await trainDigitClassifier({ steps, batch, seed: 0, threads, onProgress });
else {
  const grammar = sampleRules({ vocab: 8, synonyms: 3, tuple: 2, depth: 3 }, 42);
  const data = generate(grammar, 1024, createRng(1)).levels[3];
  await train({ config: { vocab: 8, tuple: 2, depth: 3, width: Number(values.width), process: 'uniform' }, data, steps, batch, seed: 2, threads, onProgress });
}
const msPerStep = (performance.now() - tStart) / timed;
const samplesPerSec = (1000 * batch) / msPerStep;
if (values.json) console.log(JSON.stringify({ model, threads, batch, msPerStep: Number(msPerStep.toFixed(1)), samplesPerSec: Number(samplesPerSec.toFixed(1)) }));
else
  console.log(`${model}: ${msPerStep.toFixed(1)} ms/step, ${samplesPerSec.toFixed(0)} samples/s (batch ${batch}, ${threads} thread${threads > 1 ? 's' : ''}, ${timed} steps after ${warmup} warm-up)`);
