import type { Command } from 'commander';
import { ParamError } from '../../core/errors.ts';
import { sampleUnconditional } from '../../images/experiment/unconditional.ts';
import { OnnxDenoiser } from '../../images/models/denoiser.ts';
import { imageGrid } from '../../images/io/writeImages.ts';
import { checkOutputFile, refuseExistingFiles, writeFileAtomic } from '../files.ts';
import { parseInteger } from '../parse.ts';
import { startProgress } from '../progress.ts';
import { addSamplingOptions, parseSamplingOptions, type SamplingOptionValues } from '../samplingOptions.ts';

interface SampleOptionValues extends SamplingOptionValues {
  model: string;
  count: string;
  columns: string;
  out: string;
  overwrite?: boolean;
}

/** `hierdiff images sample`: unconditional samples of an ONNX diffusion model, as one PNG grid. */
export function registerImagesSample(images: Command): void {
  addSamplingOptions(
    images
      .command('sample')
      .description('unconditional samples of an ONNX diffusion model (full reverse chain of the respaced process), drawn as one PNG grid')
      .requiredOption('--model <file>', 'diffusion model (ONNX): inputs x and timesteps, output ε (or ε + variance)')
      .option('--count <n>', 'samples', '64')
      .option('--columns <n>', 'grid columns', '8'),
  )
    .requiredOption('--out <file>', 'PNG grid to write')
    .option('--overwrite', 'replace --out if it exists')
    .action(async (o: SampleOptionValues) => {
      const count = parseInteger('count', o.count, 1, 100000);
      const columns = parseInteger('columns', o.columns, 1, 1000);
      const { diffusion: d, variance, sampler, seed, batchSize, threads } = parseSamplingOptions(o);
      checkOutputFile('out', o.out);
      refuseExistingFiles([['out', o.out]], o.overwrite);
      const model = await OnnxDenoiser.open(o.model, { batchSize, threads });
      try {
        const shape = model.inputShape;
        if (!shape || (shape[0] !== 1 && shape[0] !== 3)) throw new ParamError('model', `invalid --model "${o.model}" (its image input must have a fixed 1- or 3-channel shape)`);
        const bar = startProgress('images sample', count, 'samples');
        const xs = await sampleUnconditional(model, d, { count, variance, sampler, seed, onProgress: (done) => bar.update(done) });
        bar.stop();
        const rows = Array.from({ length: Math.ceil(count / columns) }, (_, r) => xs.slice(r * columns, (r + 1) * columns));
        writeFileAtomic(o.out, await imageGrid(rows, shape[0] as 1 | 3, shape[1], shape[2], { scale: shape[1] <= 64 ? 2 : 1 }));
        process.stderr.write(`images sample: ${count} samples, ${d.steps} steps each -> ${o.out}\n`);
      } finally {
        await model.release();
      }
    });
}
