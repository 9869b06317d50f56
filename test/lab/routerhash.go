package lab

// Header hashing at the lab router.
//
// A router with equal-cost multipath picks a next hop per packet from a
// hash, and a hardware router hashes the packet's own headers: with the
// 5-tuple policy (fib_multipath_hash_policy=1, which the lab sets) every
// packet of one connection, and every new connection that reuses the same
// addresses and ports, takes the same next hop. What bgplb promises and
// what the what-if estimator predicts are stated for such a router.
//
// The Linux router of the lab does not behave so on its own. A TCP socket
// gives its packets a random flow hash (sk_txhash), and the kernel marks it
// as an L4 hash. A veth pair hands the packet to the other namespace
// without clearing that hash (it scrubs addresses, marks and the
// route, not the hash), so the packet arrives at the router carrying the
// client socket's hash, and the kernel's multipath hash uses an L4 hash the
// packet already has instead of hashing the headers. The router therefore
// spreads flows by each client socket's random number: a new connection
// from the same source port, which a hardware router sends where the last
// one went, lands on any next hop, and TCP even picks a new random hash
// after a retransmission timeout (net.core.txrehash), so a SYN retried
// after a timeout may reach another node than the first one did.
//
// A one-instruction program at the ingress of the router's interfaces
// throws that hash away (bpf_set_hash_invalid), so the multipath hash of
// every packet the router forwards is computed from its headers, as on
// real hardware. Both sides are covered: the client's connections come in
// on cli, and anything the nodes send through the router to an address
// with several next hops comes in on lan. Hashing again costs the kernel
// one flow dissection per packet, nothing a lab notices.

import (
	"fmt"
	"net"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
)

// tcxNext is the verdict that hands the packet on to the next program at
// the same hook, or to the stack when there is none (TCX_NEXT, which the
// kernel also knows as TC_ACT_UNSPEC). The program changes nothing else,
// so it never decides a packet's fate.
const tcxNext = -1

// headerHashPorts are the router's interfaces whose incoming packets are
// hashed by their headers.
var headerHashPorts = []string{"cli", "lan"}

// hashHeadersAtRouter makes the router namespace hash the 5-tuple of the
// packets it forwards, as a hardware router does, instead of reusing the
// sending socket's hash (see the comment at the top of this file). The
// program and its links stay until the lab closes.
func (l *Lab) hashHeadersAtRouter() error {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "lab_rehash",
		Type: ebpf.SchedCLS,
		Instructions: asm.Instructions{
			// R1 holds the packet (the skb), the helper's only argument.
			asm.FnSetHashInvalid.Call(),
			asm.Mov.Imm(asm.R0, tcxNext),
			asm.Return(),
		},
	})
	if err != nil {
		return fmt.Errorf("load the program that clears the skb hash: %w", err)
	}
	l.onClose(prog.Close)
	ns := l.Prefix + "-router"
	for _, port := range headerHashPorts {
		var lk link.Link
		// The link is made inside the router namespace: the kernel looks
		// up the interface index in the namespace of the calling thread,
		// and the index itself only means something there.
		err := inNetns(ns, func() error {
			iface, err := net.InterfaceByName(port)
			if err != nil {
				return err
			}
			lk, err = link.AttachTCX(link.TCXOptions{Interface: iface.Index, Program: prog, Attach: ebpf.AttachTCXIngress})
			return err
		})
		if err != nil {
			return fmt.Errorf("attach the program that clears the skb hash at ingress of %s in %s: %w", port, ns, err)
		}
		l.onClose(lk.Close)
	}
	return nil
}
