package main

// The registry gater of the Go library (common/gater.go at its HEAD): dials and secured
// connections are allowed only for peers whose Ed25519 public key (= Solana wallet) is authorized.
// Authorized wallets are cached; the cache is replaced by the registry's list every 30 s (the
// library's default RefreshInterval), and a wallet missing from it is looked up in the registry
// directly. Inbound accepts pass until the handshake. An existing connection is never closed when
// a wallet leaves the registry.

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/mr-tron/base58"
	ma "github.com/multiformats/go-multiaddr"
)

type registryGater struct {
	getAuthorizedWallets func(ctx context.Context) ([]string, error)
	mu                   sync.RWMutex
	authorized           map[string]bool
}

func newRegistryGater(get func(ctx context.Context) ([]string, error), refresh time.Duration) *registryGater {
	g := &registryGater{getAuthorizedWallets: get, authorized: map[string]bool{}}
	go func() {
		g.refreshCache()
		for range time.Tick(refresh) {
			g.refreshCache()
		}
	}()
	return g
}

func (g *registryGater) refreshCache() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	list, err := g.getAuthorizedWallets(ctx)
	if err != nil {
		logf("gater: refresh failed: %v", err)
		return
	}
	next := map[string]bool{}
	for _, w := range list {
		next[w] = true
	}
	g.mu.Lock()
	g.authorized = next
	g.mu.Unlock()
}

func (g *registryGater) InterceptPeerDial(p peer.ID) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ok, err := g.isAuthorizedPeer(ctx, p)
	return err == nil && ok
}

func (g *registryGater) InterceptAddrDial(p peer.ID, _ ma.Multiaddr) bool {
	return g.InterceptPeerDial(p)
}

func (g *registryGater) InterceptAccept(network.ConnMultiaddrs) bool { return true }

func (g *registryGater) InterceptSecured(dir network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ok, err := g.isAuthorizedPeer(ctx, p)
	if err != nil || !ok {
		logf("gater: refused %s peer %s (err %v)", dir, p, err)
		return false
	}
	return true
}

func (g *registryGater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) {
	return true, 0
}

func (g *registryGater) isAuthorizedPeer(ctx context.Context, p peer.ID) (bool, error) {
	pub, err := p.ExtractPublicKey()
	if err != nil {
		return false, err
	}
	ed, ok := pub.(*crypto.Ed25519PublicKey)
	if !ok {
		return false, fmt.Errorf("peer ID does not use Ed25519 key")
	}
	raw, err := ed.Raw()
	if err != nil {
		return false, err
	}
	return g.checkWallet(ctx, base58.Encode(raw))
}

func (g *registryGater) checkWallet(ctx context.Context, wallet string) (bool, error) {
	g.mu.RLock()
	cached := g.authorized[wallet]
	g.mu.RUnlock()
	if cached {
		return true, nil
	}
	list, err := g.getAuthorizedWallets(ctx)
	if err != nil {
		return false, err
	}
	for _, w := range list {
		if w == wallet {
			g.mu.Lock()
			g.authorized[wallet] = true
			g.mu.Unlock()
			return true, nil
		}
	}
	return false, nil
}
