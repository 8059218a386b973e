/*
 * Builds the process's libp2p node: QUIC first, TCP (noise + yamux) as fallback, the circuit relay
 * v2 client transport (and optionally the relay server), identify, ping, gossipsub and two kad-dht
 * instances speaking the protocols of go-libp2p's dual DHT: `/ipfs/kad/1.0.0` (WAN) and
 * `/ipfs/lan/kad/1.0.0` (LAN), both in server mode and keeping private addresses, so Go nodes on
 * private datacenter networks (which only use their LAN DHT there) still find us.
 */
import { gossipsub, type GossipSub } from '@chainsafe/libp2p-gossipsub'
import { noise } from '@chainsafe/libp2p-noise'
import { quic } from '@chainsafe/libp2p-quic'
import { yamux } from '@chainsafe/libp2p-yamux'
import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { identify, type Identify } from '@libp2p/identify'
import { kadDHT, passthroughMapper, type KadDHT, type Selectors, type Validators } from '@libp2p/kad-dht'
import { ping, type Ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { createLibp2p, type Libp2p } from 'libp2p'
import type { ConnectionGater, PrivateKey } from '@libp2p/interface'
import { PEER_SCORE_PARAMS } from './gossip-score.js'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import type { Datastore } from 'interface-datastore'
import { GO_MAX_RPC_BYTES, goMessageId, limitRpcFrames } from './gossip-wire.js'

/**
 * Streams a peer may have open towards us on one yamux (TCP) connection (yamux's default: 1,000).
 * yamux buffers up to its 256 KiB initial window for every stream whose data is not read yet, for
 * example one still negotiating its protocol (libp2p waits up to 10 s for that): at the default one
 * connection could make us hold 250 MiB. Honest peers keep a few dozen open at most (each protocol's
 * own limit is 32 or less). QUIC bounds a connection's unread data itself (15 MB).
 */
export const YAMUX_MAX_INBOUND_STREAMS = 128

export const DHT_PROTOCOL = '/ipfs/kad/1.0.0'
export const LAN_DHT_PROTOCOL = '/ipfs/lan/kad/1.0.0'

export interface HostServices {
  identify: Identify
  ping: Ping
  dht: KadDHT
  lanDht: KadDHT
  pubsub: GossipSub
  [key: string]: unknown
}

export type DepinLibp2p = Libp2p<HostServices>

export interface HostInit {
  privateKey: PrivateKey
  gater: ConnectionGater
  listenHost: string
  listenPorts: { quic: number, tcp: number }
  announceAddresses: string[]
  relayServer: boolean
  relayReservation: boolean
  maxConnections: number
  maxMessageBytes: number
  /** kad-dht record validators/selectors by key namespace (used by sticky topics) */
  dhtValidators?: Validators
  dhtSelectors?: Selectors
  /** datastore under kad-dht and the peer store */
  datastore?: Datastore
  /** false: created but not started, so protocol handlers can be registered before the first
   *  connection identifies us (identify-push is not enabled: a protocol added later stays unknown
   *  to peers already connected). @default true */
  start?: boolean
  /** libp2p metrics factory (e.g. prometheusMetrics()) */
  metrics?: (components: any) => unknown
}

export async function createHost (init: HostInit): Promise<DepinLibp2p> {
  const listen = [
    `/ip4/${init.listenHost}/udp/${init.listenPorts.quic}/quic-v1`,
    `/ip4/${init.listenHost}/tcp/${init.listenPorts.tcp}`
  ]
  if (init.relayReservation) listen.push('/p2p-circuit')
  const services: Record<string, (components: any) => unknown> = {
    identify: identify({ runOnLimitedConnection: true }),
    ping: ping({ runOnLimitedConnection: true }),
    dht: kadDHT({
      protocol: DHT_PROTOCOL,
      clientMode: false,
      peerInfoMapper: passthroughMapper,
      validators: init.dhtValidators ?? {},
      selectors: init.dhtSelectors ?? {}
    }),
    lanDht: kadDHT({
      protocol: LAN_DHT_PROTOCOL,
      clientMode: false,
      peerInfoMapper: passthroughMapper,
      datastorePrefix: '/dht-lan',
      logPrefix: 'libp2p:kad-dht:lan',
      metricsPrefix: 'libp2p_kad_dht_lan'
    }),
    pubsub: gossipsub({
      globalSignaturePolicy: 'StrictSign',
      emitSelf: false,
      allowPublishToZeroTopicPeers: false,
      runOnLimitedConnection: true,
      // Go nodes send RPC frames up to 1 MiB; ours carry one event plus control data
      maxInboundDataLength: Math.max(GO_MAX_RPC_BYTES, init.maxMessageBytes) + 64 * 1024,
      // go-libp2p-pubsub's message id (from + seqno), so IHAVE/IWANT/IDONTWANT ids match Go nodes'
      msgIdFn: goMessageId,
      // readiness matters more than mesh scoring on a permissioned network
      fallbackToFloodsub: false,
      // scoring for a permissioned network (gossip-score.ts): no IP-colocation penalty (many
      // authorized nodes share one IP behind NAT or on one host); invalid messages and behaviour
      // penalties still push a misbehaving authorized peer out
      scoreParams: PEER_SCORE_PARAMS
    })
  }
  if (init.relayServer) services.relay = circuitRelayServer({ reservations: { maxReservations: 128 } })

  const node = await createLibp2p({
    start: init.start ?? true,
    privateKey: init.privateKey,
    datastore: init.datastore,
    metrics: init.metrics as any,
    addresses: {
      listen,
      announce: init.announceAddresses
    },
    transports: [quic(), tcp(), circuitRelayTransport()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux({ maxInboundStreams: YAMUX_MAX_INBOUND_STREAMS })],
    connectionGater: init.gater,
    connectionManager: {
      maxConnections: init.maxConnections,
      // all peers on one machine share 127.0.0.1; the per-IP inbound rate limit must not apply there
      allow: ['/ip4/127.0.0.0/ipcidr/8'],
      // Connections still in their handshake are counted host-wide (TCP and QUIC together) and
      // libp2p refuses every new one once the count is full (default 10, each held up to 10 s): a
      // few silent sockets locked everyone out. Room for more, held for less; the gater caps each IP.
      maxIncomingPendingConnections: 128,
      inboundUpgradeTimeout: 5_000
    },
    // libp2p pings every connection every 10 s and aborts it when a ping misses its adaptive deadline
    // (default at least 5 s). A busy event loop missed that deadline for every connection at once: with
    // 20 nodes on two cores whole networks were torn down and redialled in a loop. Turning the abort
    // off broke the other half: a TCP connection whose packets are silently dropped (a partition, a
    // dead host) never closes by itself, so a cut node stayed "ready" for minutes (the chaos suite's
    // partition scenario). So the abort stays, with a deadline of at least 20 s: a loop stalled for
    // less keeps its connections, and a silent peer is dropped within about half a minute.
    connectionMonitor: { pingTimeout: { minTimeout: 20_000, maxTimeout: 60_000 } },
    services: services as any
  })
  // no RPC frame over go-libp2p-pubsub's 1 MiB read limit (IWANT answers, piggybacked gossip)
  limitRpcFrames((node as unknown as DepinLibp2p).services.pubsub)
  return node as unknown as DepinLibp2p
}

/** The dial addresses of a Go-format bootstrap entry, QUIC first. */
export function bootstrapAddrs (ip: string, quicPort: number, tcpPort: number, peerId: string): Multiaddr[] {
  const out: Multiaddr[] = []
  if (quicPort > 0) out.push(multiaddr(`/ip4/${ip}/udp/${quicPort}/quic-v1/p2p/${peerId}`))
  if (tcpPort > 0) out.push(multiaddr(`/ip4/${ip}/tcp/${tcpPort}/p2p/${peerId}`))
  return out
}
