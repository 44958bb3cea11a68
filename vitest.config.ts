import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // wasm kernels and CLI subprocesses are slow on 2 cores; files run in parallel forks
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
