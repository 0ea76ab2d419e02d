import cliProgress from 'cli-progress';

/**
 * Progress on stderr: a bar on a terminal; elsewhere (a log file, a Slurm task's log, a pipe) a plain
 * line at most every {@link progressLogSeconds} seconds, so a run of hours left in the background
 * says how far it is without filling its log.
 */
export interface Progress {
  update(done: number, payload?: Record<string, string | number>): void;
  stop(): void;
}

/**
 * `extra`: more format text after the rate, with payload tokens passed to update (e.g. `{images} images/s`).
 * The rate is `done` over the wall seconds since the bar started; the ETA is the work left at that
 * rate, "--" until there is a rate to go by (nothing done yet), never "0s" at 0 % nor a non-finite time.
 */
export function startProgress(label: string, total: number, unit = 'samples', extra = ''): Progress {
  if (!process.stderr.isTTY) {
    const say = throttledLines(progressLogSeconds() * 1000);
    const start = Date.now();
    return {
      update(done, payload) {
        say(() => {
          const rate = done / ((Date.now() - start) / 1000);
          const more = extra.replace(/\{(\w+)\}/g, (_, k: string) => String(payload?.[k] ?? '-')).replaceAll(' | ', ', ');
          return `${label}: ${done}/${total} ${unit} (${percent(done, total)}), ${done > 0 && Number.isFinite(rate) ? formatRate(rate) : '-'} ${unit}/s${more ? `, ${more}` : ''}, ETA ${etaText(total - done, done > 0 ? rate : 0)}`;
        });
      },
      stop() {},
    };
  }
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: `${label} [{bar}] {percentage}% | {value}/{total} ${unit} | {rate} ${unit}/s${extra ? ` | ${extra}` : ''} | ETA {etaText}`,
      hideCursor: true,
    },
    cliProgress.Presets.shades_classic,
  );
  const start = Date.now();
  const extraTokens = Object.fromEntries([...extra.matchAll(/\{(\w+)\}/g)].map((m) => [m[1], '-']));
  bar.start(total, 0, { rate: '-', etaText: '--', ...extraTokens });
  return {
    update(done, payload) {
      const rate = done / ((Date.now() - start) / 1000);
      bar.update(done, { rate: done > 0 && Number.isFinite(rate) ? formatRate(rate) : '-', etaText: etaText(total - done, done > 0 ? rate : 0), ...payload });
    },
    stop() {
      bar.stop();
    },
  };
}

/** A rate to three significant digits (whole numbers from 100 up): what the bars and the summaries print. */
export function formatRate(perSecond: number): string {
  return perSecond >= 100 ? Math.round(perSecond).toString() : perSecond.toPrecision(3);
}

/** Seconds left for `remaining` units at `perSecond`, or "--" while there is no finite positive rate. */
export function etaText(remaining: number, perSecond: number): string {
  if (remaining <= 0) return '0s';
  const eta = remaining / perSecond;
  // Rounded up: "0s" only once nothing is left.
  return perSecond > 0 && Number.isFinite(perSecond) && Number.isFinite(eta) ? formatSeconds(Math.ceil(eta)) : '--';
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
 * A training progress bar: steps done, steps/s, samples/s, the last loss and the ETA. The rate is the
 * training loop's (TrainProgress.stepsPerSecond: this call's steps over the seconds since its first
 * step began; set-up before it and a resumed checkpoint's steps are not counted), the number
 * `hierdiff train`'s summary line prints as its steps/s.
 */
export function startTrainingProgress(label: string, steps: number): { tick(p: TrainingTick): void; stop(): void } {
  if (!process.stderr.isTTY) {
    const say = throttledLines(progressLogSeconds() * 1000);
    return {
      tick(p) {
        say(() => {
          const finite = Number.isFinite(p.stepsPerSecond) && p.stepsPerSecond > 0;
          return `${label}: step ${p.step}/${p.steps} (${percent(p.step, p.steps)}), ${finite ? formatRate(p.stepsPerSecond) : '-'} steps/s, loss ${p.loss.toPrecision(4)}, ETA ${etaText(p.steps - p.step, p.stepsPerSecond)}`;
        });
      },
      stop() {},
    };
  }
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: `${label} [{bar}] {percentage}% | {value}/{total} steps | {sps} steps/s | {samples} samples/s | loss {loss} | ETA {etaText}`,
      hideCursor: true,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(steps, 0, { sps: '-', samples: '-', loss: '-', etaText: '--' });
  return {
    tick(p) {
      const finite = Number.isFinite(p.stepsPerSecond) && p.stepsPerSecond > 0;
      bar.update(p.step, {
        sps: finite ? formatRate(p.stepsPerSecond) : '-',
        samples: finite ? Math.round(p.samplesPerSecond).toString() : '-',
        loss: p.loss.toPrecision(4),
        etaText: etaText(p.steps - p.step, p.stepsPerSecond),
      });
    },
    stop() {
      bar.stop();
    },
  };
}

/** Environment variable: seconds between progress lines when stderr is not a terminal. */
export const PROGRESS_LOG_ENV = 'HIERDIFF_PROGRESS_EVERY';
const PROGRESS_LOG_DEFAULT_S = 30;

/** {@link PROGRESS_LOG_ENV} when it is a number ≥ 0 (0: a line at every update), else 30. */
export function progressLogSeconds(env: NodeJS.ProcessEnv = process.env): number {
  const text = env[PROGRESS_LOG_ENV]?.trim();
  const value = text ? Number(text) : Number.NaN;
  return Number.isFinite(value) && value >= 0 ? value : PROGRESS_LOG_DEFAULT_S;
}

/**
 * Writes the line `line()` gives (built only when written) at most once every `everyMs`, the first
 * once `everyMs` has passed since the start: a short run writes nothing.
 */
export function throttledLines(everyMs: number, write: (text: string) => void = (text) => void process.stderr.write(text), now = Date.now): (line: () => string) => void {
  let last = now();
  return (line) => {
    const t = now();
    if (t - last < everyMs) return;
    last = t;
    write(`${line()}\n`);
  };
}

function percent(done: number, total: number): string {
  return `${Math.floor((100 * done) / Math.max(1, total))}%`;
}

/** 42s, 3m07s, 1h05m. */
export function formatSeconds(s: number): string {
  const t = Math.round(s);
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m${String(t % 60).padStart(2, '0')}s` : `${t}s`;
}
