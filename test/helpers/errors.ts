/** Shared assertions about the errors hierdiff promises: a typed ParamError with a one-line message, or exit 2 with one stderr line. */
import { expect } from 'vitest';
import { ParamError } from '../../src/core/errors.ts';

function checked(e: unknown): ParamError {
  expect(e).toBeInstanceOf(ParamError);
  expect((e as Error).message).not.toContain('\n');
  return e as ParamError;
}

/** The ParamError `f` throws (fails the test if it throws nothing, something else, or a multi-line message). */
export function paramError(f: () => unknown): ParamError {
  try {
    f();
  } catch (e) {
    return checked(e);
  }
  throw new Error('expected a ParamError');
}

/** The ParamError a promise (or an async call) rejects with; same checks as {@link paramError}. */
export async function paramErrorAsync(p: Promise<unknown> | (() => unknown)): Promise<ParamError> {
  const promise = typeof p === 'function' ? Promise.resolve().then(p) : p;
  const e = await promise.then(
    () => undefined,
    (err: unknown) => err,
  );
  if (e === undefined) throw new Error('expected a ParamError');
  return checked(e);
}

/** A CLI run refused bad input: exit 2 and exactly one stderr line `hierdiff: …` matching `pattern`. */
export function expectOneLineError(r: { code: number | null; stderr: string }, pattern: RegExp): void {
  expect(r.code, r.stderr).toBe(2);
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^hierdiff: /);
  expect(lines[0]).toMatch(pattern);
}
