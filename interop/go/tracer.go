package main

// A go-libp2p-pubsub RawTracer that only observes: it reports the message id go-libp2p-pubsub
// computed for every message delivered here (published locally or received), and counts the RPC
// frames received (largest frame, messages, IWANT/IHAVE ids) for the frame-size tests.

import (
	"encoding/hex"
	"sync"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

type rawTracer struct {
	self                                                     peer.ID
	mu                                                       sync.Mutex
	rpcs, messages, iwantIDs, ihaveIDs, rejected, duplicates int
	maxFrame                                                 int
	local                                                    map[string]bool
}

// messageID is go-libp2p-pubsub's DefaultMsgIdFn; the first time it sees a message this node
// authored it reports the id (as a "delivered" line with local=true).
func (t *rawTracer) messageID(m *pb.Message) string {
	id := pubsub.DefaultMsgIdFn(m)
	if peer.ID(m.GetFrom()) == t.self {
		t.mu.Lock()
		if t.local == nil {
			t.local = map[string]bool{}
		}
		first := !t.local[id]
		t.local[id] = true
		t.mu.Unlock()
		if first {
			emit(map[string]interface{}{"type": "delivered", "topic": m.GetTopic(), "msgId": hex.EncodeToString([]byte(id)),
				"from": t.self.String(), "seqno": hex.EncodeToString(m.GetSeqno()), "local": true})
		}
	}
	return id
}

func (t *rawTracer) DeliverMessage(msg *pubsub.Message) {
	emit(map[string]interface{}{"type": "delivered", "topic": msg.GetTopic(), "msgId": hex.EncodeToString([]byte(msg.ID)),
		"from": msg.GetFrom().String(), "seqno": hex.EncodeToString(msg.GetSeqno()), "local": msg.ReceivedFrom == t.self})
}

func (t *rawTracer) RecvRPC(rpc *pubsub.RPC) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.rpcs++
	t.messages += len(rpc.GetPublish())
	if size := rpc.Size(); size > t.maxFrame {
		t.maxFrame = size
	}
	for _, w := range rpc.GetControl().GetIwant() {
		t.iwantIDs += len(w.GetMessageIDs())
	}
	for _, h := range rpc.GetControl().GetIhave() {
		t.ihaveIDs += len(h.GetMessageIDs())
	}
}

func (t *rawTracer) RejectMessage(*pubsub.Message, string) { t.mu.Lock(); t.rejected++; t.mu.Unlock() }
func (t *rawTracer) DuplicateMessage(*pubsub.Message)      { t.mu.Lock(); t.duplicates++; t.mu.Unlock() }

func (t *rawTracer) stats() map[string]interface{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	return map[string]interface{}{"type": "stats", "rpcs": t.rpcs, "messages": t.messages, "maxFrame": t.maxFrame,
		"iwantIds": t.iwantIDs, "ihaveIds": t.ihaveIDs, "rejected": t.rejected, "duplicates": t.duplicates}
}

func (t *rawTracer) AddPeer(peer.ID, protocol.ID)         {}
func (t *rawTracer) RemovePeer(peer.ID)                   {}
func (t *rawTracer) Join(string)                          {}
func (t *rawTracer) Leave(string)                         {}
func (t *rawTracer) Graft(peer.ID, string)                {}
func (t *rawTracer) Prune(peer.ID, string)                {}
func (t *rawTracer) ValidateMessage(*pubsub.Message)      {}
func (t *rawTracer) ThrottlePeer(peer.ID)                 {}
func (t *rawTracer) SendRPC(*pubsub.RPC, peer.ID)         {}
func (t *rawTracer) DropRPC(*pubsub.RPC, peer.ID)         {}
func (t *rawTracer) UndeliverableMessage(*pubsub.Message) {}
