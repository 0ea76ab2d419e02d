/**
 * hierdiff: diffusion on the Random Hierarchy Model. The one front door of the library: the stable
 * API and the types its functions take and return (test/front-door.test.ts pins the list).
 */
export { ParamError, InconsistentEvidenceError } from './core/errors.ts';
export { createRng, type Rng } from './core/random.ts';

export { validateParams, leafCount, symbolsAt, type GrammarParams, type GrammarParamsInput } from './grammar/params.ts';
export { makeGrammar, type Grammar, type TupleIndex } from './grammar/grammar.ts';
export { sampleRules, RULE_RNGS, type RuleRng } from './grammar/sampleRules.ts';
export { generate, type TreeBatch } from './grammar/generate.ts';
export { pMax, decodeIndex } from './grammar/count.ts';
export { parse, type Parse } from './grammar/validity.ts';
export { grammarToJson, grammarFromJson, type GrammarJson } from './grammar/serialize.ts';

export { linearSchedule, cosineSchedule, respace, makeSchedule, type Schedule, type ScheduleName } from './noise/schedule.ts';
export { makeProcess, leafLogLikelihood, MASK, PROCESS_NAMES, type NoiseProcess, type ProcessName, type Observation } from './noise/process.ts';

export { referenceBackend } from './bp/reference.ts';
export { fastBackend, fast32Backend, defaultBackend, resolveBackend, BACKEND_NAMES, type BackendName } from './bp/fast.ts';
export type { BpBackend, BatchRequest, BatchResult, TokenEvidence, UpwardMessages, Marginals, FloatArray } from './bp/types.ts';

export { runCell, type CellSpec, type CellOptions } from './experiment/forwardBackward.ts';
export { runGrid, runGridParallel, type GridSpec, type GridProgress, type GridParallelOptions } from './experiment/grid.ts';
export { runCellParallel, CellWorkerPool, type ParallelCellOptions, type CellRun } from './experiment/parallelCell.ts';
export { summariseCells, type ForwardBackwardRow } from './experiment/summary.ts';
export type { CellStats } from './experiment/cell.ts';
export type { Moments } from './experiment/moments.ts';

export { meanFieldMap, meanFieldDerivative, criticalPoint, leafBelief, predictLevels, predictClassKept, type MeanFieldParams, type CriticalPoint } from './theory/meanField.ts';
export { effectiveLeafBelief } from './theory/leafBelief.ts';
export {
  meanFieldPrediction,
  meanFieldCriticalNoise,
  populationPrediction,
  type MeanFieldPrediction,
  type PopulationPrediction,
  type PopulationPredictionOptions,
} from './theory/predict.ts';
export type { PopulationOptions, PopulationResult } from './theory/population.ts';
export { populationDynamics } from './theory/quenchedPopulation.ts';
export { annealedPopulationDynamics } from './theory/annealedPopulation.ts';
export { populationThreshold, type ThresholdOptions, type ThresholdResult } from './theory/populationThreshold.ts';
export { deepGrammar, type GrammarSizes } from './theory/deepGrammar.ts';

export {
  runSweep,
  readSweepFile,
  mergeSweepFiles,
  validateSweepConfig,
  type SweepConfig,
  type SweepConfigInput,
  type RunSweepOptions,
  type SweepProgress,
  type SweepResult,
  type SweepFile,
  type SweepHeader,
  type SweepRunInfo,
  type SweepCellLine,
  type MergeResult,
  type Shard,
} from './sweep/index.ts';

export {
  meanFieldTheory,
  populationCurves,
  populationLevels,
  type MeanFieldTheory,
  type PopulationCurves,
  type PopulationCurveOptions,
  type PopulationLevels,
} from './report/theory.ts';
export { reportFigures, type FigureEntry, type FigureSetInput } from './report/figureSet.ts';
export type { CurvePoint } from './report/figures/common.ts';
export type { LevelCurvePoint } from './report/figures/levels.ts';
export type { MeanFieldMapData, Cobweb, FixedPointMark } from './report/figures/meanFieldMap.ts';
export { renderSvg, svgToPng } from './report/render.ts';
export { reportHtml, type ReportPage, type PageFigure } from './report/html.ts';

export { createImageDiffusion, type ImageDiffusion } from './images/diffusion/imageDiffusion.ts';
export { OnnxDenoiser, type DenoiserOptions, type DenoiserOutput, type TimestepType } from './images/models/denoiser.ts';
export { OnnxClassifier, type ClassifierOptions, type ClassifierOutput, type LayerActivation } from './images/models/classifier.ts';
export type { Device, ImageShape } from './nn/session.ts';
export type { NamedParams, Param } from './nn/params.ts';
export type { MonitorPoint } from './nn/checkpoint.ts';
export type { SamplerSpec } from './images/diffusion/sampler.ts';
export { listImages, type ImageEntry, type ListImagesOptions } from './images/io/listImages.ts';
export { openImagesExperiment, type ImagesExperiment, type ImagesExperimentInput } from './images/experiment/setup.ts';
export type { ClassifierStats, LayerStats } from './images/experiment/layerStats.ts';
export type { StatsProgress } from './images/experiment/stats.ts';
export { runImagesExperiment, type ImagesProgress, type RunImagesOptions, type RunImagesResult } from './images/experiment/run.ts';
export { summariseImages, type ImagesSummaryRow, type LayerSummary, type SummarisedConfig } from './images/experiment/summary.ts';
export {
  readImagesResults,
  mergeImagesShards,
  type ImagesRunConfig,
  type UnitLine,
  type ImagesHeader,
  type ImagesResults,
  type ImagesShard,
  type ModelFileInfo,
  type TrajectoryResult,
} from './images/experiment/resultsFile.ts';
export { scoreImages, scoreClassified, classifyImages, type ImageScore, type ClassifiedSet, type ConfidenceStats } from './images/score.ts';
export { frechetDistance, gaussianFit, type GaussianFit } from './images/frechet.ts';
export { writeImagesReport, type ImagesReportOptions } from './report/imagesReport.ts';

export { initBpUnet, type BpUnetConfig, type BpUnetParams, type LearnProcess } from './learn/bpUnet.ts';
export { discreteSchedule, type DiscreteSchedule, type DiscreteScheduleOptions } from './learn/schedule.ts';
export { publishedDataset, type PublishedDataset } from './learn/data.ts';
export type { LogitsModel } from './learn/logitsModel.ts';
export { ReferenceModel } from './learn/bpUnetReference.ts';
export { BpOracleModel, type OracleTarget } from './learn/bpOracle.ts';
export { OnnxRhmDenoiser, type RhmDenoiserOptions } from './learn/onnxDenoiser.ts';
export { bpUnetToOnnx } from './learn/bpUnetOnnx.ts';
export { sampleFromModel, type SampleOptions } from './learn/sampling.ts';
export { validity, copies, ruleFrequencies, type ValidityReport, type RuleUsage } from './learn/evaluate.ts';
export { learnedForwardBackward, type LearnedForwardBackwardRow, type LearnedForwardBackwardOptions, type KeptStats } from './learn/forwardBackward.ts';
export { evaluateModel, type ModelEvaluation, type EvaluateOptions } from './learn/evaluateModel.ts';
export { train, type Convergence, type TrainOptions, type TrainResult, type TrainProgress, type LrDecay } from './learn/bpUnetTrain.ts';
