/*
 * Where the daemon keeps each bridged sticky topic's lastSeenVersion (setting topics.stickyStateFile),
 * so a restarted daemon resumes its sticky topics after the last version it saw instead of replaying
 * the whole history. The file is one JSON object {topic: version}, rewritten atomically (temporary
 * file + rename) shortly after messages arrive and once more at a graceful stop. After a crash the
 * file may lag a little behind: the restarted daemon then delivers those last messages again, it never
 * skips one.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs'
import { ConfigError } from '../errors.js'

/** delay between a delivered message and the file write that records it */
const SAVE_DELAY_MS = 100

export class ResumeStore {
  private readonly versions: Record<string, number>
  private timer: ReturnType<typeof setTimeout> | undefined

  constructor (readonly path: string, private readonly current: () => Record<string, number>) {
    this.versions = ResumeStore.read(path)
  }

  /** The stored version of a topic, or null (replay its history). */
  versionOf (topic: string): number | null { return this.versions[topic] ?? null }

  /** Schedules a write of the current versions. */
  touch (): void {
    if (this.timer != null) return
    this.timer = setTimeout(() => { this.timer = undefined; this.save() }, SAVE_DELAY_MS)
    this.timer.unref?.()
  }

  /** Writes the current versions now. */
  save (): void {
    clearTimeout(this.timer)
    this.timer = undefined
    Object.assign(this.versions, this.current())
    writeFileSync(this.path + '.tmp', JSON.stringify(this.versions))
    renameSync(this.path + '.tmp', this.path)
  }

  private static read (path: string): Record<string, number> {
    let text: string
    try {
      text = readFileSync(path, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {}
      throw new ConfigError('topics.stickyStateFile', `cannot read ${path}: ${(err as Error).message}`)
    }
    let parsed: unknown
    try { parsed = JSON.parse(text) } catch { parsed = undefined }
    if (parsed == null || typeof parsed !== 'object' || Array.isArray(parsed) ||
        !Object.values(parsed).every((v) => Number.isInteger(v) && (v as number) >= 0)) {
      throw new ConfigError('topics.stickyStateFile', `${path} is not a JSON object of topic -> version (integer >= 0)`)
    }
    return parsed as Record<string, number>
  }
}
