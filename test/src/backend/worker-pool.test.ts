/**
 * How many threads generate starts for its assets (worker-pool.ts's jobWorkers), and how a
 * worker's failure crosses to the main thread (errorReply → errorFromReply → the CLI's line).
 */
import { describe, expect, it } from 'vitest';
import { errorFromReply, errorReply, jobWorkers } from '../../../src/backend/worker-pool.js';
import { failureMessage } from '../../../src/cli/run.js';
import { Dd3dError } from '../../../src/core/errors.js';

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

describe('a worker failure on the main thread', () => {
  // what the message port does to a reply: a structured clone of plain data
  const crossed = (e: unknown) => failureMessage(errorFromReply(structuredClone(errorReply(e))));

  it('reads as the same failure would in the serial loop', () => {
    const wasm = new Error('memory access out of bounds');
    wasm.name = 'RuntimeError';
    expect(crossed(wasm)).toBe(failureMessage(wasm));
    expect(crossed(wasm)).toMatch(/^the tensor backend failed \(memory access out of bounds\); the sizes are likely too large/);
    const oom = new RangeError('Array buffer allocation failed');
    expect(crossed(oom)).toBe(failureMessage(oom));
    expect(crossed(oom)).toMatch(/^out of memory/);
    // a user-facing error stays word for word; a bug stays a bug, with the worker's stack
    expect(crossed(new Dd3dError('chair.json: key "mu" missing'))).toBe('chair.json: key "mu" missing');
    expect(crossed(new TypeError('x is undefined'))).toMatch(/^internal error: x is undefined/);
    const bug = new TypeError('x is undefined');
    expect(errorFromReply(structuredClone(errorReply(bug))).stack).toBe(bug.stack);
  });
});
