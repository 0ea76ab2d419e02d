/**
 * Messages between the digits view (digitsView.ts) and its worker (digitsWorker.ts). The worker
 * loads onnxruntime-web and the shipped models on `init`, answers `run` requests (one image's
 * round trips; a newer one cancels an older one) ahead of the curve job, which a newer `curve`
 * request replaces and `active: false` pauses. Replies carry their request's id.
 */
import type { ImageVerdict } from '../../src/images/experiment/roundTrip.ts';
import type { ImagesSummaryRow } from '../../src/images/experiment/summary.ts';
import type { DigitsFile } from '../../src/mnist/digitsFile.ts';

export interface InitRequest {
  type: 'init';
  digits: DigitsFile;
  /** onnxruntime-web's WebAssembly threads: 2 when the page is cross-origin isolated, else 1. */
  threads: number;
}

/** Noise digit `digit` to spaced step `step` and denoise it back, trajectories first … first + count − 1. */
export interface RunRequest {
  type: 'run';
  id: number;
  digit: number;
  step: number;
  seed: number;
  first: number;
  count: number;
}

/** The class-kept and layer curves: passes of `perPass` digits per class at every step, up to `perClass`. */
export interface CurveRequest {
  type: 'curve';
  id: number;
  seed: number;
  steps: number[];
  perPass: number;
  perClass: number;
}

/** Pauses (false) or resumes (true) the curve job: the view is hidden or shown. */
export interface ActiveRequest {
  type: 'active';
  active: boolean;
}

export type DigitsRequest = InitRequest | RunRequest | CurveRequest | ActiveRequest;

export interface ReadyReply {
  type: 'ready';
  /** Threads onnxruntime-web runs with. */
  threads: number;
  version: string;
  /** Milliseconds to load the runtime and models and compute the whitening statistics. */
  ms: number;
}

export interface RunProgress {
  type: 'progress';
  id: number;
  done: number;
  total: number;
}

export interface RunResult {
  type: 'run';
  id: number;
  ms: number;
  /** Per trajectory: x_t and the reconstruction as the CLI saves them (uint8, HWC). */
  noised: Uint8Array[];
  generated: Uint8Array[];
  /** The original's verdict, then each reconstruction's (top class, probabilities, pixel change, layer cosines). */
  verdicts: ImageVerdict[];
}

export interface CurveProgress {
  type: 'curve';
  id: number;
  rows: ImagesSummaryRow[];
  /** Steps with data, and the fewest digits any of them has. */
  points: number;
  perPoint: number;
  done: number;
  total: number;
  finished: boolean;
  ms: number;
}

export interface DigitsErrorReply {
  type: 'error';
  id: number;
  job: 'init' | 'run' | 'curve';
  message: string;
}

export type DigitsReply = ReadyReply | RunProgress | RunResult | CurveProgress | DigitsErrorReply;
