import { describe, expect, test } from 'vitest';
import type { LearnedForwardBackwardRow } from '../src/learn/forwardBackward.ts';
import { discreteSchedule } from '../src/learn/schedule.ts';
import { classKeptGaps, continueTo, layerCrossings, STUDY_NOISE_LEVELS, studyTimes } from '../src/learn/study.ts';

describe('learn-study summary', () => {
  test('study times: the t whose noise 1 − ᾱ_t is nearest each level, dense at low noise', () => {
    const schedule = discreteSchedule();
    const times = studyTimes(schedule);
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(times.length).toBe(STUDY_NOISE_LEVELS.length);
    times.forEach((t, i) => {
      const noise = 1 - schedule.alphaBar[t];
      // Nearest: no neighbouring time is closer to the level.
      for (const u of [t - 1, t + 1])
        if (u >= 1 && u <= schedule.steps) expect(Math.abs(noise - STUDY_NOISE_LEVELS[i])).toBeLessThanOrEqual(Math.abs(1 - schedule.alphaBar[u] - STUDY_NOISE_LEVELS[i]));
    });
    expect(1 - schedule.alphaBar[times[0]]).toBeLessThan(0.02);
    // A short schedule repeats no time.
    expect(new Set(studyTimes(discreteSchedule({ steps: 5 }))).size).toBe(studyTimes(discreteSchedule({ steps: 5 })).length);
  });

  test('layer crossings: interpolated in log P, for good, null when never', () => {
    const points = [
      { trainSize: 100, validByLayer: [0.5, 0.1, 0.95], forwardBackward: null },
      { trainSize: 400, validByLayer: [0.95, 0.5, 0.7], forwardBackward: null },
      { trainSize: 1600, validByLayer: [0.99, 0.8, 0.92], forwardBackward: null },
    ];
    const [l1, l2, l3] = layerCrossings(points, 0.9);
    // Layer 1: 0.5 at 100, 0.95 at 400: 0.9 is 8/9 of the way in log P.
    expect(l1.firstSizeAbove).toBe(400);
    expect(l1.size).toBeCloseTo(Math.exp(Math.log(100) + (8 / 9) * Math.log(4)), 9);
    expect(l2).toEqual({ layer: 2, size: null, firstSizeAbove: null, reached: false });
    // Layer 3 is above at 100, dips, and stays above only from 1600: it crosses for good between 400 and 1600.
    expect(l3.reached).toBe(true);
    expect(l3.firstSizeAbove).toBe(1600);
    expect(l3.size!).toBeGreaterThan(400);
    expect(l3.size!).toBeLessThan(1600);
    // Valid at the smallest size already: that size (nothing is known below it).
    expect(layerCrossings([{ trainSize: 64, validByLayer: [0.99], forwardBackward: null }])[0].size).toBe(64);
  });

  test('class-kept gap: the largest |model − BP| over the times, with its noise and z-score', () => {
    const row = (noise: number, model: number, bp: number): LearnedForwardBackwardRow => ({
      t: 1,
      tOverT: 0,
      noise,
      samples: 100,
      model: { classKept: model, classKeptSE: 0.03, levelKept: [], fullyValid: 1 },
      bp: { classKept: bp, classKeptSE: 0.04, levelKept: [], fullyValid: 1 },
    });
    const gaps = classKeptGaps([
      { trainSize: 512, validByLayer: [1], forwardBackward: [row(0.1, 0.9, 0.95), row(0.3, 0.5, 0.7), row(0.5, 0.2, 0.25)] },
      { trainSize: 128, validByLayer: [1], forwardBackward: null },
    ]);
    expect(gaps).toHaveLength(1);
    expect(gaps[0].trainSize).toBe(512);
    expect(gaps[0].maxGap).toBeCloseTo(0.2, 12);
    expect(gaps[0].atNoise).toBe(0.3);
    expect(gaps[0].zAtMax).toBeCloseTo(0.2 / 0.05, 9);
  });
});

describe('training to convergence (learn-study --max-steps)', () => {
  test('continues a run short of --steps to --steps, one not converged to twice its steps up to --max-steps', () => {
    expect(continueTo(10000, null, 20000, 20000)).toBe(20000);
    expect(continueTo(10000, true, 20000, 80000)).toBe(20000);
    expect(continueTo(20000, false, 20000, 80000)).toBe(40000);
    expect(continueTo(40000, false, 20000, 80000)).toBe(80000);
    expect(continueTo(40000, false, 20000, 60000)).toBe(60000);
  });

  test('stops at convergence, at --max-steps, and where the criterion has no verdict', () => {
    expect(continueTo(20000, true, 20000, 80000)).toBeNull();
    expect(continueTo(40000, true, 20000, 80000)).toBeNull();
    expect(continueTo(80000, false, 20000, 80000)).toBeNull();
    expect(continueTo(20000, false, 20000, 20000)).toBeNull();
    expect(continueTo(20000, null, 20000, 80000)).toBeNull();
    // A run of more steps than asked is kept as it is.
    expect(continueTo(40000, false, 20000, 20000)).toBeNull();
  });
});
