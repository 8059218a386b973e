/*
 * The daemon's sticky resume file (topics.stickyStateFile): read at start, written atomically after
 * deliveries and at stop; a malformed file is a ConfigError naming the setting.
 */
import { describe, expect, it } from 'vitest'
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ResumeStore } from '../../../src/daemon/resume-store.js'

const dir = mkdtempSync(join(tmpdir(), 'depin-resume-'))

describe('daemon sticky resume file', () => {
  it('no file: every topic replays its history; save writes the current versions atomically', async () => {
    const path = join(dir, 'a.json')
    let versions: Record<string, number> = { jobs: 7 }
    const store = new ResumeStore(path, () => versions)
    expect(store.versionOf('jobs')).toBeNull()
    store.save()
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual({ jobs: 7 })
    expect(existsSync(path + '.tmp')).toBe(false)
    // touch() writes shortly after, once for many deliveries
    versions = { jobs: 9, logs: 2 }
    store.touch(); store.touch()
    await new Promise((resolve) => setTimeout(resolve, 250))
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual({ jobs: 9, logs: 2 })
    expect(new ResumeStore(path, () => ({})).versionOf('jobs')).toBe(9)
  })

  it('topics no longer bridged keep their stored version', () => {
    const path = join(dir, 'b.json')
    writeFileSync(path, JSON.stringify({ old: 3, jobs: 1 }))
    const store = new ResumeStore(path, () => ({ jobs: 5 }))
    store.save()
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual({ old: 3, jobs: 5 })
  })

  it('a malformed file is refused with the setting named', () => {
    for (const bad of ['not json', '[1,2]', '{"jobs":-1}', '{"jobs":"3"}']) {
      const path = join(dir, 'bad.json')
      writeFileSync(path, bad)
      expect(() => new ResumeStore(path, () => ({}))).toThrow(expect.objectContaining({ code: 'ERR_INVALID_CONFIG', field: 'topics.stickyStateFile' }))
    }
  })
})
