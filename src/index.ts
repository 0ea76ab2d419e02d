/**
 * hierdiff: diffusion on the Random Hierarchy Model. The one front door of the library.
 */
export { ParamError, InconsistentEvidenceError } from './core/errors.ts';
export { createRng, type Rng } from './core/random.ts';
export { PythonRandom } from './core/pythonRandom.ts';

export { validateParams, leafCount, nodesAt, symbolsAt, validFraction, type GrammarParams, type GrammarParamsInput } from './grammar/params.ts';
export { makeGrammar, ruleTuple, type Grammar } from './grammar/grammar.ts';
export { sampleRules, RULE_RNGS, type RuleRng } from './grammar/sampleRules.ts';
export { generate, tokensOf, type TreeBatch } from './grammar/generate.ts';
export { pMax, decodeIndex, internalNodeCount } from './grammar/count.ts';
export { parse, checkTokens, type Parse } from './grammar/validity.ts';
export { grammarToJson, grammarFromJson, type GrammarJson } from './grammar/serialize.ts';

export { linearSchedule, cosineSchedule, respace, makeSchedule, alphaBarAtFraction, type Schedule, type ScheduleName } from './noise/schedule.ts';
export {
  epsProcess,
  uniformProcess,
  maskProcess,
  gaussianProcess,
  makeProcess,
  controlAtTime,
  leafEvidence,
  leafLogLikelihood,
  MASK,
  PROCESS_NAMES,
  type NoiseProcess,
  type ProcessName,
  type Observation,
} from './noise/process.ts';

export { referenceBackend, upwardReference, marginalsReference, sampleReference } from './bp/reference.ts';
export type { BpBackend, UpwardMessages, Marginals, FloatArray } from './bp/types.ts';

export { runCell, batchSizeFor, type CellSpec, type CellOptions } from './experiment/forwardBackward.ts';
export { runGrid, runGridParallel, gridCells, type GridSpec, type GridProgress, type GridParallelOptions } from './experiment/grid.ts';
export { summariseCells, type ForwardBackwardRow } from './experiment/summary.ts';
export type { CellStats } from './experiment/cell.ts';
export { runCellParallel, CellWorkerPool, type ParallelCellOptions } from './experiment/parallelCell.ts';

export { fastBackend, fast32Backend, defaultBackend, resolveBackend, BACKEND_NAMES, type BackendName } from './bp/fast.ts';

export {
  meanFieldMap,
  meanFieldDerivative,
  criticalPoint,
  leafBelief,
  predictLevels,
  predictClassKept,
  type MeanFieldParams,
  type CriticalPoint,
} from './theory/meanField.ts';
export { effectiveLeafBelief, leafBeliefAtTime } from './theory/leafBelief.ts';
export type { PopulationOptions, PopulationResult } from './theory/population.ts';
export { populationDynamics } from './theory/quenchedPopulation.ts';
export { annealedPopulationDynamics } from './theory/annealedPopulation.ts';
export { populationThreshold, type ThresholdOptions, type ThresholdResult } from './theory/populationThreshold.ts';
export { deepGrammar } from './theory/deepGrammar.ts';

export { runSweep, readSweepFile, mergeSweepFiles, validateSweepConfig, type SweepConfig, type SweepConfigInput, type SweepResult } from './sweep/index.ts';

export { reportFigures, type FigureEntry } from './report/figureSet.ts';
export { renderSvg, svgToPng } from './report/render.ts';
export { reportHtml } from './report/html.ts';

export { createImageDiffusion, imageDiffusionToJson, originalBetas, type ImageDiffusion } from './images/diffusion/imageDiffusion.ts';
export { spaceTimesteps } from './images/diffusion/spacing.ts';
export { qSample, reverseStep, parseSampler, resolveVarianceMode, type SamplerSpec, type VarianceMode } from './images/diffusion/sampler.ts';
export { OnnxGraphBuilder } from './images/onnx/graphBuilder.ts';
export { OnnxDenoiser, type DenoiserOptions } from './images/models/denoiser.ts';
export { OnnxClassifier, top1, type ClassifierOptions } from './images/models/classifier.ts';
export { listImages, type ImageEntry } from './images/io/listImages.ts';
export { loadForDiffusion, toUint8, classifierInput, type ClassifierPreset } from './images/io/preprocess.ts';
export { openImagesExperiment, type ImagesExperiment, type ImagesExperimentInput } from './images/experiment/setup.ts';
export { runImagesExperiment, type ImagesProgress, type RunImagesOptions, type RunImagesResult } from './images/experiment/run.ts';
export { computeClassifierStats } from './images/experiment/stats.ts';
export { summariseImages, type ImagesSummaryRow } from './images/experiment/summary.ts';
export { readImagesResults, mergeImagesShards, type ImagesRunConfig, type UnitLine } from './images/experiment/resultsFile.ts';
export { writeImagesReport } from './report/imagesReport.ts';

export { initBpUnet, paramShapes, validateBpUnetConfig, timeEmbeddingConstants, type BpUnetConfig, type BpUnetParams, type LearnProcess } from './learn/bpUnet.ts';
export { discreteSchedule, type DiscreteSchedule } from './learn/schedule.ts';
export { publishedDataset, type PublishedDataset } from './learn/data.ts';
export { oneHot, type LogitsModel } from './learn/logitsModel.ts';
export { ReferenceModel, referenceLogits } from './learn/reference.ts';
export { bpUnetToOnnx } from './learn/onnxExport.ts';
export { OnnxRhmDenoiser, type RhmDenoiserOptions } from './learn/onnxDenoiser.ts';
export { sampleFromModel, noiseTo } from './learn/sampling.ts';
export { BpOracleModel } from './learn/bpOracle.ts';
export { validity, copies, ruleFrequencies, type ValidityReport, type RuleUsage } from './learn/evaluate.ts';
export { learnedForwardBackward, type LearnedForwardBackwardRow } from './learn/forwardBackward.ts';
export { evaluateModel, type ModelEvaluation } from './learn/evaluateModel.ts';
export { train, lossOn, type TrainOptions, type TrainResult } from './learn/tf/train.ts';
