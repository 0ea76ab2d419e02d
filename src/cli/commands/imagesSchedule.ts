import type { Command } from 'commander';
import { OPTIONS } from '../../core/options.ts';
import { createImageDiffusion, imageDiffusionToJson } from '../../images/diffusion/imageDiffusion.ts';
import { toJsonText, writeFileAtomic } from '../files.ts';
import { addOption, addRenamedOptions, parseInteger } from '../parse.ts';

interface ScheduleOptionValues {
  schedule: string;
  diffusionSteps: string;
  respacing?: string;
  out?: string;
}

/** `hierdiff images schedule`: the arrays of a (respaced) Gaussian diffusion. */
export function registerImagesSchedule(images: Command): void {
  const cmd = images.command('schedule').description('the arrays of a (respaced) Gaussian diffusion, guided-diffusion conventions, 0-based indices (docs/science.md §6.1)');
  addOption(cmd, OPTIONS.schedule, { help: 'linear or cosine' });
  addOption(cmd, OPTIONS.diffusionSteps, { help: 'steps of the original process' });
  addOption(cmd, OPTIONS.respacing, { help: 'steps to keep: a count ("250"), section counts ("10,15,20") or "ddimN" (default: all T)' });
  // `--steps` was this command's name for what the other image commands call --diffusion-steps.
  addRenamedOptions(cmd, 'images schedule');
  cmd.option('--out <file>', 'write the JSON here (default: standard output)').action((o: ScheduleOptionValues) => {
    // Linear betas scale as 1000/T and must stay ≤ 1: T ≥ 20.
    const T = parseInteger('diffusion-steps', o.diffusionSteps, o.schedule === 'linear' ? 20 : 2, 100000);
    const d = createImageDiffusion({ schedule: o.schedule, originalSteps: T, respacing: o.respacing ?? String(T) });
    const text = toJsonText(imageDiffusionToJson(d));
    if (o.out) {
      writeFileAtomic(o.out, text);
      process.stderr.write(`images schedule: ${d.steps} steps of ${T} (${d.schedule}) -> ${o.out}\n`);
    } else {
      process.stdout.write(text);
    }
  });
}
