import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Resvg } from '@resvg/resvg-js';
import type { TopLevelSpec } from 'vega-lite';
import { describe, expect, it } from 'vitest';
import { toVegaSpec } from '../src/report/compile.ts';
import { classKeptFigure } from '../src/report/figures/classKept.ts';
import { collapseFigure } from '../src/report/figures/collapse.ts';
import { levelKeptFigure } from '../src/report/figures/levels.ts';
import { meanFieldMapFigure } from '../src/report/figures/meanFieldMap.ts';
import { susceptibilityFigure } from '../src/report/figures/susceptibility.ts';
import { reportFigures } from '../src/report/figureSet.ts';
import { loadFontMetrics } from '../src/report/fontMetrics.ts';
import { escapeHtml, reportHtml } from '../src/report/html.ts';
import { fontFiles, renderSvg, svgToPng } from '../src/report/render.ts';
import { summariseCells } from '../src/experiment/summary.ts';
import type { CellStats } from '../src/experiment/cell.ts';
import { EPS_LEVELS, GAUSS_LEVELS, syntheticMap, syntheticRows, syntheticTheory } from './reportFixtures.ts';

const SNAPSHOTS = fileURLToPath(new URL('./figures/', import.meta.url));

/**
 * Rounds the numbers in an SVG's attributes (coordinates, paths, transforms) to 1 decimal, a
 * tenth of a pixel, so a snapshot does not break on the last bits of floating-point layout
 * arithmetic; text (tick labels, titles) is kept as drawn.
 */
function normaliseSvg(svg: string): string {
  const round = (x: string) => {
    const r = Math.round(Number(x) * 10) / 10;
    return (Object.is(r, -0) ? 0 : r).toString();
  };
  return svg.replace(/="([^"]*)"/g, (_, value: string) => `="${value.replace(/-?\d+\.\d+(e-?\d+)?/g, round)}"`);
}

/** CI runs with CI=true (most CI systems set it); "false" and "0" count as unset. */
const IN_CI = process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false' && process.env.CI !== '0';

/**
 * Compares a figure's normalised SVG with test/figures/<name>.svg. UPDATE_SNAPSHOTS=1 rewrites it;
 * a mismatch writes <name>-changed.svg next to it for review and fails. A missing snapshot fails
 * in CI (CI set), after writing the new figure as <name>-changed.svg for review, so a figure
 * whose snapshot was never committed cannot pass there; locally (CI unset) it is written as
 * <name>.svg and the test passes (review and commit it).
 */
async function expectSnapshot(name: string, spec: TopLevelSpec, { update = process.env.UPDATE_SNAPSHOTS === '1', ci = IN_CI } = {}): Promise<void> {
  const warnings: string[] = [];
  toVegaSpec(spec, warnings);
  expect(warnings, `vega-lite warnings for ${name}`).toEqual([]);
  const svg = normaliseSvg(await renderSvg(spec));
  const path = `${SNAPSHOTS}${name}.svg`;
  const changed = `${SNAPSHOTS}${name}-changed.svg`;
  mkdirSync(SNAPSHOTS, { recursive: true });
  if (!existsSync(path) && !update && ci) {
    writeFileSync(changed, svg);
    expect.fail(
      `figure ${name} has no snapshot test/figures/${name}.svg (a missing snapshot fails in CI); review test/figures/${name}-changed.svg and commit it as ${name}.svg (or UPDATE_SNAPSHOTS=1 writes it)`,
    );
  }
  if (!existsSync(path) || update) {
    writeFileSync(path, svg);
    rmSync(changed, { force: true });
    return;
  }
  if (readFileSync(path, 'utf8') === svg) {
    rmSync(changed, { force: true });
    return;
  }
  writeFileSync(changed, svg);
  expect.fail(`figure ${name} differs from test/figures/${name}.svg; review test/figures/${name}-changed.svg (UPDATE_SNAPSHOTS=1 accepts it)`);
}

const rows = syntheticRows();

describe('figure snapshots (synthetic rows, numbers rounded)', () => {
  it('class kept, ε-process, with theory and critical rule', async () => {
    await expectSnapshot(
      'class-kept-eps',
      classKeptFigure(rows, { process: 'eps', theory: { label: 'mean-field theory', points: syntheticTheory(EPS_LEVELS, 0.73) }, critical: { label: 'mean-field ε* = 0.731', value: 0.731 } }),
    );
  });
  it('class kept, gaussian (t/T axis), with population dynamics', async () => {
    await expectSnapshot('class-kept-gaussian', classKeptFigure(rows, { process: 'gaussian', theory: { label: 'population dynamics', points: syntheticTheory(GAUSS_LEVELS, 0.11) } }));
  });
  it('level profile at one depth, with theory', async () => {
    const theory = {
      label: 'population dynamics',
      points: rows.filter((r) => r.process === 'eps' && r.depth === 6).flatMap((r) => r.levelKept.map((value, level) => ({ level, noise: r.noise, value: Math.max(0, value - 0.02) }))),
    };
    await expectSnapshot('levels-eps', levelKeptFigure(rows, { process: 'eps', depth: 6, theory }));
  });
  it('finite-size collapse with a scaling function', async () => {
    const scaling = {
      label: 'mean-field scaling function',
      points: Array.from({ length: 17 }, (_, i) => ({ x: -4 + i / 2, value: Math.round((0.03 + 0.97 / (1 + Math.exp(2 * (-4 + i / 2)))) * 100) / 100 })),
    };
    await expectSnapshot('collapse-eps', collapseFigure(rows, { process: 'eps', critical: 0.73, lambda: 1.44, scaling }));
  });
  it('susceptibility with error bands and critical rule', async () => {
    await expectSnapshot('chi-eps', susceptibilityFigure(rows, { process: 'eps', critical: { label: 'mean-field ε* = 0.731', value: 0.731 } }));
  });
  it('mean-field map with fixed points and cobwebs', async () => {
    await expectSnapshot('mean-field-map', meanFieldMapFigure(syntheticMap()));
  });
});

describe('snapshot check', () => {
  it('fails on a changed figure and writes <name>-changed.svg for review', async () => {
    const path = `${SNAPSHOTS}probe.svg`;
    const changed = `${SNAPSHOTS}probe-changed.svg`;
    writeFileSync(path, '<svg>stale</svg>');
    try {
      await expect(expectSnapshot('probe', meanFieldMapFigure(syntheticMap()), { update: false })).rejects.toThrow(/differs/);
      expect(readFileSync(changed, 'utf8')).toContain('<svg');
    } finally {
      rmSync(path, { force: true });
      rmSync(changed, { force: true });
    }
  });
  it('a missing snapshot fails in CI and writes <name>-changed.svg, not the snapshot; without CI it writes the snapshot and passes', async () => {
    const path = `${SNAPSHOTS}probe-missing.svg`;
    const changed = `${SNAPSHOTS}probe-missing-changed.svg`;
    rmSync(path, { force: true });
    try {
      await expect(expectSnapshot('probe-missing', meanFieldMapFigure(syntheticMap()), { update: false, ci: true })).rejects.toThrow(/no snapshot/);
      expect(existsSync(path)).toBe(false);
      expect(readFileSync(changed, 'utf8')).toContain('<svg');
      await expectSnapshot('probe-missing', meanFieldMapFigure(syntheticMap()), { update: false, ci: false });
      expect(readFileSync(path, 'utf8')).toContain('<svg');
      expect(existsSync(changed)).toBe(false);
    } finally {
      rmSync(path, { force: true });
      rmSync(changed, { force: true });
    }
  });
});

describe('figure functions', () => {
  it('draw only the requested process and keep the noise axis to the data', () => {
    const spec = classKeptFigure(rows, { process: 'gaussian' }) as { layer: { data: { values: { x: number }[] } }[] };
    const xs = spec.layer[0].data.values.map((d) => d.x);
    expect(Math.min(...xs)).toBe(0.05);
    expect(Math.max(...xs)).toBe(0.2);
  });
  it('the figure set leaves out figures whose data are absent', () => {
    const epsOnly = rows.filter((r) => r.process === 'eps').map((r) => ({ ...r, chi: null }));
    const names = reportFigures({ rows: epsOnly, processes: ['eps'], scheduleName: 'linear', meanField: null, population: [] }).map((f) => f.name);
    expect(names).toEqual(['class-kept-eps', 'levels-eps']);
  });
});

describe('rendering', () => {
  it('measures text like the PNG renderer (DejaVu advance widths within 5% of resvg’s ink box, which omits the side bearings)', () => {
    const metrics = loadFontMetrics(fontFiles()[0]);
    for (const text of ['class kept P₀ = Pr[ĉ = c]', 'noise level ε (ε-process)', 'λᴸ ℓ Σᵢⱼ']) {
      const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="600" height="40"><text x="0" y="30" font-family="DejaVu Sans" font-size="12">${escapeHtml(text)}</text></svg>`;
      const bbox = new Resvg(svg, { font: { fontFiles: fontFiles(), loadSystemFonts: false, defaultFontFamily: 'DejaVu Sans' } }).getBBox();
      expect(bbox).toBeDefined();
      expect(Math.abs(metrics.width(text, 12) - bbox!.width) / bbox!.width).toBeLessThan(0.05);
    }
  });
  it('PNG bytes are the same on every render (fonts from the bundled file only)', async () => {
    const svg = await renderSvg(meanFieldMapFigure(syntheticMap()));
    const a = svgToPng(svg);
    const b = svgToPng(svg);
    expect(Buffer.from(a.subarray(0, 8)).toString('hex')).toBe('89504e470d0a1a0a');
    expect(Buffer.compare(Buffer.from(a), Buffer.from(b))).toBe(0);
  });
});

describe('report page and rows', () => {
  it('embeds each figure, escapes text and shows the command', () => {
    const html = reportHtml({
      title: 'T <1>',
      about: 'on <these> data',
      command: 'hierdiff reproduce --quick',
      tool: 'hierdiff 0.0.0',
      parameters: [['a & b', '1']],
      theory: [],
      figures: [{ name: 'f', title: 'Fig', caption: 'look <here>', svg: '<svg xmlns="http://www.w3.org/2000/svg"/>', links: ['figures/f.png'] }],
    });
    expect(html).toContain('<title>T &lt;1&gt;</title>');
    expect(html).toContain('<pre>hierdiff reproduce --quick</pre>');
    // Each report says what its run is (an image or learned-denoiser run is not exact BP on the RHM).
    expect(html).toContain('PNAS 2025) on &lt;these&gt; data. Made by');
    expect(html).not.toContain('belief propagation');
    expect(html).toContain('a &amp; b');
    expect(html).toContain('look &lt;here&gt;');
    expect(html).toContain('data:image/svg+xml;base64,');
    expect(html).toContain('href="figures/f.png"');
  });
  it('χ standard error comes from the spread over grammar seeds', () => {
    const one = () => ({ count: 1, sum: 0.5, sumSq: 0.25 });
    const cell = (grammarSeed: number, num: number): CellStats => ({
      grammarSeed,
      depth: 2,
      process: 'eps',
      noise: 0.5,
      control: 0.5,
      samples: 1,
      trajectories: 4,
      classMarginal: one(),
      classSampled: one(),
      levelMarginal: [],
      levelSampled: [0, 1, 2].map(one),
      chiNumerator: num,
      chiDenominator: 1,
    });
    const [r] = summariseCells([cell(0, 2), cell(1, 4)]);
    expect(r.chi).toBeCloseTo(3, 12);
    expect(r.chiSE).toBeCloseTo(1, 12); // sd √2 over √2 seeds
    expect(summariseCells([cell(0, 2)])[0].chiSE).toBeNull();
  });
});
