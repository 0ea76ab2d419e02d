import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import * as hierdiff from '../src/index.ts';

/** Every runtime name of the front door. Change it on purpose, with src/index.ts (types are checked by tsc). */
const EXPORTS = [
  'BACKEND_NAMES',
  'BpOracleModel',
  'CellWorkerPool',
  'InconsistentEvidenceError',
  'MASK',
  'OnnxClassifier',
  'OnnxDenoiser',
  'OnnxRhmDenoiser',
  'PROCESS_NAMES',
  'ParamError',
  'RULE_RNGS',
  'ReferenceModel',
  'annealedPopulationDynamics',
  'bpUnetToOnnx',
  'classifyImages',
  'copies',
  'cosineSchedule',
  'createImageDiffusion',
  'createRng',
  'criticalPoint',
  'decodeIndex',
  'deepGrammar',
  'defaultBackend',
  'discreteSchedule',
  'effectiveLeafBelief',
  'evaluateModel',
  'fast32Backend',
  'fastBackend',
  'frechetDistance',
  'gaussianFit',
  'generate',
  'grammarFromJson',
  'grammarToJson',
  'initBpUnet',
  'leafBelief',
  'leafCount',
  'leafLogLikelihood',
  'learnedForwardBackward',
  'linearSchedule',
  'listImages',
  'makeGrammar',
  'makeProcess',
  'makeSchedule',
  'meanFieldCriticalNoise',
  'meanFieldDerivative',
  'meanFieldMap',
  'meanFieldPrediction',
  'meanFieldTheory',
  'mergeImagesShards',
  'mergeSweepFiles',
  'openImagesExperiment',
  'pMax',
  'parse',
  'populationCurves',
  'populationDynamics',
  'populationLevels',
  'populationPrediction',
  'populationThreshold',
  'predictClassKept',
  'predictLevels',
  'publishedDataset',
  'readImagesResults',
  'readSweepFile',
  'referenceBackend',
  'renderSvg',
  'reportFigures',
  'reportHtml',
  'resolveBackend',
  'respace',
  'ruleFrequencies',
  'runCell',
  'runCellParallel',
  'runGrid',
  'runGridParallel',
  'runImagesExperiment',
  'runSweep',
  'sampleFromModel',
  'sampleRules',
  'scoreClassified',
  'scoreImages',
  'summariseCells',
  'summariseImages',
  'svgToPng',
  'symbolsAt',
  'train',
  'validateParams',
  'validateSweepConfig',
  'validity',
  'writeImagesReport',
];

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * Named types declared in src/ that an export of src/index.ts uses (a function's parameters and
 * result, a class's public members, an interface's fields) but src/index.ts does not export.
 */
function unexportedTypes(): string[] {
  const entry = join(ROOT, 'src', 'index.ts');
  const program = ts.createProgram([entry], {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    allowImportingTsExtensions: true,
    noEmit: true,
    strict: true,
    skipLibCheck: true,
    types: ['node'],
  });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(entry)!;
  const exported = checker.getExportsOfModule(checker.getSymbolAtLocation(source)!);
  const names = new Set(exported.map((s) => s.name));
  const named = ts.SymbolFlags.Interface | ts.SymbolFlags.TypeAlias | ts.SymbolFlags.Class | ts.SymbolFlags.Enum;
  const missing = new Set<string>();
  const seen = new Set<ts.Type>();
  const visit = (t: ts.Type): void => {
    const sym = t.aliasSymbol ?? t.getSymbol();
    const file = sym?.declarations?.[0]?.getSourceFile().fileName ?? '';
    if (sym && sym.flags & named && file.startsWith(join(ROOT, 'src')) && !names.has(sym.name)) missing.add(sym.name);
    if (seen.has(t)) return;
    seen.add(t);
    if (t.isUnionOrIntersection()) t.types.forEach(visit);
    (t.aliasTypeArguments ?? []).forEach(visit);
    if (sym && sym.flags & (ts.SymbolFlags.Interface | ts.SymbolFlags.Class) && (t as ts.TypeReference).target) checker.getTypeArguments(t as ts.TypeReference).forEach(visit);
    for (const sig of [...t.getCallSignatures(), ...t.getConstructSignatures()]) {
      for (const p of sig.getParameters()) visit(checker.getTypeOfSymbolAtLocation(p, source));
      visit(sig.getReturnType());
    }
  };
  const members = (t: ts.Type, at: ts.Node) => {
    for (const p of t.getProperties()) {
      const decl = p.valueDeclaration;
      if (decl && ts.getCombinedModifierFlags(decl) & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) continue;
      visit(checker.getTypeOfSymbolAtLocation(p, at));
    }
  };
  for (const s of exported) {
    const sym = s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s;
    const decl = sym.declarations![0];
    if (sym.flags & (ts.SymbolFlags.Function | ts.SymbolFlags.Variable | ts.SymbolFlags.Class)) visit(checker.getTypeOfSymbolAtLocation(sym, decl));
    if (sym.flags & (ts.SymbolFlags.Interface | ts.SymbolFlags.TypeAlias | ts.SymbolFlags.Class)) {
      const t = checker.getDeclaredTypeOfSymbol(sym);
      members(t, decl);
      if (t.isUnion()) t.types.forEach(visit);
    }
  }
  return [...missing].sort();
}

/**
 * Run in a child: counts the file system calls made while `src/index.ts` is imported whose stack
 * holds a frame of our own code (not node internals, not node_modules: dependencies may read
 * their own files). A data: module that reads a file afterwards proves the counting works.
 */
const PROBE = `
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
const calls = [];
const ours = (frame) => !/\\(node:|^\\s*at node:|\\/node_modules\\/|\\[eval/.test(frame);
const watch = (owner, name) => {
  const original = owner[name];
  owner[name] = function (...args) {
    const frames = new Error().stack.split('\\n').slice(2);
    if (frames.some(ours)) calls.push(name + ' ' + String(args[0]) + ' ' + frames.find(ours).trim());
    return original.apply(this, args);
  };
};
for (const name of ['readFileSync', 'openSync', 'readdirSync', 'statSync', 'existsSync', 'readFile', 'open', 'readdir']) watch(fs, name);
for (const name of ['readFile', 'open', 'readdir']) watch(fs.promises, name);
syncBuiltinESMExports();
await import('./src/index.ts');
const atImport = calls.length;
await import('data:text/javascript,import { readFileSync } from "node:fs"; readFileSync("package.json");');
console.log(JSON.stringify({ atImport: calls.slice(0, atImport), control: calls.length - atImport }));
`;

describe('the front door (src/index.ts)', () => {
  it('exports the stable API and nothing else', () => {
    expect(Object.keys(hierdiff).sort()).toEqual(EXPORTS);
  });

  it('exports the types its exports take and return', () => {
    expect(unexportedTypes()).toEqual([]);
  }, 60_000);

  it('does no file I/O when imported', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', PROBE], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    const { atImport, control } = JSON.parse(r.stdout.trim().split('\n').pop()!) as { atImport: string[]; control: number };
    expect(control).toBeGreaterThan(0);
    expect(atImport).toEqual([]);
  }, 120_000);
});
