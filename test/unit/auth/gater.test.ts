/*
 * The connection gater and the authorization policy without a network: every hook that names a
 * peer asks the policy (cached answer first, then the registry), counts, and reports the denial;
 * the policy is the union of the open databases' registries.
 */
import { describe, expect, it } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import type { PeerId } from '@libp2p/interface'
import { createConnectionGater, createGaterStats, type GaterHook } from '../../../src/auth/gater.js'
import { AccessPolicy, DatabaseAccess, databaseOwnsTopic, type Registry } from '../../../src/auth/policy.js'
import { peerIdToWallet } from '../../../src/identity.js'
import { pushTopic } from '../../../src/sticky/core/keys.js'

async function peer (type: 'Ed25519' | 'secp256k1' = 'Ed25519'): Promise<PeerId> { return peerIdFromPrivateKey(await generateKeyPair(type)) }

function registry (wallets: string[], onMiss: string[] = []): Registry & { misses: string[] } {
  const misses: string[] = []
  return {
    misses,
    has: (w) => wallets.includes(w),
    checkMiss: async (w) => { misses.push(w); return onMiss.includes(w) }
  }
}

describe('connection gater', () => {
  it('an authorized peer refused by the per-peer connection limit is counted as limited, not as an allowed decision', async () => {
    const [good, bad] = await Promise.all([peer(), peer()])
    const policy = new AccessPolicy()
    policy.join(new DatabaseAccess('db', registry([peerIdToWallet(good)!])))
    const stats = createGaterStats()
    const denied: GaterHook[] = []
    let room = 1
    const gater = createConnectionGater(policy, stats, (hook) => { denied.push(hook) }, {
      admit: () => true,
      admitPeer: () => room-- > 0
    })
    expect(await gater.denyInboundUpgradedConnection!(good, {} as any)).toBe(false)
    expect(await gater.denyInboundUpgradedConnection!(good, {} as any)).toBe(true) // over the limit
    expect(await gater.denyInboundUpgradedConnection!(bad, {} as any)).toBe(true) // not in the registry: the limit is not asked
    expect(stats.allowed.inboundUpgraded).toBe(1)
    expect(stats.denied.inboundUpgraded).toBe(1)
    expect(stats.limited.connectionsPerPeer).toBe(1)
    expect(room).toBe(-1)
    expect(denied).toEqual(['inboundUpgraded', 'inboundUpgraded'])
  })

  it('asks the policy on every hook that names a peer, counts and reports denials, and lets inbound sockets through until the handshake', async () => {
    const [good, bad, late] = await Promise.all([peer(), peer(), peer()])
    const policy = new AccessPolicy()
    const reg = registry([peerIdToWallet(good)!], [peerIdToWallet(late)!])
    policy.join(new DatabaseAccess('db', reg))
    const stats = createGaterStats()
    const denied: Array<[GaterHook, string]> = []
    const gater = createConnectionGater(policy, stats, (hook, p) => { denied.push([hook, p.toString()]) })
    const hooks: Array<[GaterHook, (p: PeerId) => Promise<boolean> | boolean | undefined]> = [
      ['dialPeer', async (p) => await gater.denyDialPeer!(p)],
      ['outboundConnection', async (p) => await gater.denyOutboundConnection!(p, {} as any)],
      ['inboundEncrypted', async (p) => await gater.denyInboundEncryptedConnection!(p, {} as any)],
      ['outboundEncrypted', async (p) => await gater.denyOutboundEncryptedConnection!(p, {} as any)],
      ['inboundUpgraded', async (p) => await gater.denyInboundUpgradedConnection!(p, {} as any)],
      ['outboundUpgraded', async (p) => await gater.denyOutboundUpgradedConnection!(p, {} as any)],
      ['relayReservation', async (p) => await gater.denyInboundRelayReservation!(p)],
      ['dialMultiaddr', async (p) => await gater.denyDialMultiaddr!(multiaddr(`/ip4/127.0.0.1/tcp/1/p2p/${p.toString()}`))]
    ]
    for (const [hook, ask] of hooks) {
      expect(await ask(good), hook).toBe(false)
      expect(await ask(bad), hook).toBe(true)
      expect(stats.allowed[hook]).toBe(1)
      expect(stats.denied[hook]).toBe(1)
    }
    expect(denied.every(([, p]) => p === bad.toString())).toBe(true)
    expect(denied.map(([h]) => h)).toEqual(hooks.map(([h]) => h))
    // relayed connections: both ends must be admitted
    expect(await gater.denyOutboundRelayedConnection!(good, bad)).toBe(true)
    expect(await gater.denyInboundRelayedConnection!(good, good)).toBe(false)
    // a wallet the registry knows only on a miss is admitted after asking it
    expect(await gater.denyDialPeer!(late)).toBe(false)
    expect(reg.misses).toContain(peerIdToWallet(late))
    // a multiaddr without a peer id is not ours to refuse yet; nor is an inbound socket
    expect(await gater.denyDialMultiaddr!(multiaddr('/ip4/127.0.0.1/tcp/1'))).toBe(false)
    expect(await gater.denyInboundConnection!({} as any)).toBe(false)
  })

  it('refuses every non-Ed25519 key and everyone once no database is open', async () => {
    const policy = new AccessPolicy()
    const secp = await peer('secp256k1')
    const ed = await peer()
    const access = new DatabaseAccess('db', { has: () => true, checkMiss: async () => true })
    policy.join(access)
    const gater = createConnectionGater(policy, createGaterStats())
    expect(await gater.denyDialPeer!(secp)).toBe(true)
    expect(await gater.denyDialPeer!(ed)).toBe(false)
    policy.leave(access)
    expect(await gater.denyDialPeer!(ed)).toBe(true)
  })
})

describe('authorization policy', () => {
  it('the host admits the union of its databases; receiving and writing are per database', async () => {
    const [p1, p2, p3] = await Promise.all([peer(), peer(), peer()])
    const [w1, w2, w3] = [p1, p2, p3].map((p) => peerIdToWallet(p)!)
    const a = new DatabaseAccess('a', registry([w1!]))
    const b = new DatabaseAccess('b', registry([w2!]))
    const policy = new AccessPolicy()
    policy.join(a)
    policy.join(b)
    expect(policy.mayConnect(p1)).toBe(true)
    expect(policy.mayConnect(p2.toString())).toBe(true)
    expect(policy.mayConnect(p3)).toBe(false)
    expect(await policy.mayConnectChecked(p3)).toBe(false)
    // receiving: a database's topics only to its own wallets; topics no database owns are not policed
    expect(policy.mayReceive(p1.toString(), 'a_jobs')).toBe(true)
    expect(policy.mayReceive(p2.toString(), 'a_jobs')).toBe(false)
    expect(policy.mayReceive(p2.toString(), pushTopic('a', 'jobs'))).toBe(false)
    expect(policy.mayReceive(p2.toString(), pushTopic('b', 'jobs'))).toBe(true)
    expect(policy.mayReceive(p3.toString(), 'other_topic')).toBe(true)
    // writing and serving records: per database name
    expect(policy.mayWrite('a', w1!)).toBe(true)
    expect(policy.mayWrite('a', w2!)).toBe(false)
    expect(policy.isAuthorized('b', w2!)).toBe(true)
    expect(policy.servesDatabase('a')).toBe(true)
    expect(policy.servesDatabase('c')).toBe(false)
    expect(databaseOwnsTopic('a', 'a_x')).toBe(true)
    expect(databaseOwnsTopic('a', 'ab_x')).toBe(false)
  })
})
