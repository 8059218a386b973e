/*
 * A plain js-libp2p node with the daemon's services and nothing of ours (the bench:scale baseline):
 * QUIC + TCP, noise, yamux, identify, ping, GossipSub subscribed to one topic, the dual kad-dht
 * (WAN and LAN protocols, server mode). Plain JavaScript run by node itself, as the daemon is (no
 * TypeScript loader in either). Prints {"addr"} on stdout, then dials every address it reads from
 * stdin (one JSON array line; again every 5 s those it is not connected to) and idles until SIGTERM;
 * a "stats" line prints its peer and connection counts.
 */
import '../dist/polyfills.js'
import { createInterface } from 'node:readline'
import { gossipsub } from '@chainsafe/libp2p-gossipsub'
import { noise } from '@chainsafe/libp2p-noise'
import { quic } from '@chainsafe/libp2p-quic'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'
import { createLibp2p } from 'libp2p'

const node = await createLibp2p({
  addresses: { listen: ['/ip4/127.0.0.1/udp/0/quic-v1', '/ip4/127.0.0.1/tcp/0'] },
  transports: [quic(), tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  connectionManager: { allow: ['/ip4/127.0.0.0/ipcidr/8'] },
  services: {
    identify: identify(),
    ping: ping(),
    dht: kadDHT({ protocol: '/ipfs/kad/1.0.0', clientMode: false, peerInfoMapper: passthroughMapper }),
    lanDht: kadDHT({ protocol: '/ipfs/lan/kad/1.0.0', clientMode: false, peerInfoMapper: passthroughMapper, datastorePrefix: '/dht-lan' }),
    pubsub: gossipsub({ allowPublishToZeroTopicPeers: true })
  }
})
node.services.pubsub.subscribe('rt')
const quicAddr = node.getMultiaddrs().find((a) => a.toString().includes('/quic-v1')).toString()
process.stdout.write(JSON.stringify({ addr: quicAddr }) + '\n')
// a JSON array of addresses: dial them; "stats": print {"peers","connections"} (the bench's topology check)
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line === 'stats') {
    process.stdout.write(JSON.stringify({ peers: node.getPeers().length, connections: node.getConnections().length }) + '\n')
    return
  }
  const others = JSON.parse(line).filter((a) => a !== quicAddr).map((a) => multiaddr(a))
    .map((ma) => ({ ma, id: ma.getPeerId() == null ? undefined : peerIdFromString(ma.getPeerId()) }))
  // dialled again every 5 s while not connected: 30 nodes dialling all others at once left some
  // with a dozen peers (dials that timed out were never retried), not the full mesh compared against
  const dialMissing = () => {
    for (const { ma, id } of others) if (id == null || node.getConnections(id).length === 0) node.dial(ma).catch(() => {})
  }
  dialMissing()
  setInterval(dialMissing, 5_000)
})
const stop = () => { node.stop().finally(() => process.exit(0)) }
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
