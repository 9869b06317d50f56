// Package datapath is the kernel side of the director: a TCX ingress eBPF
// program that forwards each packet for a Service address to the node that
// owns its flow, and the Go code that loads it, fills its maps and attaches
// it. It runs on Linux only and imports nothing from Kubernetes.
//
// # What the program does
//
// The maps are the program's whole interface, and every decision about
// tables and node states is made in Go. For a packet to an address in the
// services map, the program hashes the flow's 5-tuple (see Bucket) to a
// bucket of the address's owner table and reads the bucket's primary and
// secondary node:
//
//   - arriving on an uplink, with another node as the flow's owner (the
//     primary, or the secondary of a bucket without primary): tunnelled
//     to the owner (hop 1, the VNI says which hop);
//   - at the flow's owner (on the uplink, or the hop-1 receiver on the
//     tunnel): kept if it is a TCP SYN without ACK or if the node's
//     conntrack has a live entry for the flow; else tunnelled (hop 2) to
//     the bucket's primary in this node's own table if that is another
//     node, or else to its secondary if that is another node; else kept;
//   - arriving on the tunnel at hop 2: kept, never sent a third time.
//
// A hop-1 receiver looks the flow up in its own table: node IDs are each
// node's own, so none travels in a packet, and a receiver whose table is
// a change behind or ahead of the sender's still finds the flow's other
// possible owner.
//
// Kept packets and every packet not for a Service address get the TCX
// "next" verdict untouched: the stack (kube-proxy's DNAT) takes them.
// Tunnelled packets get the tunnel key (the node's underlay address and
// the VNI), the tunnel device's shared MAC as inner destination, and are
// redirected to the tunnel device, a VXLAN device in external mode that
// EnsureTunnelDevice sets up together with the reverse-path filtering its
// receivers need. The tunnel accepts what any host sends to its UDP port;
// keep that port closed to everything but the nodes.
//
// A TCP conntrack entry in TIME_WAIT or CLOSE does not count as live: a
// client that reuses a source port opens with a SYN, which is kept
// anyway, while a packet of a connection that lives on the secondary must
// not be caught by the leftover of an old connection on the primary.
//
// UDP has no SYN: at its owner, a datagram of a flow conntrack does not
// know yet goes on to the secondary when there is one.
//
// ICMP "fragmentation needed" (IPv4) and ICMPv6 "packet too big" sent to a
// Service address belong to the flow they quote, turned around to the
// client's direction: they are hashed, and checked against conntrack, as
// that flow, so that the path MTU reaches the node that serves it.
//
// Not parsed, and so left untouched on the node they reached: IPv4
// fragments, IPv6 packets with extension headers, VLAN-tagged frames, and
// any protocol other than TCP, UDP and the two ICMP errors above.
//
// # What the kernel needs
//
// TCX (Linux 6.6 or later), BTF (CONFIG_DEBUG_INFO_BTF), the conntrack
// kfuncs bpf_skb_ct_lookup and bpf_ct_release (nf_conntrack built in or
// loaded), VXLAN, and conntrack active in the node's namespace (any
// nftables or iptables rule that uses it; kube-proxy's do). Errors that
// come from a missing feature wrap ErrKernelFeature.
//
// # The object
//
// The program is bpf/director.c, compiled for little-endian BPF by bpf2go
// (make bpf); the object and its Go bindings are committed, so building
// needs no clang. Tests fail when the C sources no longer match the
// checksums recorded at generation.
package datapath
