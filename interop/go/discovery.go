package main

// Discovery as the Go library does it (pubsub/discovery.go at the library's HEAD): routing
// discovery on the dual DHT under `p2p-database-discovery_<db>`; a lookup at start, then every
// 2 s an advertise (each tick starts another util.Advertise loop, as the library does) and a
// lookup that dials at most 5 new peers, 30 s per dial.

import (
	"context"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/discovery/routing"
	"github.com/libp2p/go-libp2p/p2p/discovery/util"
)

func (n *goNode) startDiscovery(ctx context.Context, findPeers bool) {
	rendezvous := fmt.Sprintf("p2p-database-discovery_%s", n.db)
	disc := routing.NewRoutingDiscovery(n.dht)
	find := func() {
		if !findPeers {
			return
		}
		peers, err := util.FindPeers(ctx, disc, rendezvous)
		if err != nil {
			logf("find peers: %v", err)
			return
		}
		for _, pi := range peers {
			if pi.ID != n.h.ID() {
				emit(map[string]interface{}{"type": "found", "peerId": pi.ID.String()})
			}
		}
		go n.processPeers(ctx, peers)
	}
	go func() {
		find()
		ticker := time.NewTicker(2 * time.Second)
		defer ticker.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
				util.Advertise(ctx, disc, rendezvous)
				find()
			}
		}
	}()
}

func (n *goNode) processPeers(ctx context.Context, peers []peer.AddrInfo) {
	connected := 0
	for _, pi := range peers {
		if pi.ID == n.h.ID() || n.h.Network().Connectedness(pi.ID) == network.Connected {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := n.h.Connect(cctx, pi)
		cancel()
		if err != nil {
			continue
		}
		connected++
		emit(map[string]interface{}{"type": "discovered", "peerId": pi.ID.String()})
		if connected >= 5 {
			break
		}
	}
}
