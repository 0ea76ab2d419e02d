import cliProgress from 'cli-progress';

/** A progress bar on stderr; silent when stderr is not a terminal (CI, pipes, tests). */
export interface Progress {
  update(done: number, payload?: Record<string, string | number>): void;
  stop(): void;
}

/** `extra`: more format text after the rate, with payload tokens passed to update (e.g. `{images} images/s`). */
export function startProgress(label: string, total: number, unit = 'samples', extra = ''): Progress {
  if (!process.stderr.isTTY) return { update: () => {}, stop: () => {} };
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: `${label} [{bar}] {percentage}% | {value}/{total} ${unit} | {rate} ${unit}/s${extra ? ` | ${extra}` : ''} | ETA {eta_formatted}`,
      hideCursor: true,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  const start = Date.now();
  const extraTokens = Object.fromEntries([...extra.matchAll(/\{(\w+)\}/g)].map((m) => [m[1], '-']));
  bar.start(total, 0, { rate: '0', ...extraTokens });
  return {
    update(done, payload) {
      const seconds = (Date.now() - start) / 1000;
      bar.update(done, { rate: seconds > 0 ? Math.round(done / seconds).toString() : '0', ...payload });
    },
    stop() {
      bar.stop();
    },
  };
}

/** What a training loop reports after each step (src/nn/train.ts's TrainProgress). */
export interface TrainingTick {
  step: number;
  steps: number;
  loss: number;
  stepsPerSecond: number;
  samplesPerSecond: number;
}

/**
 * A training progress bar: steps done, steps/s, samples/s, the last loss and the ETA (from the
 * steps this run has done, so a resumed run does not count the checkpoint's steps as fast ones).
 */
export function startTrainingProgress(label: string, steps: number): { tick(p: TrainingTick): void; stop(): void } {
  if (!process.stderr.isTTY) return { tick: () => {}, stop: () => {} };
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: `${label} [{bar}] {percentage}% | {value}/{total} steps | {sps} steps/s | {samples} samples/s | loss {loss} | ETA {etaText}`,
      hideCursor: true,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(steps, 0, { sps: '-', samples: '-', loss: '-', etaText: '-' });
  return {
    tick(p) {
      const eta = (p.steps - p.step) / p.stepsPerSecond;
      bar.update(p.step, {
        sps: p.stepsPerSecond.toFixed(2),
        samples: Math.round(p.samplesPerSecond).toString(),
        loss: p.loss.toPrecision(4),
        etaText: Number.isFinite(eta) ? formatSeconds(eta) : '-',
      });
    },
    stop() {
      bar.stop();
    },
  };
}

function formatSeconds(s: number): string {
  const t = Math.round(s);
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m${String(t % 60).padStart(2, '0')}s` : `${t}s`;
}
