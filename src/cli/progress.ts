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
