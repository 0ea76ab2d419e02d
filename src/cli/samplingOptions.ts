import type { Command } from 'commander';
import { resolveVariant } from '../core/errors.ts';
import { createImageDiffusion, type ImageDiffusion } from '../images/diffusion/imageDiffusion.ts';
import { parseSampler, VARIANCE_MODES, type SamplerSpec, type VarianceMode } from '../images/diffusion/sampler.ts';
import { OPTIONS } from '../core/options.ts';
import { addOption, parseInteger, parseOption } from './parse.ts';

/** The raw values of {@link addSamplingOptions}' options. */
export interface SamplingOptionValues {
  schedule: string;
  diffusionSteps: string;
  respacing: string;
  variance: string;
  sampler: string;
  seed: string;
  batchSize: string;
  threads?: string;
}

/** The parsed sampling settings of `images sample` and `images score`. */
export interface SamplingSettings {
  diffusion: ImageDiffusion;
  diffusionSteps: number;
  variance: VarianceMode;
  sampler: SamplerSpec;
  seed: number;
  batchSize: number;
  threads: number | undefined;
}

/**
 * The options of unconditional sampling, declared once for `images sample` and `images score`, so
 * that both draw the same images for the same values.
 */
export function addSamplingOptions(cmd: Command, seedHelp = 'seed (sample i uses its own stream)'): Command {
  addOption(cmd, OPTIONS.schedule, { help: 'linear or cosine' });
  addOption(cmd, OPTIONS.diffusionSteps);
  addOption(cmd, OPTIONS.respacing, { help: 'steps kept: a count ("100"), section counts or "ddimN"', default: '100' });
  addOption(cmd, OPTIONS.variance, { help: `${OPTIONS.variance.help}: ${VARIANCE_MODES.join(', ')}`, default: 'fixed-small' });
  addOption(cmd, OPTIONS.sampler);
  addOption(cmd, OPTIONS.seed, { help: seedHelp });
  addOption(cmd, OPTIONS.batchSize, { default: '64' });
  return addOption(cmd, OPTIONS.threads);
}

/** Parses {@link addSamplingOptions}' values (ParamError naming the option). */
export function parseSamplingOptions(o: SamplingOptionValues): SamplingSettings {
  const variance = resolveVariant('variance', o.variance, VARIANCE_MODES);
  const diffusionSteps = parseInteger('diffusion-steps', o.diffusionSteps, 2, 100000);
  const diffusion = createImageDiffusion({ schedule: o.schedule, originalSteps: diffusionSteps, respacing: o.respacing });
  return {
    diffusion,
    diffusionSteps,
    variance,
    sampler: parseSampler(o.sampler),
    seed: parseInteger('seed', o.seed, 0),
    batchSize: parseInteger('batch-size', o.batchSize, 1, 4096),
    threads: o.threads === undefined ? undefined : parseOption(OPTIONS.threads, o.threads),
  };
}
