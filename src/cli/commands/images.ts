import type { Command } from 'commander';
import { registerImagesDemo } from './imagesDemo.ts';
import { registerImagesForwardBackward } from './imagesForwardBackward.ts';
import { registerImagesMerge } from './imagesMerge.ts';
import { registerImagesSample } from './imagesSample.ts';
import { registerImagesSchedule } from './imagesSchedule.ts';
import { registerImagesScore } from './imagesScore.ts';
import { registerImagesStats } from './imagesStats.ts';
import { registerImagesTrainMnist } from './imagesTrainMnist.ts';

/** `hierdiff images …`: the image half of the paper (docs/images.md); one file per subcommand. */
export function registerImages(program: Command, argv: readonly string[]): Command {
  const images = program.command('images').description('forward–backward on image diffusion models (ONNX): schedules, classifier statistics, the experiment');
  registerImagesSchedule(images);
  registerImagesStats(images);
  registerImagesForwardBackward(images, argv);
  registerImagesMerge(images);
  registerImagesDemo(images, argv);
  registerImagesTrainMnist(images, argv);
  registerImagesSample(images);
  registerImagesScore(images, argv);
  return images;
}
