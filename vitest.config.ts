import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // the second fails a test during which a Node process warning was emitted in the test process
    setupFiles: ['./src/polyfills.ts', './test/process-warnings.ts'],
    // builds the Go node of the interop tests (test/interop/) once, cached between runs
    globalSetup: ['./test/interop/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration files each start real libp2p clusters; running them one at a time keeps
    // timing-sensitive parts (gossipsub heartbeats, dial timeouts) stable on 2 cores.
    fileParallelism: false,
    pool: 'forks',
    // lets tests (the fuzz suite's memory bound) ask for a full collection before measuring the heap
    poolOptions: { forks: { execArgv: ['--expose-gc'] } }
  }
})
