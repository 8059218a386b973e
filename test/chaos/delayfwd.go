// delayfwd: a transparent delay line for the chaos suite (Go standard library only, Linux).
//
// It runs in the switch namespace and copies Ethernet frames between interface pairs with AF_PACKET
// raw sockets: frames arriving on A (the node's veth peer) leave on B (whose peer is on the bridge)
// after delay +- jitter (uniform, per frame, so frames may be reordered as with netem); frames
// arriving on B leave on A at once. Addresses and MACs are untouched, so nodes see each other
// directly. Control lines on stdin:
//
//	pair A B        start forwarding between interfaces A and B
//	DELAY JITTER    set the delay and jitter in milliseconds (0 0 = none)
//
// The kernel's segmentation offloads must be off on these interfaces (a raw socket cannot send a
// frame larger than the MTU); the harness turns them off with ethtool.
package main

import (
	"bufio"
	"fmt"
	"math/rand"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

var delayUs, jitterUs atomic.Int64

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func open(name string) (int, int) {
	ifc, err := net.InterfaceByName(name)
	if err != nil {
		fmt.Fprintln(os.Stderr, "interface", name, err)
		os.Exit(1)
	}
	fd, err := syscall.Socket(syscall.AF_PACKET, syscall.SOCK_RAW, int(htons(syscall.ETH_P_ALL)))
	if err != nil {
		fmt.Fprintln(os.Stderr, "socket", err)
		os.Exit(1)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrLinklayer{Protocol: htons(syscall.ETH_P_ALL), Ifindex: ifc.Index}); err != nil {
		fmt.Fprintln(os.Stderr, "bind", name, err)
		os.Exit(1)
	}
	_ = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4<<20)
	return fd, ifc.Index
}

// copy reads frames arriving on `from` and writes them to `to`, delayed when `delayed`.
func copyFrames(from int, to int, toIndex int, delayed bool) {
	buf := make([]byte, 65536)
	dst := &syscall.SockaddrLinklayer{Ifindex: toIndex}
	for {
		n, sa, err := syscall.Recvfrom(from, buf, 0)
		if err != nil {
			if err == syscall.EINTR {
				continue
			}
			fmt.Fprintln(os.Stderr, "recv", err)
			return
		}
		if ll, ok := sa.(*syscall.SockaddrLinklayer); ok && ll.Pkttype == syscall.PACKET_OUTGOING {
			continue // our own writes, seen again on the way out
		}
		frame := make([]byte, n)
		copy(frame, buf[:n])
		d := time.Duration(0)
		if delayed {
			us := delayUs.Load()
			if j := jitterUs.Load(); j > 0 {
				us += rand.Int63n(2*j+1) - j
			}
			if us > 0 {
				d = time.Duration(us) * time.Microsecond
			}
		}
		if d == 0 {
			_ = syscall.Sendto(to, frame, 0, dst)
		} else {
			time.AfterFunc(d, func() { _ = syscall.Sendto(to, frame, 0, dst) })
		}
	}
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) == 3 && f[0] == "pair" {
			a, ai := open(f[1])
			b, bi := open(f[2])
			go copyFrames(a, b, bi, true)
			go copyFrames(b, a, ai, false)
			continue
		}
		var d, j int64
		if _, err := fmt.Sscanf(in.Text(), "%d %d", &d, &j); err == nil {
			delayUs.Store(d * 1000)
			jitterUs.Store(j * 1000)
			fmt.Fprintln(os.Stderr, "delay", d, "ms jitter", j, "ms")
		}
	}
	// stdin closed: the harness is gone
	os.Exit(0)
}
