/*
 * GossipSub on the wire as go-libp2p-pubsub (the Go library's GossipSub) expects it.
 *
 * Message ids: go-libp2p-pubsub's default id is the `from` field (the author's peer id bytes, an
 * identity multihash: 38 bytes for Ed25519) followed by the 8-byte seqno. js-libp2p-gossipsub's
 * default for signed messages uses the author's public-key protobuf (36 bytes) instead, so without
 * `goMessageId` no IHAVE / IWANT / IDONTWANT id would ever match across the two implementations.
 *
 * Frame size: go-libp2p-pubsub reads each RPC frame with a 1 MiB limit (DefaultMaxMessageSize,
 * 1 << 20) and resets the stream on a larger one; js-libp2p-gossipsub then keeps writing to the dead
 * stream and every later message to that peer is lost until the connection is rebuilt. An event is
 * therefore limited to GO_MAX_RPC_BYTES minus RPC_ENVELOPE_RESERVE (room for the signed envelope:
 * from, seqno, topic, signature, key, protobuf framing), and `limitRpcFrames` splits an outgoing RPC
 * that would exceed the limit: js-libp2p-gossipsub packs every message of an IWANT answer into one
 * RPC and piggybacks pending control and gossip on any RPC. Every per-peer RPC goes through
 * GossipSub's `sendRpc`, which is the seam used here (batch publishing encodes one message alone).
 */
import type { GossipSub } from '@chainsafe/libp2p-gossipsub'
import type { Message } from '@libp2p/interface'

/** go-libp2p-pubsub's DefaultMaxMessageSize: the largest RPC frame a Go node reads. */
export const GO_MAX_RPC_BYTES = 1 << 20
/** Bytes kept for a message's envelope in a frame (measured envelope with a 321-char topic: < 600). */
export const RPC_ENVELOPE_RESERVE = 1024
/** The largest event data that still fits one frame a Go node accepts. */
export const MAX_EVENT_BYTES = GO_MAX_RPC_BYTES - RPC_ENVELOPE_RESERVE

/** go-libp2p-pubsub's DefaultMsgIdFn: from (peer id bytes) + seqno (8 bytes, big-endian). */
export function goMessageId (msg: Message): Uint8Array {
  if (msg.type !== 'signed') throw new Error('expected a signed message')
  const from = msg.from.toMultihash().bytes
  const id = new Uint8Array(from.length + 8)
  id.set(from, 0)
  new DataView(id.buffer).setBigUint64(from.length, msg.sequenceNumber)
  return id
}

interface RpcMessage { from?: Uint8Array, data?: Uint8Array, seqno?: Uint8Array, topic: string, signature?: Uint8Array, key?: Uint8Array }
interface Rpc { subscriptions: unknown[], messages: RpcMessage[], control?: Record<string, unknown[] | undefined> }
interface GossipInternals {
  sendRpc: (id: string, rpc: Rpc) => boolean
  control: Map<string, { graft: unknown[], prune: unknown[] }>
  gossip: Map<string, Array<{ topicID?: string, messageIDs: Uint8Array[] }>>
}

/** An upper bound of one message's encoded size inside an RPC (fields, tags, length varints). */
function messageBytes (m: RpcMessage): number {
  return (m.data?.length ?? 0) + (m.from?.length ?? 0) + (m.seqno?.length ?? 0) + m.topic.length * 3 +
    (m.signature?.length ?? 0) + (m.key?.length ?? 0) + 32
}

/** A rough upper bound of the control part's size (ids dominate; PX peer records are bounded by the 4 KiB slack). */
function controlBytes (control: Record<string, unknown[] | undefined> | undefined): number {
  if (control == null) return 0
  let n = 0
  for (const entries of Object.values(control)) {
    for (const e of entries ?? []) {
      const entry = e as { messageIDs?: Uint8Array[], topicID?: string, peers?: Array<{ signedPeerRecord?: Uint8Array }> }
      n += 16 + (entry.topicID?.length ?? 0) * 3
      for (const id of entry.messageIDs ?? []) n += id.length + 4
      for (const p of entry.peers ?? []) n += 64 + (p.signedPeerRecord?.length ?? 0)
    }
  }
  return n
}

/**
 * Makes `gossipsub` split any outgoing RPC larger than `maxFrameBytes`: control, subscriptions and
 * pending piggybacked control/gossip go in a first frame, then the messages packed into frames of
 * at most `maxFrameBytes` (a single message always fits: events are limited to MAX_EVENT_BYTES).
 */
export function limitRpcFrames (gossipsub: GossipSub, maxFrameBytes = GO_MAX_RPC_BYTES): { splits: number } {
  const gs = gossipsub as unknown as GossipInternals
  const send = gs.sendRpc.bind(gossipsub)
  const stats = { splits: 0 }
  const slack = 4096
  gs.sendRpc = (id: string, rpc: Rpc): boolean => {
    const messages = rpc.messages ?? []
    const pendingGossip = gs.gossip.get(id)
    let size = slack + controlBytes(rpc.control)
    for (const sub of rpc.subscriptions as Array<{ topic?: string }>) size += 8 + (sub.topic?.length ?? 0) * 3
    if (pendingGossip != null) size += controlBytes({ ihave: pendingGossip })
    const pendingControl = gs.control.get(id)
    if (pendingControl != null) size += controlBytes(pendingControl as unknown as Record<string, unknown[]>)
    const sizes = messages.map(messageBytes)
    for (const s of sizes) size += s
    if (size <= maxFrameBytes) return send(id, rpc)
    stats.splits++
    let ok = true
    // first: everything but the messages (GossipSub piggybacks pending control and gossip here)
    if (rpc.subscriptions.length > 0 || rpc.control != null || pendingGossip != null || pendingControl != null) {
      ok = send(id, { subscriptions: rpc.subscriptions, messages: [], control: rpc.control })
    }
    let chunk: RpcMessage[] = []
    let chunkBytes = 0
    const flush = (): void => {
      if (chunk.length > 0 && ok) ok = send(id, { subscriptions: [], messages: chunk })
      chunk = []; chunkBytes = 0
    }
    messages.forEach((m, i) => {
      if (chunk.length > 0 && chunkBytes + sizes[i]! + slack > maxFrameBytes) flush()
      chunk.push(m); chunkBytes += sizes[i]!
    })
    flush()
    return ok
  }
  return stats
}
