/*
 * Which sticky topics of one database this node holds a coordinator for in its own datastore (as
 * their writer or as one of their replicas), for the operator's inspection endpoints. Reads only:
 * the stored head sets carry their topic's name.
 */
import { Libp2pRecord } from '@libp2p/record'
import type { Datastore } from 'interface-datastore'
import { fromString } from 'uint8arrays/from-string'
import { decodeJson } from '../core/codec.js'
import { parseKey } from '../core/keys.js'

const RECORD_PREFIX = '/dht/record/'

/** Names of the topics of database `db` whose head set this datastore holds, sorted. */
export async function localTopics (datastore: Datastore, db: string): Promise<string[]> {
  const topics = new Set<string>()
  for await (const key of datastore.queryKeys({ prefix: RECORD_PREFIX })) {
    let parsed
    try { parsed = parseKey(fromString(key.toString().slice(RECORD_PREFIX.length), 'base32')) } catch { continue }
    if (parsed?.kind !== 'head' || parsed.db !== db) continue
    try {
      const set = decodeJson(Libp2pRecord.deserialize(await datastore.get(key)).value) as { heads?: Array<{ topic?: unknown }> } | undefined
      const topic = set?.heads?.[0]?.topic
      if (typeof topic === 'string') topics.add(topic)
    } catch { /* deleted meanwhile (sweep) or not a record: skip */ }
  }
  return [...topics].sort()
}
