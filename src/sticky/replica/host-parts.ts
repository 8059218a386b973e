/*
 * The sticky parts every database on a host shares: the signer (the wallet key, cached), the
 * datastore under kad-dht and the replica protocol (a MergingDatastore over the host's record
 * datastore: memory, or records on disk with a data dir, see storage/), the record
 * validator and selector kad-dht runs for the sticky key namespace, the replica service that
 * stores and serves records for the databases open on the host, and which peers speak the replica
 * protocol. The host (host/shared-host.ts) builds these before libp2p and starts the service once
 * libp2p runs; this file is its one entry point into sticky/.
 */
import type { Datastore } from 'interface-datastore'
import { RecordDatastore } from '../../storage/record-datastore.js'
import type { Logger } from '../../logger.js'
import { STICKY_NAMESPACE } from '../core/keys.js'
import { ed25519Signer, type Signer } from '../core/signing.js'
import { createStickyValidator, selectStickyRecord, type RecordPolicy } from '../core/validation.js'
import { MergingDatastore } from './merging-datastore.js'
import type { StickyOptions } from '../options.js'
import { ReplicaService, type ReplicaProtocolNetwork } from './replica-protocol.js'
import { ReplicaPeers } from './replica-peers.js'

export type { ReplicaService, ReplicaPeers }

/** The host-wide sticky options: the first connect() of a wallet sets them. */
export type StickyHostOptions = Pick<StickyOptions, 'storageQuotaBytes' | 'storageQuotaPerPeerBytes'>

export class StickyHostParts {
  readonly datastore: MergingDatastore
  /** signs sticky records with the wallet key */
  readonly signer: Signer
  /** peers that announce the sticky replica protocol (Go nodes do not); fed by the host's identify events */
  readonly replicaPeers = new ReplicaPeers()
  private readonly validate: (key: Uint8Array, value: Uint8Array) => Promise<void>

  /** the policy the validator runs with: the host's, plus this node's stored records (a received head is refused unless its records are here) */
  private readonly policy: RecordPolicy

  /** `disk`: the data dir's store, where records go when set (else memory) */
  constructor (policy: RecordPolicy, wallet: string, secretKey: Uint8Array, options: StickyHostOptions, disk?: Datastore) {
    this.datastore = new MergingDatastore(new RecordDatastore(disk), disk != null)
    this.signer = ed25519Signer(wallet, secretKey)
    this.datastore.setPolicy(policy)
    this.datastore.setQuota({ totalBytes: options.storageQuotaBytes, perPeerBytes: options.storageQuotaPerPeerBytes })
    this.policy = {
      servesDatabase: (db) => policy.servesDatabase(db),
      isAuthorized: (db, w) => policy.isAuthorized(db, w),
      verified: policy.verified,
      local: this.datastore.localRecords()
    }
    this.validate = createStickyValidator(this.policy)
  }

  /**
   * Opens the parts before libp2p starts: the quota starts counting the records already stored (a
   * data dir's) in the background; puts and deletes wait for it. Resolves when it is done.
   */
  async open (): Promise<{ records: number, bytes: number }> { return await this.datastore.startRestoreQuota() }

  /** kad-dht validators by key namespace: sticky records are checked before kad-dht stores them. */
  get dhtValidators (): Record<string, (key: Uint8Array, value: Uint8Array) => Promise<void>> { return { [STICKY_NAMESPACE]: this.validate } }
  /** kad-dht selectors by key namespace. */
  get dhtSelectors (): Record<string, (key: Uint8Array, values: Uint8Array[]) => number> { return { [STICKY_NAMESPACE]: selectStickyRecord } }

  /** The replica service (started by the caller), serving the databases the policy serves. */
  replicaService (net: ReplicaProtocolNetwork, logger: Logger): ReplicaService {
    return new ReplicaService({
      net,
      datastore: this.datastore,
      validate: this.validate,
      servesDatabase: (db) => this.policy.servesDatabase(db),
      logger
    })
  }
}
