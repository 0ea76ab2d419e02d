import { join } from 'node:path';
import type { Grammar } from '../../grammar/grammar.ts';
import { learnedClassKeptFigure, learnedLevelKeptFigure, testLossFigure, validityVsDataFigure, type StudyPoint } from '../../report/figures/learning.ts';
import { reportHtml, type PageFigure } from '../../report/html.ts';
import { renderSvg, svgToPng } from '../../report/render.ts';
import { writeFileAtomic } from '../files.ts';
import { writeReportFolder } from '../../core/outputDir.ts';
import { runInfo } from '../runInfo.ts';
import { packageVersion } from '../../core/packageVersion.ts';
import type { TrainOptionValues } from '../learnOptions.ts';
import type { TrainLog } from './train.ts';

/** The largest training-set size with a forward–backward comparison, as a list of at most one. */
function largestWithForwardBackward(points: readonly ReportPoint[]): ReportPoint[] {
  const withFb = points.filter((p) => p.forwardBackward && p.forwardBackward.length > 0);
  return withFb.length ? [withFb.reduce((a, b) => (b.trainSize > a.trainSize ? b : a))] : [];
}

/** Figures (SVG + PNG) and report.html of a study. */
/** A study's point as the report draws it. */
type ReportPoint = StudyPoint & { testLoss: TrainLog['testLoss']; steps?: number };

export async function writeLearningReport(out: string, points: ReportPoint[], baseline: number[], g: Grammar, o: TrainOptionValues): Promise<string[]> {
  // Through a temporary folder that replaces the previous report's files as a set (core/outputDir.ts).
  return writeReportFolder(out, (stage) => writeLearningReportFiles(stage, points, baseline, g, o));
}

async function writeLearningReportFiles(out: string, points: ReportPoint[], baseline: number[], g: Grammar, o: TrainOptionValues): Promise<string[]> {
  const figures = [
    {
      name: 'validity-vs-data',
      title: 'Validity per layer vs training data',
      caption:
        'Fraction of valid nodes per layer in samples of the trained model (layer 1 = the lowest rules, layer L = the root), against the number of training data P; dotted: uniformly random tokens.',
      spec: validityVsDataFigure(points, baseline),
    },
    {
      name: 'class-kept-trained-vs-bp',
      title: 'Class kept: trained models vs exact BP',
      caption: 'Forward–backward on the same data and the same noisy x_t: the trained model’s reverse chain (coloured by P) and one exact BP posterior sample (black), ±1 standard error.',
      spec: learnedClassKeptFigure(points, o.process),
    },
    ...(points.some((p) => p.testLoss.length > 0)
      ? [
          {
            name: 'test-loss',
            title: 'Held-out loss during training',
            caption: 'The loss on the test data (all times, the same draws at every measurement) during training, per training-set size: the convergence criterion reads these curves.',
            spec: testLossFigure(points),
          },
        ]
      : []),
    ...largestWithForwardBackward(points).map((p) => ({
      name: 'level-kept-trained-vs-bp',
      title: `Level kept: the model trained on P = ${p.trainSize} vs exact BP`,
      caption: 'Forward–backward on the same data and noisy x_t: the fraction of each level’s nodes kept, the trained model (solid) beside one exact BP posterior sample (dashed).',
      spec: learnedLevelKeptFigure(p, o.process),
    })),
  ];
  const written: string[] = [];
  const page: PageFigure[] = [];
  for (const f of figures) {
    const svg = await renderSvg(f.spec);
    writeFileAtomic(join(out, 'figures', `${f.name}.svg`), svg);
    writeFileAtomic(join(out, 'figures', `${f.name}.png`), svgToPng(svg));
    written.push(join(out, 'figures', `${f.name}.svg`), join(out, 'figures', `${f.name}.png`));
    page.push({ name: f.name, title: f.title, caption: f.caption, svg, links: [`figures/${f.name}.png`, `figures/${f.name}.svg`] });
  }
  const html = reportHtml({
    title: 'hierdiff: what a trained denoiser learns of the hierarchy',
    about: 'on the Random Hierarchy Model, with the companion U-Net trained on P data as the denoiser, beside exact belief propagation',
    command: runInfo(process.argv).command,
    tool: `hierdiff ${packageVersion()}`,
    parameters: [
      ['grammar', `v = ${g.vocab}, n_c = ${g.classes}, m = ${g.synonyms}, s = ${g.tuple}, L = ${g.depth}`],
      ['model', `companion U-Net, width ${o.width}, process ${o.process}, ${stepsText(points, o.steps)} of batch ${o.batch}, Adam lr ${o.lr}, warm-up ${o.warmup} steps, decay ${o.lrDecay}`],
      ['training-set sizes P', points.map((p) => p.trainSize).join(', ')],
    ],
    theory: [],
    figures: page,
  });
  writeFileAtomic(join(out, 'report.html'), html);
  written.push(join(out, 'report.html'));
  return written;
}

/** "20000 steps", or the steps per size where a study continued some sizes until they converged. */
function stepsText(points: readonly ReportPoint[], asked: string): string {
  const steps = points.map((p) => p.steps ?? Number(asked));
  if (steps.every((x) => x === steps[0])) return `${steps[0] ?? asked} steps`;
  return `${asked} steps, continued until converged (steps per P: ${points.map((p, i) => `${p.trainSize}: ${steps[i]}`).join(', ')})`;
}
