package main

// The registry gater of the Go library (common/gater.go): dials and secured connections are
// allowed only for peers whose Ed25519 public key (= Solana wallet) is in the registry; inbound
// accepts pass until the handshake; results are cached per peer and per wallet and never expire,
// and an existing connection is never closed when a wallet leaves the registry.

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
	wallets              sync.Map // base58 wallet -> bool
	peers                sync.Map // peer.ID -> bool
}

func newRegistryGater(get func(ctx context.Context) ([]string, error)) *registryGater {
	return &registryGater{getAuthorizedWallets: get}
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
	if cached, ok := g.peers.Load(p); ok {
		return cached.(bool), nil
	}
	pub, err := p.ExtractPublicKey()
	if err != nil {
		g.peers.Store(p, false)
		return false, err
	}
	ed, ok := pub.(*crypto.Ed25519PublicKey)
	if !ok {
		g.peers.Store(p, false)
		return false, fmt.Errorf("peer ID does not use Ed25519 key")
	}
	raw, err := ed.Raw()
	if err != nil {
		return false, err
	}
	wallet := base58.Encode(raw)
	authorized, err := g.checkWallet(ctx, wallet)
	if err != nil {
		return false, err
	}
	g.peers.Store(p, authorized)
	return authorized, nil
}

func (g *registryGater) checkWallet(ctx context.Context, wallet string) (bool, error) {
	if cached, ok := g.wallets.Load(wallet); ok {
		return cached.(bool), nil
	}
	list, err := g.getAuthorizedWallets(ctx)
	if err != nil {
		return false, err
	}
	authorized := false
	for _, w := range list {
		if w == wallet {
			authorized = true
			break
		}
	}
	g.wallets.Store(wallet, authorized)
	return authorized, nil
}
