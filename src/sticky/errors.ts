/*
 * Sticky-specific typed errors (codes are part of the public API, see src/errors.ts).
 */
import { DepinError } from '../errors.js'

export class StickyCommitError extends DepinError {
  constructor (topic: string, attempts: number) {
    super('ERR_STICKY_COMMIT_TIMEOUT', `sticky commit on ${JSON.stringify(topic)} not confirmed by enough replicas after ${attempts} attempts; the message is not acknowledged`)
  }
}
