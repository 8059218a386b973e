/*
 * vitest globalSetup: builds the Go interop node once before any test file runs, so a first
 * (uncached) build, which can take minutes, never eats into a test's hook timeout. Later runs
 * find the cached binary. If the build fails (no Go toolchain, say), only the interop tests fail:
 * each tries the build again and reports go's own error.
 */
import { goNodeBinary } from '../fixtures/go-node.js'

export default function setup (): void {
  const started = Date.now()
  try {
    const bin = goNodeBinary()
    const ms = Date.now() - started
    if (ms > 2_000) console.log(`built the Go interop node in ${(ms / 1000).toFixed(1)} s: ${bin}`)
  } catch (err) {
    console.error(`could not build the Go interop node (test/interop/ will fail): ${(err as Error).message}`)
  }
}
