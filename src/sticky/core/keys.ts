/*
 * DHT key mapping for sticky topics, namespaced by database:
 *   /dps/<database>/h/<topic id>   coordinator: the current head set of a topic (mutable)
 *   /dps/<database>/b/<content id> immutable record (page, root, subscriber collection, message)
 * The topic id is the content id of the topic name, so any topic string maps to a safe key.
 * kad-dht keys its validators by the first segment ("dps"); three or more segments are required
 * for validation to run at all (kad-dht skips validation of shorter keys). Pure.
 */
import { contentId } from './codec.js'

export const STICKY_NAMESPACE = 'dps'
const encoder = new TextEncoder()
const decoder = new TextDecoder()

export type StickyKey = { kind: 'head', db: string, topicId: string } | { kind: 'blob', db: string, id: string }

export function topicId (topic: string): string {
  return contentId(encoder.encode(topic))
}

export function headKey (db: string, topic: string): Uint8Array {
  return encoder.encode(`/${STICKY_NAMESPACE}/${db}/h/${topicId(topic)}`)
}

export function blobKey (db: string, id: string): Uint8Array {
  return encoder.encode(`/${STICKY_NAMESPACE}/${db}/b/${id}`)
}

export function parseKey (key: Uint8Array): StickyKey | undefined {
  const parts = decoder.decode(key).split('/')
  if (parts.length !== 5 || parts[0] !== '' || parts[1] !== STICKY_NAMESPACE) return undefined
  const [, , db, kind, id] = parts as [string, string, string, string, string]
  if (db === '' || id === '') return undefined
  if (kind === 'h') return { kind: 'head', db, topicId: id }
  if (kind === 'b') return { kind: 'blob', db, id }
  return undefined
}

/** GossipSub topic for sticky pushes; it cannot collide with a real-time topic `<db>_<topic>`
 *  because database names cannot contain '/'. */
export function pushTopic (db: string, topic: string): string {
  return `${pushTopicPrefix(db)}${topicId(topic)}`
}

/** Every sticky push topic of database `db` starts with this. */
export function pushTopicPrefix (db: string): string { return `depin-sticky/${db}/` }
