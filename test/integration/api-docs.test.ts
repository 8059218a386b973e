/*
 * The API reference builds: TypeDoc (the `npm run docs` configuration, typedoc.json) runs over the
 * public API without emitting, and its validation fails on any exported symbol of src/index.ts
 * (class, interface, function, variable, type) without a TSDoc comment and on broken {@link}s.
 */
import { describe, expect, it } from 'vitest'
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { ROOT } from '../../support/daemon-process.js'

describe('API reference (TypeDoc)', () => {
  it('every exported symbol is documented and every link resolves', async () => {
    const r = await new Promise<{ code: number, out: string }>((resolve) => {
      execFile(process.execPath, [join(ROOT, 'node_modules', 'typedoc', 'bin', 'typedoc'), '--emit', 'none'], { cwd: ROOT, timeout: 170_000 }, (err, stdout, stderr) => {
        resolve({ code: err == null ? 0 : (err as { code?: number }).code ?? 1, out: stdout + stderr })
      })
    })
    expect(r.out).not.toMatch(/\[warning\]|\[error\]/)
    expect(r.code, r.out).toBe(0) // typedoc.json: treatWarningsAsErrors, so any warning is a non-zero exit
  }, 180_000)
})
