/**
 * Drawing of one datum as SVG markup: the clean latent tree, the noised leaves and a posterior
 * sample, each tree as an s-ary "icicle" (level ℓ is a row of s^ℓ cells, a node sits above its s
 * children), so that every leaf stays drawn even at L = 8 (256 leaves) and deeper. A cell's colour
 * is its symbol; its shade is the exact BP marginal of that symbol (vivid: sure, pale: unsure).
 * Pure string building (no DOM), so it is cheap and testable.
 */
import type { DatumResult } from './protocol.ts';

const TABLEAU = ['#4c78a8', '#f58518', '#e45756', '#72b7b2', '#54a24b', '#eeca3b', '#b279a2', '#ff9da6', '#9d755d', '#bab0ac'];

/** Colour of symbol a of an alphabet of size n (#rrggbb): Tableau 10 when it fits, else evenly spread hues. */
export function symbolColour(a: number, n: number): string {
  if (n <= TABLEAU.length) return TABLEAU[a % TABLEAU.length];
  return hslHex((a * 360) / n + 15, 0.62, a % 2 === 0 ? 0.48 : 0.64);
}

function hslHex(hue: number, sat: number, light: number): string {
  const k = (n: number) => (n + hue / 30) % 12;
  const amp = sat * Math.min(light, 1 - light);
  const f = (n: number) => light - amp * Math.max(-1, Math.min(k(n) - 3, 9 - k(n), 1));
  return `#${[f(0), f(8), f(4)]
    .map((x) =>
      Math.round(x * 255)
        .toString(16)
        .padStart(2, '0'),
    )
    .join('')}`;
}

export const MASK_COLOUR = '#9a9a9a';

/** Strength of the white veil over a cell of belief μ: 0 when sure (μ = 1), strong near μ = 0. */
export function veil(mu: number): number {
  const m = Math.min(1, Math.max(0, mu));
  return Math.round((1 - m) * 0.82 * 1000) / 1000;
}

/** A #rrggbb colour washed towards white by `amount` ∈ [0, 1] (the shade of a cell). */
export function shade(hex: string, amount: number): string {
  const c = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  return `#${c
    .map((x) =>
      Math.round(x + (255 - x) * amount)
        .toString(16)
        .padStart(2, '0'),
    )
    .join('')}`;
}

interface Cell {
  x: number;
  y: number;
  w: number;
  h: number;
  fill: string;
  veil: number;
  label: string;
  outline: boolean;
  attrs: string;
}

/**
 * One cell: a single rect (it carries the data attributes and the tooltip text), its label when
 * it fits, and for a changed cell an outline, or a dark bar under it when the cell is too thin.
 * One element per cell keeps a 256-leaf datum quick to redraw.
 */
function cellMarkup(c: Cell): string {
  const pad = c.w > 6 ? 1 : c.w > 2.5 ? 0.5 : 0;
  const x = c.x + pad;
  const w = Math.max(0.6, c.w - 2 * pad);
  const fontSize = Math.min(12, c.h - 4, w * 0.75);
  const text = c.label && fontSize >= 7 && w >= c.label.length * fontSize * 0.62 ? `<text x="${r(x + w / 2)}" y="${r(c.y + c.h / 2)}" font-size="${r(fontSize)}">${c.label}</text>` : '';
  const outline = c.outline && w >= 7 ? ` stroke="#111" stroke-width="2"` : '';
  const bar = c.outline && w < 7 ? `<rect class="changed-bar" x="${r(x)}" y="${r(c.y + c.h - 3)}" width="${r(w)}" height="3" fill="#111"/>` : '';
  const fill = c.veil > 0 ? shade(c.fill, c.veil) : c.fill;
  return `<rect ${c.attrs} x="${r(x)}" y="${r(c.y)}" width="${r(w)}" height="${r(c.h)}" fill="${fill}"${outline}/>` + text + bar;
}

function r(x: number): string {
  return String(Math.round(x * 100) / 100);
}

function heading(y: number, text: string): string {
  return `<text class="heading" x="2" y="${r(y)}">${text}</text>`;
}

export interface DatumDrawing {
  svg: string;
  height: number;
}

/**
 * The SVG markup of a datum. `s`: branching; `v`: vocabulary; `classes`: n_c. Leaves of the clean
 * tree carry data-testid="leaf", noised leaves "noised-leaf", posterior leaves "posterior-leaf";
 * every leaf has data-symbol (the symbol index, or "mask").
 */
export function drawDatum(d: DatumResult, o: { s: number; v: number; classes: number; width: number; processLabel: string }): DatumDrawing {
  const L = d.truth.length - 1;
  const W = o.width;
  const rowH = L <= 4 ? 24 : L <= 6 ? 19 : 15;
  const rootH = 30;
  const headingH = 20;
  const parts: string[] = [];
  let y = 0;

  // A gutter on the left names the levels (ℓ = 0 root … L leaves).
  const G = W < 560 ? 16 : 24;
  const CW = W - G;
  const levelLabel = (l: number, h: number) => `<text class="level" x="${r(G - 3)}" y="${r(y + h / 2)}">${l}</text>`;
  const tree = (levels: number[][], belief: number[][], kind: 'truth' | 'posterior') => {
    for (let l = 0; l <= L; l++) {
      const row = levels[l];
      const w = CW / row.length;
      const h = l === 0 ? rootH : rowH;
      const alphabet = l === 0 ? o.classes : o.v;
      for (let i = 0; i < row.length; i++) {
        const a = row[i];
        const mu = belief[l][i];
        const changed = kind === 'posterior' && a !== d.truth[l][i];
        const isLeaf = l === L;
        const testid = isLeaf ? (kind === 'truth' ? ' data-testid="leaf"' : ' data-testid="posterior-leaf"') : '';
        const label = l === 0 ? (kind === 'truth' ? `class ${a}` : `class ${a}${changed ? ' (changed)' : ' (kept)'}`) : String(a);
        parts.push(
          cellMarkup({
            x: G + i * w,
            y,
            w,
            h,
            fill: symbolColour(a, alphabet),
            veil: veil(mu),
            label,
            outline: changed,
            attrs: `class="node ${kind}${changed ? ' changed' : ''}" data-level="${l}" data-node="${i}" data-symbol="${a}"${testid} data-belief="${mu.toFixed(3)}"${changed ? ` data-clean="${d.truth[l][i]}"` : ''}`,
          }),
        );
      }
      parts.push(levelLabel(l, h));
      y += h + 1;
    }
  };

  const narrow = W < 560;
  parts.push(heading(y + 14, narrow ? 'Clean datum (root = class, bottom = tokens)' : 'Clean datum: its latent tree, level 0 = root (the class) on top, level L = tokens (leaves) at the bottom'));
  y += headingH;
  tree(d.truth, d.trueBelief, 'truth');

  y += 8;
  parts.push(heading(y + 14, narrow ? `Noised leaves (${o.processLabel})` : `Noised leaves x_t (${o.processLabel}): what the backward process sees; outlined = not the clean token`));
  y += headingH;
  const leaves = d.noised.length;
  const lw = CW / leaves;
  for (let i = 0; i < leaves; i++) {
    const a = d.noised[i];
    const masked = a < 0;
    const ev = d.noisedEvidence[i];
    parts.push(
      cellMarkup({
        x: G + i * lw,
        y,
        w: lw,
        h: rowH + 4,
        fill: masked ? MASK_COLOUR : symbolColour(a, o.v),
        veil: masked ? 0 : veil(ev),
        label: masked ? '?' : String(a),
        outline: !masked && a !== d.truth[L][i],
        attrs: `class="node noised${masked ? ' masked' : ''}" data-testid="noised-leaf" data-node="${i}" data-symbol="${masked ? 'mask' : a}" data-evidence="${ev.toFixed(3)}"${!masked && a !== d.truth[L][i] ? ` data-clean="${d.truth[L][i]}"` : ''}`,
      }),
    );
  }
  parts.push(`<text class="level" x="${r(G - 3)}" y="${r(y + (rowH + 4) / 2)}">x<tspan baseline-shift="sub" font-size="7">t</tspan></text>`);
  y += rowH + 4 + 9;

  parts.push(heading(y + 14, narrow ? 'Posterior sample (outlined = changed)' : 'Posterior sample (backward process): black outline or bar = differs from the clean tree'));
  y += headingH;
  tree(d.posterior, d.posteriorBelief, 'posterior');

  const height = Math.ceil(y + 2);
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" class="datum-svg" width="${r(W)}" height="${height}" viewBox="0 0 ${r(W)} ${height}" role="img" aria-label="latent tree, noised leaves and posterior sample">` +
    parts.join('') +
    '</svg>';
  return { svg, height };
}

/** Legend markup: the symbol colours and the shade scale. */
export function legendMarkup(v: number, classes: number, masked: boolean): string {
  const sw = (fill: string, label: string, extra = '') => `<span class="swatch"${extra}><i style="background:${fill}"></i>${label}</span>`;
  const symbols = Array.from({ length: v }, (_, a) => sw(symbolColour(a, v), String(a))).join('');
  const classesNote = classes === v ? 'classes (root) use the same colours' : `classes 0–${classes - 1} (root) use the colours of symbols 0–${classes - 1}`;
  const shades = [1, 0.75, 0.5, 0.25, 0.05].map((mu) => `<span class="swatch"><i style="background:${shade(symbolColour(0, v), veil(mu))}"></i>μ = ${mu}</span>`).join('');
  return (
    `<div class="legend-row"><span class="legend-title">symbols</span>${symbols}${masked ? sw(MASK_COLOUR, 'masked') : ''}</div>` +
    `<div class="legend-row note">${classesNote}</div>` +
    `<div class="legend-row"><span class="legend-title">shade = BP marginal μ of the drawn symbol</span>${shades}</div>`
  );
}

/** The tooltip of a cell of the datum view, from its data attributes (kept off the markup: one string per hover, not per cell). */
export function cellTip(data: Readonly<Record<string, string | undefined>>, depth: number): string {
  const node = data.node ?? '?';
  const clean = data.clean !== undefined ? ` (clean: ${data.clean})` : '';
  if (data.evidence !== undefined) {
    return data.symbol === 'mask' ? `noised leaf ${node}: masked` : `noised leaf ${node}: observed ${data.symbol}${clean}; evidence on it λ = ${data.evidence}`;
  }
  const l = Number(data.level);
  const where = `level ${l}${l === 0 ? ' (root)' : l === depth ? ' (leaf)' : ''}, node ${node}`;
  const what = l === 0 ? `class ${data.symbol}` : `symbol ${data.symbol}`;
  const changed = data.clean !== undefined ? `; changed${clean}` : '';
  return `${where}: ${what}; BP marginal μ = ${data.belief}${changed}`;
}
