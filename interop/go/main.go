// gonode: a DePIN node built the way the Go library (github.com/dtelecom/p2p-pubsub) builds its
// host, for the TypeScript interop tests. The Go module proxy does not serve that library, so this
// program composes the same host from go-libp2p, go-libp2p-kad-dht and go-libp2p-pubsub at the
// versions the library pins (see go.mod and ../../README.md, "Mixed networks with Go nodes"):
//
//   - identity: the 64-byte Solana secret key (base58) is the Ed25519 libp2p key;
//   - host: QUIC v1 + TCP listening on the given host/ports, relay client, connection manager
//     100/400 with a 1 min grace period, the registry gater (gater.go), NAT service; NAT port
//     mapping only with -nat-portmap (it multicasts UPnP discovery on the machine's LAN, which the
//     tests must never do);
//   - dual kad-dht with go's defaults (LAN server, WAN auto), GossipSub with go's defaults
//     (StrictSign, message id = from + seqno, no peer scoring);
//   - bootstrap from a list of {publicKey, ip, quicPort, tcpPort}, retried every 5 s while the node
//     has no peer; discovery via the rendezvous `p2p-database-discovery_<db>` every 2 s (discovery.go);
//   - events `{id, from_peer, message, timestamp}` on topic `<db>_<topic>`.
//
// Protocol: JSON lines. stdin takes commands ({"cmd":"publish"|"subscribe"|"connect"|"peers"|
// "stats"|"quit", ...}); stdout carries events ({"type":"started"|"event"|"published"|"delivered"|
// "ready"|"not-ready"|"peers"|"stats"|"connected"|"error", ...}). Logs go to stderr.
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p-kad-dht/dual"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	libp2pquic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	"github.com/mr-tron/base58"
	ma "github.com/multiformats/go-multiaddr"
)

// Event is the library's event (common/types.go).
type Event struct {
	ID         string      `json:"id"`
	FromPeerId string      `json:"from_peer"`
	Message    interface{} `json:"message"`
	Timestamp  int64       `json:"timestamp"`
}

type bootstrapNode struct {
	PublicKey string `json:"publicKey"`
	IP        string `json:"ip"`
	QUICPort  int    `json:"quicPort"`
	TCPPort   int    `json:"tcpPort"`
}

type fileConfig struct {
	AuthorizedWallets []string        `json:"authorizedWallets"`
	BootstrapNodes    []bootstrapNode `json:"bootstrapNodes"`
}

var out = struct {
	sync.Mutex
	enc *json.Encoder
}{enc: json.NewEncoder(os.Stdout)}

func emit(v map[string]interface{}) {
	out.Lock()
	defer out.Unlock()
	_ = out.enc.Encode(v)
}

func logf(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05.000 ")+format+"\n", args...)
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "peerid" {
		peerIDs()
		return
	}
	keyFlag := flag.String("key", "", "base58 Solana secret key (64 bytes)")
	dbFlag := flag.String("db", "", "database name")
	configFlag := flag.String("config", "", "JSON file: {authorizedWallets: [...], bootstrapNodes: [{publicKey, ip, quicPort, tcpPort}]}; reread on every registry/bootstrap call")
	listenHost := flag.String("listen-host", "0.0.0.0", "harness: IPv4 address to listen on (the library: 0.0.0.0)")
	quicPort := flag.Int("quic-port", 4001, "QUIC port (0 = ephemeral, -1 = no QUIC listener)")
	tcpPort := flag.Int("tcp-port", 4002, "TCP port (0 = ephemeral, -1 = no TCP listener)")
	wanServer := flag.Bool("wan-dht-server", false, "harness: force the WAN DHT into server mode")
	natPortmap := flag.Bool("nat-portmap", false, "enable UPnP/NAT-PMP port mapping like the library (off in tests: it multicasts on the LAN)")
	topics := flag.String("subscribe", "", "comma-separated topics to subscribe to at start")
	refresh := flag.Duration("registry-refresh", 30*time.Second, "how often the gater replaces its cache of authorized wallets (the library's RefreshInterval, default 30 s)")
	findPeers := flag.Bool("find-peers", true, "harness: false = discovery only advertises (never looks up), so a connection to this node proves the other side found it")
	secp := flag.Bool("secp256k1-identity", false, "harness: use a random secp256k1 key instead of the wallet (a peer the registry gaters must refuse)")
	flag.Parse()
	if *keyFlag == "" || *dbFlag == "" || *configFlag == "" {
		fmt.Fprintln(os.Stderr, "usage: gonode -key <base58> -db <name> -config <file.json> [flags]")
		os.Exit(2)
	}

	priv, err := identityFromSolanaKey(*keyFlag)
	must(err, "identity")
	if *secp {
		priv, _, err = crypto.GenerateSecp256k1Key(rand.Reader)
		must(err, "secp256k1 identity")
	}
	readConfig := func() (fileConfig, error) {
		var c fileConfig
		b, err := os.ReadFile(*configFlag)
		if err != nil {
			return c, err
		}
		return c, json.Unmarshal(b, &c)
	}

	connManager, err := connmgr.NewConnManager(100, 400, connmgr.WithGracePeriod(time.Minute))
	must(err, "connmgr")
	gater := newRegistryGater(func(ctx context.Context) ([]string, error) {
		c, err := readConfig()
		return c.AuthorizedWallets, err
	}, *refresh)
	var listen []string
	if *quicPort >= 0 {
		listen = append(listen, fmt.Sprintf("/ip4/%s/udp/%d/quic-v1", *listenHost, *quicPort))
	}
	if *tcpPort >= 0 {
		listen = append(listen, fmt.Sprintf("/ip4/%s/tcp/%d", *listenHost, *tcpPort))
	}
	opts := []libp2p.Option{
		libp2p.Identity(priv),
		libp2p.ListenAddrStrings(listen...),
		libp2p.Transport(libp2pquic.NewTransport),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.EnableRelay(),
		libp2p.ConnectionManager(connManager),
		libp2p.ConnectionGater(gater),
		libp2p.EnableNATService(),
	}
	if *natPortmap {
		opts = append(opts, libp2p.NATPortMap())
	}
	h, err := libp2p.New(opts...)
	must(err, "host")

	var dhtOpts []dual.Option
	if *wanServer {
		dhtOpts = append(dhtOpts, dual.WanDHTOption(dht.Mode(dht.ModeServer)))
	}
	kad, err := dual.New(context.Background(), h, dhtOpts...)
	must(err, "dht")

	tracer := &rawTracer{self: h.ID()}
	// The library calls pubsub.NewGossipSub(ctx, host) with no options. The raw tracer only
	// observes, and the message id function is go's default, wrapped to report the id of each
	// message this node publishes (raw tracers never see local messages).
	ps, err := pubsub.NewGossipSub(context.Background(), h, pubsub.WithRawTracer(tracer), pubsub.WithMessageIdFn(tracer.messageID))
	must(err, "gossipsub")

	node := &goNode{h: h, dht: kad, ps: ps, db: *dbFlag, tracer: tracer, topics: map[string]*pubsub.Topic{}, subs: map[string]bool{}}
	node.readBootstrap = func(ctx context.Context) ([]bootstrapNode, error) {
		c, err := readConfig()
		return c.BootstrapNodes, err
	}
	h.Network().Notify(&network.NotifyBundle{
		ConnectedF:    func(network.Network, network.Conn) { node.updateReadiness() },
		DisconnectedF: func(network.Network, network.Conn) { node.updateReadiness() },
	})

	addrs := []string{}
	for _, a := range h.Addrs() {
		addrs = append(addrs, a.String())
	}
	emit(map[string]interface{}{"type": "started", "peerId": h.ID().String(), "addrs": addrs})

	for _, t := range strings.Split(*topics, ",") {
		if t != "" {
			must(node.subscribe(t), "subscribe")
		}
	}
	go func() {
		if err := node.bootstrapWithRetry(context.Background()); err != nil {
			logf("bootstrap: %v", err)
		}
		node.startDiscovery(context.Background(), *findPeers)
	}()
	node.commands()
	_ = kad.Close()
	_ = h.Close()
}

func must(err error, what string) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", what, err)
		os.Exit(1)
	}
}

// identityFromSolanaKey follows common/identity.go: the decoded 64-byte secret key is the
// ed25519 private key.
func identityFromSolanaKey(b58 string) (crypto.PrivKey, error) {
	raw, err := base58.Decode(b58)
	if err != nil {
		return nil, fmt.Errorf("failed to parse Solana private key: %w", err)
	}
	return crypto.UnmarshalEd25519PrivateKey(raw)
}

// peerIDFromSolanaPublicKey follows common/identity.go.
func peerIDFromSolanaPublicKey(b58 string) (peer.ID, error) {
	raw, err := base58.Decode(b58)
	if err != nil {
		return "", err
	}
	pub, err := crypto.UnmarshalEd25519PublicKey(raw)
	if err != nil {
		return "", err
	}
	return peer.IDFromPublicKey(pub)
}

// `gonode peerid`: for each base58 secret key on stdin, the peer id the library derives.
func peerIDs() {
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		priv, err := identityFromSolanaKey(line)
		if err != nil {
			fmt.Println("error: " + err.Error())
			continue
		}
		id, err := peer.IDFromPrivateKey(priv)
		if err != nil {
			fmt.Println("error: " + err.Error())
			continue
		}
		fmt.Println(id.String())
	}
}

type goNode struct {
	h             host.Host
	dht           *dual.DHT
	ps            *pubsub.PubSub
	db            string
	tracer        *rawTracer
	readBootstrap func(ctx context.Context) ([]bootstrapNode, error)

	mu     sync.Mutex
	topics map[string]*pubsub.Topic
	subs   map[string]bool

	readyMu  sync.Mutex
	ready    bool
	retrying bool
}

func (n *goNode) topic(t string) (*pubsub.Topic, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if tp, ok := n.topics[t]; ok {
		return tp, nil
	}
	tp, err := n.ps.Join(fmt.Sprintf("%s_%s", n.db, t))
	if err != nil {
		return nil, err
	}
	n.topics[t] = tp
	return tp, nil
}

// subscribe follows pubsub/pubsub_operations.go (Subscribe + messageListener).
func (n *goNode) subscribe(t string) error {
	tp, err := n.topic(t)
	if err != nil {
		return err
	}
	n.mu.Lock()
	if n.subs[t] {
		n.mu.Unlock()
		return fmt.Errorf("already subscribed to topic: %s", t)
	}
	n.subs[t] = true
	n.mu.Unlock()
	sub, err := tp.Subscribe()
	if err != nil {
		return err
	}
	go func() {
		for {
			msg, err := sub.Next(context.Background())
			if err != nil {
				return
			}
			if msg.ReceivedFrom == n.h.ID() {
				continue
			}
			var event Event
			if err := json.Unmarshal(msg.Data, &event); err != nil {
				emit(map[string]interface{}{"type": "dropped", "topic": t, "reason": "unmarshal: " + err.Error()})
				continue
			}
			if event.ID == "" {
				emit(map[string]interface{}{"type": "dropped", "topic": t, "reason": "empty id"})
				continue
			}
			if event.FromPeerId == "" {
				event.FromPeerId = msg.ReceivedFrom.String()
			}
			emit(map[string]interface{}{"type": "event", "topic": t, "event": event, "msgId": hex.EncodeToString([]byte(msg.ID)),
				"source": msg.GetFrom().String(), "receivedFrom": msg.ReceivedFrom.String(), "bytes": len(msg.Data)})
		}
	}()
	return nil
}

// publish follows pubsub_operations.go Publish.
func (n *goNode) publish(ctx context.Context, t string, value interface{}) (Event, error) {
	tp, err := n.topic(t)
	if err != nil {
		return Event{}, err
	}
	event := Event{ID: uuid.New().String(), FromPeerId: n.h.ID().String(), Message: value, Timestamp: time.Now().Unix()}
	data, err := json.Marshal(event)
	if err != nil {
		return Event{}, err
	}
	return event, tp.Publish(ctx, data)
}

func (n *goNode) updateReadiness() {
	count := len(n.h.Network().Peers())
	n.readyMu.Lock()
	was := n.ready
	n.ready = count > 0
	now := n.ready
	n.readyMu.Unlock()
	if !was && now {
		emit(map[string]interface{}{"type": "ready", "peers": count})
	} else if was && !now {
		emit(map[string]interface{}{"type": "not-ready"})
		go func() {
			time.Sleep(2 * time.Second)
			if !n.isReady() {
				n.startBootstrapRetry(context.Background())
			}
		}()
	}
}

func (n *goNode) isReady() bool {
	n.readyMu.Lock()
	defer n.readyMu.Unlock()
	return n.ready
}

// bootstrapNetwork follows infrastructure.go: DHT bootstrap, then dial every entry (QUIC and TCP
// address, 30 s each).
func (n *goNode) bootstrapNetwork(ctx context.Context) error {
	if err := n.dht.Bootstrap(ctx); err != nil {
		return err
	}
	nodes, err := n.readBootstrap(ctx)
	if err != nil {
		return err
	}
	if len(nodes) == 0 {
		return nil
	}
	connected := 0
	for _, b := range nodes {
		id, err := peerIDFromSolanaPublicKey(b.PublicKey)
		if err != nil {
			continue
		}
		if id == n.h.ID() {
			continue
		}
		q, err1 := ma.NewMultiaddr(fmt.Sprintf("/ip4/%s/udp/%d/quic-v1", b.IP, b.QUICPort))
		t, err2 := ma.NewMultiaddr(fmt.Sprintf("/ip4/%s/tcp/%d", b.IP, b.TCPPort))
		if err1 != nil || err2 != nil {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err = n.h.Connect(cctx, peer.AddrInfo{ID: id, Addrs: []ma.Multiaddr{q, t}})
		cancel()
		if err != nil {
			logf("bootstrap connect %s failed: %v", id, err)
			continue
		}
		connected++
	}
	if connected == 0 {
		return fmt.Errorf("failed to connect to any bootstrap nodes")
	}
	return nil
}

func (n *goNode) bootstrapWithRetry(ctx context.Context) error {
	nodes, err := n.readBootstrap(ctx)
	if err != nil {
		return err
	}
	if len(nodes) == 0 {
		n.startBootstrapRetry(ctx)
		return nil
	}
	if err := n.bootstrapNetwork(ctx); err != nil {
		return err
	}
	time.Sleep(time.Second)
	return nil
}

// startBootstrapRetry: every 5 s until the node has a peer (infrastructure.go).
func (n *goNode) startBootstrapRetry(ctx context.Context) {
	n.readyMu.Lock()
	if n.retrying {
		n.readyMu.Unlock()
		return
	}
	n.retrying = true
	n.readyMu.Unlock()
	go func() {
		defer func() { n.readyMu.Lock(); n.retrying = false; n.readyMu.Unlock() }()
		ticker := time.NewTicker(5 * time.Second)
		defer ticker.Stop()
		for range ticker.C {
			if n.isReady() {
				return
			}
			if err := n.bootstrapNetwork(ctx); err != nil {
				logf("bootstrap retry failed: %v", err)
				continue
			}
			if n.isReady() {
				return
			}
		}
	}()
}

func (n *goNode) commands() {
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for sc.Scan() {
		var cmd struct {
			Cmd     string          `json:"cmd"`
			Ref     interface{}     `json:"ref"`
			Topic   string          `json:"topic"`
			Message json.RawMessage `json:"message"`
			Addr    string          `json:"addr"`
		}
		if err := json.Unmarshal(sc.Bytes(), &cmd); err != nil {
			emit(map[string]interface{}{"type": "error", "error": "bad command: " + err.Error()})
			continue
		}
		reply := func(v map[string]interface{}) { v["ref"] = cmd.Ref; emit(v) }
		fail := func(err error) { reply(map[string]interface{}{"type": "error", "cmd": cmd.Cmd, "error": err.Error()}) }
		switch cmd.Cmd {
		case "quit":
			return
		case "subscribe":
			if err := n.subscribe(cmd.Topic); err != nil {
				fail(err)
			} else {
				reply(map[string]interface{}{"type": "subscribed", "topic": cmd.Topic})
			}
		case "publish":
			// the library's Publish takes an interface{}: decode the JSON as Go would
			var value interface{}
			if err := json.Unmarshal(cmd.Message, &value); err != nil {
				fail(err)
				continue
			}
			go func(ref interface{}) {
				event, err := n.publish(context.Background(), cmd.Topic, value)
				if err != nil {
					fail(err)
					return
				}
				emit(map[string]interface{}{"type": "published", "ref": ref, "topic": cmd.Topic, "event": event})
			}(cmd.Ref)
		case "connect":
			ai, err := peer.AddrInfoFromString(cmd.Addr)
			if err != nil {
				fail(err)
				continue
			}
			go func(ref interface{}) {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				if err := n.h.Connect(ctx, *ai); err != nil {
					emit(map[string]interface{}{"type": "error", "cmd": "connect", "ref": ref, "error": err.Error()})
					return
				}
				emit(map[string]interface{}{"type": "connected", "ref": ref, "peerId": ai.ID.String()})
			}(cmd.Ref)
		case "peers":
			var list []map[string]interface{}
			for _, p := range n.h.Network().Peers() {
				protos, _ := n.h.Peerstore().GetProtocols(p)
				var ps []string
				for _, pr := range protos {
					ps = append(ps, string(pr))
				}
				var addrs []string
				for _, c := range n.h.Network().ConnsToPeer(p) {
					addrs = append(addrs, c.RemoteMultiaddr().String())
				}
				list = append(list, map[string]interface{}{"peerId": p.String(), "protocols": ps, "addrs": addrs})
			}
			reply(map[string]interface{}{"type": "peers", "peers": list})
		case "stats":
			reply(n.tracer.stats())
		default:
			fail(fmt.Errorf("unknown command %q", cmd.Cmd))
		}
	}
}
