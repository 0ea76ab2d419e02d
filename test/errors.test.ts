import { describe, expect, it } from 'vitest';
import { errorFromWire, errorToWire, InconsistentEvidenceError, ParamError } from '../src/core/errors.ts';

/** What postMessage does to a value. */
const clone = <T>(x: T): T => structuredClone(x);

describe('typed errors across worker threads', () => {
  it('ParamError and InconsistentEvidenceError keep their class and fields through a structured clone', () => {
    const p = errorFromWire(clone(errorToWire(new ParamError('samples', 'invalid samples 0 (expected an integer >= 1)'))));
    expect(p).toBeInstanceOf(ParamError);
    expect((p as ParamError).param).toBe('samples');
    expect(p.message).toBe('invalid samples 0 (expected an integer >= 1)');
    const i = errorFromWire(clone(errorToWire(new InconsistentEvidenceError(3, 2, 5))));
    expect(i).toBeInstanceOf(InconsistentEvidenceError);
    expect([(i as InconsistentEvidenceError).datum, (i as InconsistentEvidenceError).level, (i as InconsistentEvidenceError).node]).toEqual([3, 2, 5]);
  });

  it('other errors keep their name and message', () => {
    const e = errorFromWire(clone(errorToWire(new RangeError('out of range'))));
    expect(e.name).toBe('RangeError');
    expect(e.message).toBe('out of range');
    expect(errorFromWire(errorToWire('plain string')).message).toBe('plain string');
  });
});
