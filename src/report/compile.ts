import type { Spec } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

/**
 * Compiles a figure's vega-lite spec to the vega spec that is rendered (in Node and in a browser
 * alike). Adds what vega-lite cannot express: several legends in one corner of the plot stack
 * downwards instead of spreading across it.
 */
export function toVegaSpec(spec: TopLevelSpec, warnings?: string[]): Spec {
  // vega-lite logs to the console by default; a library never prints, so warnings are collected.
  const sink = warnings ?? [];
  const logger = {
    level: () => logger,
    error: (...args: unknown[]) => (sink.push(args.map(String).join(' ')), logger),
    warn: (...args: unknown[]) => (sink.push(args.map(String).join(' ')), logger),
    info: () => logger,
    debug: () => logger,
  } as unknown as Parameters<typeof compile>[1] extends infer O ? (O extends { logger?: infer L } ? L : never) : never;
  const vg = compile(spec, { logger }).spec;
  const corner = { direction: 'vertical' as const, margin: 6 };
  vg.config = {
    ...vg.config,
    legend: { ...vg.config?.legend, layout: { 'top-left': corner, 'top-right': corner, 'bottom-left': corner, 'bottom-right': corner } },
  };
  return vg;
}
