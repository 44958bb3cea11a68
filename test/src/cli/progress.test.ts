import { describe, expect, it } from 'vitest';
import { formatDuration, secondsLeft } from '../../../src/cli/progress.js';

describe('formatDuration', () => {
  it('carries a rounded-up remainder into the next unit', () => {
    // cli-progress's formatter rounded the minutes alone to a multiple of 5 and printed "3h60m"
    expect(formatDuration(4 * 3600 - 10, undefined, 5)).toBe('4h00m');
    expect(formatDuration(3 * 60 - 0.4, undefined, 1)).toBe('3m00s');
    expect(formatDuration(119, undefined, 5)).toBe('2m00s');
  });
  it('prints hours and minutes, minutes and seconds, or seconds', () => {
    expect(formatDuration(3 * 3600 + 5 * 60 + 20, undefined, 5)).toBe('3h05m');
    expect(formatDuration(61, undefined, 1)).toBe('1m01s');
    expect(formatDuration(62, undefined, 5)).toBe('1m00s');
    expect(formatDuration(9.4)).toBe('9s');
    expect(formatDuration(0)).toBe('0s');
  });
  it('prints -- for an ETA cli-progress cannot estimate', () => {
    expect(formatDuration('NULL' as unknown as number)).toBe('--');
    expect(formatDuration('INF' as unknown as number)).toBe('--');
  });
});

describe('secondsLeft', () => {
  it('is the mean rate since the start applied to what is left', () => {
    expect(secondsLeft(60_000, 30, 90)).toBe(180);
    expect(secondsLeft(10_000, 5, 0)).toBe(0);
  });
  it('is unknown before the first step', () => {
    expect(formatDuration(secondsLeft(5_000, 0, 100))).toBe('--');
  });
  it('does not drop to zero when a burst of updates arrives at once', () => {
    // 2 minutes for 120 of 512 images, then 20 more reported within a millisecond: cli-progress's
    // rate over its last 20 updates made that 20 images a millisecond, an ETA of "0s"
    expect(formatDuration(secondsLeft(120_001, 140, 372), undefined, 5)).toBe('5m20s');
  });
});
