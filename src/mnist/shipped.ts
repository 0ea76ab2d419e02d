import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ParamError } from '../core/errors.ts';

/**
 * The MNIST models shipped with hierdiff: `models/mnist/` at the package root (this module sits two
 * folders below it both as src/mnist/shipped.ts and as dist/mnist/shipped.js).
 */
export const MNIST_MODELS_DIR = fileURLToPath(new URL('../../models/mnist/', import.meta.url));

/** File names inside a models folder (the shipped one, or one `hierdiff images train-mnist` wrote). */
export const MNIST_FILES = { denoiser: 'denoiser.onnx', classifier: 'classifier.onnx', card: 'card.json' } as const;

export interface MnistModelPaths {
  dir: string;
  denoiser: string;
  classifier: string;
  card: string;
}

/** The model files of `dir` (default: the shipped ones); ParamError (param `models`) naming a missing file. */
export function mnistModelPaths(dir: string = MNIST_MODELS_DIR): MnistModelPaths {
  const paths = { dir, denoiser: join(dir, MNIST_FILES.denoiser), classifier: join(dir, MNIST_FILES.classifier), card: join(dir, MNIST_FILES.card) };
  for (const p of [paths.denoiser, paths.classifier, paths.card]) {
    if (!existsSync(p)) throw new ParamError('models', `invalid --models "${dir}" (no ${p.slice(dir.length).replace(/^[\\/]/, '')}; train with: hierdiff images train-mnist --out ${dir})`);
  }
  return paths;
}
