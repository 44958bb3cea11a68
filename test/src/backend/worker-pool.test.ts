/** How many threads generate starts for its assets (worker-pool.ts's jobWorkers). */
import { describe, expect, it } from 'vitest';
import { jobWorkers } from '../../../src/backend/worker-pool.js';

describe('jobWorkers', () => {
  it('picks the thread count that finishes all jobs soonest, fewer threads on a tie, at most twice the cores', () => {
    // two cores: three assets run at once (1.5 T, not 2 T with the last asset alone); four as two pairs
    expect([1, 2, 3, 4, 5, 6, 7, 8, 9].map((n) => jobWorkers(n, 2))).toEqual([1, 2, 3, 2, 2, 2, 2, 2, 3]);
    expect([1, 2, 3, 4, 5, 8, 9].map((n) => jobWorkers(n, 4))).toEqual([1, 2, 3, 4, 5, 4, 5]);
    // one core: more threads never finish sooner
    expect([1, 2, 3, 7].map((n) => jobWorkers(n, 1))).toEqual([1, 1, 1, 1]);
    expect(jobWorkers(0, 2)).toBe(1);
    expect(jobWorkers(100, 2)).toBeLessThanOrEqual(4);
  });
});
