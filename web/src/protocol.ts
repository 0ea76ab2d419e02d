/**
 * Messages between the page (main.ts) and its worker (worker.ts). Every request carries an id;
 * the worker answers a datum request at once and runs at most one curve job, which a newer
 * curves request (or `stop`) cancels. Replies carry the id of their request so the page can drop
 * stale ones.
 */
import type { ForwardBackwardRow } from '../../src/experiment/summary.ts';
import type { ProcessName } from '../../src/noise/process.ts';
import type { ScheduleName } from '../../src/noise/schedule.ts';
import type { Precision } from './params.ts';

/** What both jobs need to rebuild the grammar (rules drawn by sampleRules from `gseed`). */
export interface GrammarSpec {
  vocab: number;
  synonyms: number;
  tuple: number;
  classes: number;
  gseed: number;
}

export interface DatumRequest {
  type: 'datum';
  id: number;
  grammar: GrammarSpec;
  depth: number;
  process: ProcessName;
  schedule: ScheduleName;
  /** ε, or t/T for gaussian. */
  noise: number;
  dseed: number;
  traj: number;
  precision: Precision;
}

export interface CurvesRequest {
  type: 'curves';
  id: number;
  grammar: GrammarSpec;
  depths: number[];
  process: ProcessName;
  schedule: ScheduleName;
  noises: number[];
  /** Data per point when complete. */
  data: number;
  /** Data added per point per pass. */
  passData: number;
  /** Posterior trajectories per datum (χ needs ≥ 2). */
  trajectories: number;
  precision: Precision;
}

export interface StopRequest {
  type: 'stop';
}

export type Request = DatumRequest | CurvesRequest | StopRequest;

/** One datum: its latent tree, the noised leaves, BP marginals and one posterior sample. */
export interface DatumResult {
  type: 'datum';
  id: number;
  ms: number;
  /** Clean tree: levels[ℓ] has s^ℓ symbols (level 0: the class). */
  truth: number[][];
  /** μ_ℓ(i, z_true(i)) per node. */
  trueBelief: number[][];
  /** Noised leaves: the observed symbol (gaussian: argmax of x_t), or −1 for a masked leaf. */
  noised: number[];
  /** Normalised leaf evidence λ on the drawn symbol (how sure the observation alone is). */
  noisedEvidence: number[];
  /** Posterior sample tree, same layout as truth. */
  posterior: number[][];
  /** μ_ℓ(i, sampled symbol) per node. */
  posteriorBelief: number[][];
  /** Class posterior μ_0 (n_c values). */
  classPosterior: number[];
  /** ε, or ᾱ for gaussian. */
  control: number;
}

export interface TheoryPoint {
  depth: number;
  noise: number;
  value: number;
}

export interface LevelTheoryPoint {
  depth: number;
  level: number;
  noise: number;
  value: number;
}

export interface CurvesProgress {
  type: 'curves';
  id: number;
  rows: ForwardBackwardRow[];
  /** Theory of P_0 per depth (mean field for eps, population dynamics otherwise). */
  theory: TheoryPoint[];
  theoryLabel: string;
  levelTheory: LevelTheoryPoint[];
  levelTheoryLabel: string;
  /** Mean-field critical noise (eps only), else null. */
  critical: number | null;
  /** Data per point so far (the smallest over points). */
  dataPerPoint: number;
  /** Work units done and in all. */
  done: number;
  total: number;
  finished: boolean;
  /** Milliseconds since this job started. */
  ms: number;
}

export interface ErrorReply {
  type: 'error';
  id: number;
  job: 'datum' | 'curves';
  message: string;
}

export type Reply = DatumResult | CurvesProgress | ErrorReply;
