/*
 * Shared conventions of the fuzz suite (test/fuzz/<surface>.fuzz.test.ts):
 * - fast-check with a fixed seed (FUZZ_SEED, default 20261202), so a failure replays exactly;
 * - a short run inside `npm test` (the surface's own default), FUZZ_RUNS for longer runs:
 *   `npm run fuzz` sets FUZZ_RUNS=10000 over test/fuzz;
 * - every run checks: no crash, no unhandled rejection or uncaught exception, bounded memory, and
 *   (per surface) no honest message lost and the node still serving an honest publish afterwards.
 */
import fc from 'fast-check'

export const FUZZ_SEED = Number(process.env.FUZZ_SEED ?? 20261202)

/** Generated inputs for one surface: FUZZ_RUNS when set, else the surface's short default. */
export function fuzzRuns (shortDefault: number): number {
  const n = Number(process.env.FUZZ_RUNS)
  return Number.isInteger(n) && n > 0 ? n : shortDefault
}

/** fast-check parameters every surface uses. */
export function fuzzParams (runs: number): fc.Parameters<unknown> {
  return { seed: FUZZ_SEED, numRuns: runs, endOnFailure: true, verbose: 1 }
}

/** Records unhandled rejections and uncaught exceptions while a surface is being fuzzed. */
export class CrashWatch {
  readonly problems: unknown[] = []
  private readonly onProblem = (err: unknown): void => { this.problems.push(err) }
  start (): this {
    process.on('unhandledRejection', this.onProblem)
    process.on('uncaughtException', this.onProblem)
    return this
  }

  stop (): void {
    process.off('unhandledRejection', this.onProblem)
    process.off('uncaughtException', this.onProblem)
  }
}

/** Heap in use after letting the collector run, when it can be asked to (node --expose-gc). */
export async function settledHeapBytes (): Promise<number> {
  const gc = (globalThis as { gc?: () => void }).gc
  for (let i = 0; i < 3; i++) {
    gc?.()
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  return process.memoryUsage().heapUsed
}

/** Strings biased to the edges: empty, control and non-BMP characters, lone surrogates, long runs, prototype keys. */
export const edgeString = (): fc.Arbitrary<string> => fc.oneof(
  { weight: 4, arbitrary: fc.string() },
  { weight: 2, arbitrary: fc.string({ unit: 'binary' }) },
  { weight: 1, arbitrary: fc.constantFrom('', ' ', '\u0000', '\n', '\r\n', '\ud800', '\ufeff', '__proto__', 'constructor', 'null', '[]', '{}', '"') },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 20_000 }).map((n) => "x".repeat(n)) }
)

/** Numbers biased to the edges: 0, -0, ±1, 2^31, 2^53 ± 1, huge, tiny, fractional. */
export const edgeNumber = (): fc.Arbitrary<number> => fc.oneof(
  { weight: 3, arbitrary: fc.integer() },
  { weight: 2, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }) },
  { weight: 2, arbitrary: fc.constantFrom(0, -0, 1, -1, 2 ** 31, -(2 ** 31), 2 ** 32, 2 ** 53 - 1, 2 ** 53, 2 ** 53 + 2, -(2 ** 53), 1e308, -1e308, 5e-324, 0.5, 1.5) }
)

/** Any JSON-ish value with edge strings and numbers inside. */
export const edgeJson = (): fc.Arbitrary<unknown> => fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true },
    edgeString(), edgeNumber(), fc.boolean(), fc.constant(null),
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(edgeString().map((s) => s.slice(0, 40)), tie('value'), { maxKeys: 5 }))
})).value
