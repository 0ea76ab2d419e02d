import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import type { TopLevelSpec } from 'vega-lite';
import { toVegaSpec } from './compile.ts';
import { loadFontMetrics, type FontMetrics } from './fontMetrics.ts';
import { FONT_FAMILY } from './figures/font.ts';

/** The one font family every figure uses (figures/font.ts); its files are loaded explicitly into the PNG renderer. */
export { FONT_FAMILY };

const require = createRequire(import.meta.url);

/** Absolute paths of the DejaVu Sans files shipped by the `dejavu-fonts-ttf` package. */
export function fontFiles(): string[] {
  const dir = join(dirname(require.resolve('dejavu-fonts-ttf/package.json')), 'ttf');
  return ['DejaVuSans.ttf', 'DejaVuSans-Bold.ttf', 'DejaVuSans-Oblique.ttf'].map((f) => join(dir, f));
}

let metrics: { regular: FontMetrics; bold: FontMetrics; oblique: FontMetrics } | undefined;

interface TextItem {
  fontSize?: number;
  fontWeight?: string | number;
  fontStyle?: string;
  limit?: number;
}

/**
 * Text width as the PNG renderer will draw it, from the DejaVu advance widths. Without a canvas
 * vega would guess 0.8·size per character (≈ 40% too wide), leaving legends and margins too big.
 */
function measureText(item: TextItem, text: unknown): number {
  if (!metrics) {
    const [regular, bold, oblique] = fontFiles().map(loadFontMetrics);
    metrics = { regular, bold, oblique };
  }
  const line = text == null ? '' : String(text).trim();
  const size = item.fontSize != null ? Number(item.fontSize) || 0 : 11;
  const weight = item.fontWeight;
  const font = weight === 'bold' || (typeof weight === 'number' && weight >= 600) ? metrics.bold : item.fontStyle === 'italic' ? metrics.oblique : metrics.regular;
  const width = font.width(line, size);
  // vega truncates text longer than its limit with an ellipsis: the drawn width is then the limit.
  return item.limit && item.limit > 0 ? Math.min(width, item.limit) : width;
}

/**
 * Renders a vega-lite spec to an SVG string with vega's headless view (no DOM, no canvas). Text is
 * measured with the DejaVu Sans metrics, so the layout is the same on every machine and matches
 * the PNG.
 */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  (vega as unknown as { textMetrics: { width: (item: TextItem, text: unknown) => number } }).textMetrics.width = measureText;
  // A library never prints: vega's own logger is silenced (failures still throw from toSVG).
  const view = new vega.View(vega.parse(toVegaSpec(spec)), { renderer: 'none', logLevel: vega.None });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/**
 * Rasterises an SVG to PNG with resvg, using only the bundled DejaVu font files (system fonts are
 * never consulted), so the PNG bytes are identical on every machine. `scale` multiplies the SVG's
 * own size (2 gives a sharp picture on high-density screens).
 */
export function svgToPng(svg: string, scale = 2): Uint8Array {
  const resvg = new Resvg(svg, {
    fitTo: { mode: 'zoom', value: scale },
    background: 'white',
    font: { fontFiles: fontFiles(), loadSystemFonts: false, defaultFontFamily: FONT_FAMILY },
  });
  return resvg.render().asPng();
}
