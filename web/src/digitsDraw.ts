/**
 * Drawing for the digits view: 32×32 grey digits on canvases (scaled up by CSS, pixelated), the
 * strip of digits to pick from (one row per class), and one round trip's pictures with the
 * classifier's verdicts. DOM only; no computation.
 */
import type { ImageVerdict } from '../../src/images/experiment/roundTrip.ts';
import type { DigitsFile } from '../../src/mnist/digitsFile.ts';
import { DIGITS_CLASSES, DIGITS_SIZE } from './digitsModel.ts';

/** The uint8 pixels (HWC, one channel) as a canvas picture. */
export function paintDigit(canvas: HTMLCanvasElement, pixels: Uint8Array): void {
  canvas.width = DIGITS_SIZE;
  canvas.height = DIGITS_SIZE;
  const ctx = canvas.getContext('2d')!;
  const img = ctx.createImageData(DIGITS_SIZE, DIGITS_SIZE);
  for (let i = 0; i < pixels.length; i++) {
    img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = pixels[i];
    img.data[4 * i + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}

/** Pixels as base64 (the test hook data-pixels: what the CLI would write to its PNG). */
export function base64(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

export function digitPixels(d: DigitsFile, i: number): Uint8Array {
  const per = d.channels * d.size * d.size;
  return d.pixels.subarray(i * per, (i + 1) * per);
}

/** The strip: one row per class, its digits as buttons (data-testid="digit-choice", data-label, data-index). */
export function drawStrip(container: HTMLElement, d: DigitsFile, onPick: (i: number) => void): void {
  container.replaceChildren();
  const perClass = d.count / DIGITS_CLASSES;
  for (let c = 0; c < DIGITS_CLASSES; c++) {
    const row = document.createElement('div');
    row.className = 'digit-row';
    const label = document.createElement('span');
    label.className = 'digit-row-label';
    label.textContent = String(c);
    row.append(label);
    for (let k = 0; k < perClass; k++) {
      const i = c * perClass + k;
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'digit-choice';
      b.setAttribute('data-testid', 'digit-choice');
      b.dataset.label = String(d.labels[i]);
      b.dataset.index = String(i);
      b.setAttribute('aria-label', `digit ${d.labels[i]}, number ${k + 1}`);
      b.setAttribute('aria-pressed', 'false');
      const canvas = document.createElement('canvas');
      paintDigit(canvas, digitPixels(d, i));
      b.append(canvas);
      b.addEventListener('click', () => onPick(i));
      row.append(b);
    }
    container.append(row);
  }
}

/** Marks the picked digit in the strip. */
export function markPicked(container: HTMLElement, digit: number): void {
  container.querySelectorAll<HTMLButtonElement>('.digit-choice').forEach((b) => b.setAttribute('aria-pressed', String(Number(b.dataset.index) === digit)));
}

/** The 10 class probabilities as a small bar chart (the top class in the accent colour), with a tooltip per bar. */
export function probBars(probs: readonly number[], top: number): string {
  const w = 10;
  const bars = probs
    .map((p, c) => {
      const h = Math.max(0.5, 26 * p);
      return `<g><title>class ${c}: ${(100 * p).toFixed(1)} %</title><rect x="${c * w + 1}" y="${27 - h}" width="${w - 2}" height="${h}" class="${c === top ? 'top' : ''}"/><rect x="${c * w}" y="0" width="${w}" height="38" class="hit"/><text x="${c * w + w / 2}" y="36">${c}</text></g>`;
    })
    .join('');
  return `<svg class="probs" viewBox="0 0 ${w * probs.length} 38" role="img" aria-label="class probabilities: ${probs.map((p, c) => `${c} ${(100 * p).toFixed(0)} %`).join(', ')}">${bars}</svg>`;
}

/** A verdict as words: "7 · 98 %". */
export function verdictText(v: ImageVerdict): string {
  return `${v.top1} · ${(100 * v.probs[v.top1]).toFixed(0)} %`;
}

/** A figure with a canvas picture, its test hooks and a caption; returns the canvas. */
export function pictureFigure(parent: HTMLElement, className: string, testid: string | null, pixels: Uint8Array, caption: string): HTMLCanvasElement {
  const fig = document.createElement('figure');
  fig.className = className;
  const canvas = document.createElement('canvas');
  if (testid) canvas.setAttribute('data-testid', testid);
  canvas.dataset.pixels = base64(pixels);
  paintDigit(canvas, pixels);
  const cap = document.createElement('figcaption');
  cap.innerHTML = caption;
  fig.append(canvas, cap);
  parent.append(fig);
  return canvas;
}

/** Writes a verdict onto a picture's test hooks: data-class, data-prob (of that class), data-pixel-change. */
export function tagVerdict(canvas: HTMLCanvasElement, v: ImageVerdict): void {
  canvas.dataset.class = String(v.top1);
  canvas.dataset.prob = v.probs[v.top1].toFixed(6);
  canvas.dataset.pixelChange = v.pixelChange.toFixed(6);
  canvas.dataset.probs = v.probs.map((p) => p.toFixed(6)).join(',');
}
