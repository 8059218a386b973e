/*
 * vitest globalSetup: builds the Go interop node once before any test file runs, so a first
 * (uncached) build, which can take minutes, never eats into a test's hook timeout. Later runs
 * find the cached binary. Without a Go toolchain the build fails here with go's own message.
 */
import { goNodeBinary } from '../fixtures/go-node.js'

export default function setup (): void {
  const started = Date.now()
  const bin = goNodeBinary()
  const ms = Date.now() - started
  if (ms > 2_000) console.log(`built the Go interop node in ${(ms / 1000).toFixed(1)} s: ${bin}`)
}
