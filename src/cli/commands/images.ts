import type { Command } from 'commander';
import { createImageDiffusion, imageDiffusionToJson } from '../../images/diffusion/imageDiffusion.ts';
import { toJsonText, writeFileAtomic } from '../files.ts';
import { parseInteger } from '../parse.ts';

interface ScheduleOptionValues {
  schedule: string;
  steps: string;
  respacing?: string;
  out?: string;
}

/** `hierdiff images …`: the image half of the paper (docs/images.md). */
export function registerImages(program: Command, argv: readonly string[]): Command {
  void argv;
  const images = program.command('images').description('forward–backward on image diffusion models (ONNX): schedules, classifier statistics, the experiment');
  images
    .command('schedule')
    .description('the arrays of a (respaced) Gaussian diffusion, guided-diffusion conventions, 0-based indices (docs/science.md §6.1)')
    .option('--schedule <name>', 'linear or cosine', 'linear')
    .option('--steps <T>', 'steps of the original process', '1000')
    .option('--respacing <spec>', 'steps to keep: a count ("250"), section counts ("10,15,20") or "ddimN" (default: all T)')
    .option('--out <file>', 'write the JSON here (default: standard output)')
    .action((o: ScheduleOptionValues) => {
      const T = parseInteger('steps', o.steps, 2, 100000);
      const d = createImageDiffusion({ schedule: o.schedule, originalSteps: T, respacing: o.respacing ?? String(T) });
      const text = toJsonText(imageDiffusionToJson(d));
      if (o.out) {
        writeFileAtomic(o.out, text);
        process.stderr.write(`images schedule: ${d.steps} steps of ${T} (${d.schedule}) -> ${o.out}\n`);
      } else {
        process.stdout.write(text);
      }
    });
  return images;
}
