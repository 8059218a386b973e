/*
 * Authorization: the one place that answers "may this wallet connect / receive / write here".
 *
 * A database's rule is its registry: a wallet listed there (registry-cache.ts keeps the list, and
 * asks the registry again on a miss, rate-limited) may connect to us for that database, receive its
 * topics and write (publish real-time events, sign sticky records) in it. The host's rule is the
 * union over the databases open on it.
 *
 *   DatabaseAccess   one database's answers (mayConnect, mayReceive, mayWrite)
 *   AccessPolicy     the host's answers, over every open database: used by the connection gater
 *                    (gater.ts), the subscription filter (subscription-filter.ts), the sticky
 *                    record validator (as its RecordPolicy) and the closing of connections after
 *                    a registry refresh.
 *
 * "Cached" answers use the registry lists as they are; "checked" ones may ask the registry about
 * an unknown wallet first (registry-cache.ts checkMiss).
 */
import type { PeerId } from '@libp2p/interface'
import { peerIdToWallet } from '../identity.js'
import { pushTopicPrefix } from '../sticky/core/keys.js'
import { VerifiedSignatures } from '../sticky/core/signing.js'
import type { RecordPolicy } from '../sticky/core/validation.js'

/** What the policy needs from a database's registry (registry-cache.ts AuthorizedWalletCache). */
export interface Registry {
  has(wallet: string): boolean
  checkMiss(wallet: string): Promise<boolean>
}

/** True when a GossipSub topic belongs to the database: its real-time topics and its sticky push topics. */
export function databaseOwnsTopic (db: string, pubsubTopic: string): boolean {
  return pubsubTopic.startsWith(`${db}_`) || pubsubTopic.startsWith(pushTopicPrefix(db))
}

/** One database's authorization: its registry decides. */
export class DatabaseAccess {
  constructor (readonly name: string, private readonly registry: Registry) {}

  /** The wallet may hold a connection to us for this database. */
  mayConnect (wallet: string): boolean { return this.registry.has(wallet) }
  /** mayConnect, asking the registry about an unknown wallet first. */
  async mayConnectChecked (wallet: string): Promise<boolean> { return this.registry.has(wallet) || await this.registry.checkMiss(wallet) }
  /** The wallet may receive (subscribe to) this database's topics. */
  mayReceive (wallet: string): boolean { return this.registry.has(wallet) }
  /** The wallet may write here: author real-time events, publish and sign sticky records. */
  mayWrite (wallet: string): boolean { return this.registry.has(wallet) }
  /** mayWrite, asking the registry about an unknown wallet first (real-time messages). */
  async mayWriteChecked (wallet: string): Promise<boolean> { return this.registry.has(wallet) || await this.registry.checkMiss(wallet) }
  ownsTopic (pubsubTopic: string): boolean { return databaseOwnsTopic(this.name, pubsubTopic) }
}

/** The host's authorization: the union over the databases open on it. */
export class AccessPolicy implements RecordPolicy {
  private readonly databases = new Set<DatabaseAccess>()
  /** this node's verified-signature cache for sticky records (kept with the policy the validator uses) */
  readonly verified = new VerifiedSignatures()

  join (db: DatabaseAccess): void { this.databases.add(db) }
  leave (db: DatabaseAccess): void { this.databases.delete(db) }
  get size (): number { return this.databases.size }

  /** The peer may connect to this host: some open database authorizes its wallet. Non-Ed25519 keys never. */
  mayConnect (peer: PeerId | string): boolean {
    const wallet = peerIdToWallet(peer)
    if (wallet == null) return false
    for (const db of this.databases) if (db.mayConnect(wallet)) return true
    return false
  }

  /** mayConnect, asking the registries about an unknown wallet first. */
  async mayConnectChecked (peer: PeerId | string): Promise<boolean> {
    const wallet = peerIdToWallet(peer)
    if (wallet == null || this.databases.size === 0) return false
    const answers = await Promise.all([...this.databases].map(async (db) => await db.mayConnectChecked(wallet).catch(() => false)))
    return answers.includes(true)
  }

  /** A peer may subscribe to (and so receive) a GossipSub topic when a database owning that topic authorizes it; topics no database owns are not ours to police. */
  mayReceive (peerId: string, pubsubTopic: string): boolean {
    let owned = false
    const wallet = peerIdToWallet(peerId)
    for (const db of this.databases) {
      if (!db.ownsTopic(pubsubTopic)) continue
      owned = true
      if (wallet != null && db.mayReceive(wallet)) return true
    }
    return !owned
  }

  /** The wallet may write records of database `db` (some open database of that name authorizes it). */
  mayWrite (db: string, wallet: string): boolean {
    for (const d of this.databases) if (d.name === db && d.mayWrite(wallet)) return true
    return false
  }

  /** This node stores and serves sticky records of `db` only while it has that database open. */
  servesDatabase (db: string): boolean {
    for (const d of this.databases) if (d.name === db) return true
    return false
  }

  /** RecordPolicy: the writer or publisher of a record may write in its database. */
  isAuthorized (db: string, wallet: string): boolean { return this.mayWrite(db, wallet) }
}
