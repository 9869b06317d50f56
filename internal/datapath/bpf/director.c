/*
 * The director: forwards each packet for a Service address to the node that
 * owns its flow, or keeps it. Every decision about tables and nodes is made
 * in Go and reaches this program through its maps; the program only looks
 * them up and acts:
 *
 *   uplink, the flow's owner (its primary, or its secondary when no node
 *   is primary) is another node                 -> tunnel to it (hop 1)
 *   this node owns the flow (owner on the uplink, or hop 1 on the tunnel):
 *       TCP SYN without ACK, or a live local conntrack entry -> keep
 *       else, the bucket's primary in this node's own table if that is
 *       another node, or else its secondary if that is another node
 *                                               -> tunnel to it (hop 2)
 *       else                                    -> keep
 *   hop 2 on the tunnel                         -> keep (never a third hop)
 *
 * A hop-1 receiver looks the flow up in its own table rather than trust
 * the sender's: node IDs are each node's own, so no ID travels between
 * nodes, and when the two nodes' tables are one change apart the receiver
 * still finds the flow's other possible owner (see docs/director.md).
 *
 * "Keep" returns TCX_NEXT, as does every packet that is not for a Service
 * address: the stack (or a later program) then takes it unchanged.
 *
 * The program acts only while its lease lasts: the speaker that drives it
 * renews the lease, and once the lease has expired (the speaker is gone
 * and nobody took its place) every packet gets TCX_NEXT untouched, so a
 * program left attached never directs by a plan nobody keeps up to date.
 *
 * What is parsed: Ethernet, then IPv4 (options allowed) or IPv6 with TCP or
 * UDP directly after the fixed header. IPv4 fragments, IPv6 extension
 * headers, VLAN tags and any other protocol are not parsed: such packets
 * are left untouched and stay on the node they reached. ICMP "fragmentation
 * needed" and ICMPv6 "packet too big" are the two exceptions to "TCP or
 * UDP": they are handled as packets of the flow they quote (reversed), so
 * that the flow's owner learns the path MTU.
 */
#include "kernel.h"

/* The conntrack kfuncs are only callable from GPL-compatible programs. */
char LICENSE[] SEC("license") = "GPL";

#define MAX_NODES 8192
#define NO_NODE 0

/* The VNI of a tunnelled packet is its hop number. */
#define VNI_HOP1 1U
#define VNI_HOP2 2U

/* Set by the loader before the program is loaded. */
volatile const __u32 self_node = 0;
volatile const __u32 bucket_count = 1;
volatile const __u32 tunnel_ifindex = 0;
volatile const __u8 tunnel_mac[6] = {};

/* A Service address, IPv4 as v4-mapped IPv6. */
struct service_key {
	__u8 address[16];
};

/* A node's underlay address: family 4 (address v4-mapped) or 6; 0 = unset. */
struct underlay {
	__be32 address[4];
	__u32 family;
};

struct node_counters {
	__u64 hop1;
	__u64 hop2;
};

struct director_counters {
	__u64 passed_syn;
	__u64 passed_conntrack;
	__u64 passed_hop2;
	__u64 passed_no_state;
	__u64 second_chances;
	__u64 no_owner;
	__u64 lease_expired;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct service_key);
	__type(value, __u32);
} services SEC(".maps");

/* A table's buckets: primary node id << 16 | secondary node id. */
struct buckets {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct buckets);
} tables SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_NODES);
	__type(key, __u32);
	__type(value, struct underlay);
} nodes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MAX_NODES);
	__type(key, __u32);
	__type(value, struct node_counters);
} node_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct director_counters);
} counters SEC(".maps");

/* Until when the program may act: CLOCK_MONOTONIC ns, as bpf_ktime_get_ns counts. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} lease SEC(".maps");

/* A packet's flow: addresses as v4-mapped IPv6 for IPv4, ports in host order. */
struct flow {
	__be32 source[4];
	__be32 destination[4];
	__u16 source_port;
	__u16 destination_port;
	__u8 protocol;
	__u8 is_ipv6;
	__u8 is_syn;
};

static __always_inline struct director_counters *global_counters(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&counters, &zero);
}

#define COUNT(field)                                                                                   \
	do {                                                                                           \
		struct director_counters *c = global_counters();                                       \
		if (c)                                                                                 \
			c->field++;                                                                    \
	} while (0)

/* Whether nobody renewed the lease in time; the packet is then counted and left alone. */
static __always_inline int lease_expired(void)
{
	__u32 zero = 0;
	__u64 *until = bpf_map_lookup_elem(&lease, &zero);
	if (until && bpf_ktime_get_ns() < *until)
		return 0;
	COUNT(lease_expired);
	return 1;
}

static __always_inline void map_ipv4(__be32 out[4], __be32 address)
{
	out[0] = 0;
	out[1] = 0;
	out[2] = bpf_htonl(0xFFFF);
	out[3] = address;
}

static __always_inline void copy_ipv6(__be32 out[4], const __be32 in[4])
{
	out[0] = in[0];
	out[1] = in[1];
	out[2] = in[2];
	out[3] = in[3];
}

/* Reads the ports at offset, and for TCP whether the segment opens a connection. */
static __always_inline int read_ports(struct __sk_buff *skb, __u32 offset, struct flow *f)
{
	__be16 ports[2];
	if (f->protocol != IPPROTO_TCP && f->protocol != IPPROTO_UDP)
		return -1;
	if (bpf_skb_load_bytes(skb, offset, ports, sizeof(ports)) < 0)
		return -1;
	f->source_port = bpf_ntohs(ports[0]);
	f->destination_port = bpf_ntohs(ports[1]);
	if (f->protocol == IPPROTO_TCP) {
		__u8 flags;
		if (bpf_skb_load_bytes(skb, offset + 13, &flags, 1) < 0)
			return -1;
		f->is_syn = (flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN;
	}
	return 0;
}

/* Reads the ports a quoted packet starts its transport header with, swapped. */
static __always_inline int read_quoted_ports(struct __sk_buff *skb, __u32 offset, struct flow *f)
{
	__be16 ports[2];
	if (f->protocol != IPPROTO_TCP && f->protocol != IPPROTO_UDP)
		return -1;
	if (bpf_skb_load_bytes(skb, offset, ports, sizeof(ports)) < 0)
		return -1;
	f->source_port = bpf_ntohs(ports[1]);
	f->destination_port = bpf_ntohs(ports[0]);
	return 0;
}

/* An ICMP "fragmentation needed" at offset becomes the flow it quotes, reversed. */
static __always_inline int parse_icmpv4_quote(struct __sk_buff *skb, __u32 offset, struct flow *f)
{
	__u8 type_code[2];
	struct ipv4_header quoted;
	if (bpf_skb_load_bytes(skb, offset, type_code, sizeof(type_code)) < 0)
		return -1;
	if (type_code[0] != ICMP_DEST_UNREACH || type_code[1] != ICMP_FRAG_NEEDED)
		return -1;
	offset += 8;
	if (bpf_skb_load_bytes(skb, offset, &quoted, sizeof(quoted)) < 0)
		return -1;
	__u32 length = (quoted.version_ihl & 0xF) * 4;
	if ((quoted.version_ihl >> 4) != 4 || length < sizeof(quoted))
		return -1;
	if (quoted.fragment & bpf_htons(IP_OFFSET))
		return -1;
	map_ipv4(f->source, quoted.destination);
	map_ipv4(f->destination, quoted.source);
	f->protocol = quoted.protocol;
	return read_quoted_ports(skb, offset + length, f);
}

static __always_inline int parse_ipv4(struct __sk_buff *skb, struct flow *f, struct service_key *service)
{
	struct ipv4_header ip;
	if (bpf_skb_load_bytes(skb, ETH_HLEN, &ip, sizeof(ip)) < 0)
		return -1;
	__u32 length = (ip.version_ihl & 0xF) * 4;
	if ((ip.version_ihl >> 4) != 4 || length < sizeof(ip))
		return -1;
	/* A fragment: only the first carries ports, so none is directed. */
	if (ip.fragment & bpf_htons(IP_MF | IP_OFFSET))
		return -1;
	map_ipv4((__be32 *)service->address, ip.destination);
	if (ip.protocol == IPPROTO_ICMP)
		return parse_icmpv4_quote(skb, ETH_HLEN + length, f);
	map_ipv4(f->source, ip.source);
	map_ipv4(f->destination, ip.destination);
	f->protocol = ip.protocol;
	return read_ports(skb, ETH_HLEN + length, f);
}

/* An ICMPv6 "packet too big" at offset becomes the flow it quotes, reversed. */
static __always_inline int parse_icmpv6_quote(struct __sk_buff *skb, __u32 offset, struct flow *f)
{
	__u8 type;
	struct ipv6_header quoted;
	if (bpf_skb_load_bytes(skb, offset, &type, 1) < 0 || type != ICMPV6_PKT_TOOBIG)
		return -1;
	offset += 8;
	if (bpf_skb_load_bytes(skb, offset, &quoted, sizeof(quoted)) < 0)
		return -1;
	copy_ipv6(f->source, quoted.destination);
	copy_ipv6(f->destination, quoted.source);
	f->protocol = quoted.next_header;
	return read_quoted_ports(skb, offset + sizeof(quoted), f);
}

static __always_inline int parse_ipv6(struct __sk_buff *skb, struct flow *f, struct service_key *service)
{
	struct ipv6_header ip;
	if (bpf_skb_load_bytes(skb, ETH_HLEN, &ip, sizeof(ip)) < 0)
		return -1;
	f->is_ipv6 = 1;
	copy_ipv6((__be32 *)service->address, ip.destination);
	if (ip.next_header == IPPROTO_ICMPV6)
		return parse_icmpv6_quote(skb, ETH_HLEN + sizeof(ip), f);
	copy_ipv6(f->source, ip.source);
	copy_ipv6(f->destination, ip.destination);
	f->protocol = ip.next_header;
	return read_ports(skb, ETH_HLEN + sizeof(ip), f);
}

/* Fills the flow and the Service address it is for; -1 if the packet is not one to direct. */
static __always_inline int parse(struct __sk_buff *skb, struct flow *f, struct service_key *service)
{
	__be16 protocol;
	if (bpf_skb_load_bytes(skb, 12, &protocol, sizeof(protocol)) < 0)
		return -1;
	if (protocol == bpf_htons(ETH_P_IP))
		return parse_ipv4(skb, f, service);
	if (protocol == bpf_htons(ETH_P_IPV6))
		return parse_ipv6(skb, f, service);
	return -1;
}

static __always_inline __u32 rotate_left(__u32 x, __u32 r)
{
	return (x << r) | (x >> (32 - r));
}

/* One MurmurHash3 (x86, 32-bit) block step. */
static __always_inline __u32 mix(__u32 h, __u32 k)
{
	k *= 0xcc9e2d51;
	k = rotate_left(k, 15);
	k *= 0x1b873593;
	h ^= k;
	h = rotate_left(h, 13);
	return h * 5 + 0xe6546b64;
}

/*
 * The flow's hash: MurmurHash3's block step and finaliser, seed 0, over ten
 * 32-bit words: the source and destination addresses as four big-endian
 * words each, source port << 16 | destination port, and the protocol.
 * Go's Bucket computes the same.
 */
static __always_inline __u32 flow_hash(const struct flow *f)
{
	__u32 h = 0;
	for (int i = 0; i < 4; i++)
		h = mix(h, bpf_ntohl(f->source[i]));
	for (int i = 0; i < 4; i++)
		h = mix(h, bpf_ntohl(f->destination[i]));
	h = mix(h, (__u32)f->source_port << 16 | f->destination_port);
	h = mix(h, f->protocol);
	h ^= 40;
	h ^= h >> 16;
	h *= 0x85ebca6b;
	h ^= h >> 13;
	h *= 0xc2b2ae35;
	h ^= h >> 16;
	return h;
}

struct owners {
	__u32 primary;
	__u32 secondary;
};

/* Reads the flow's bucket in the table; -1 if the table is missing or the bucket names no node. */
static __always_inline int find_owners(__u32 table_id, const struct flow *f, struct owners *o)
{
	void *buckets = bpf_map_lookup_elem(&tables, &table_id);
	if (!buckets)
		return -1;
	__u32 bucket = flow_hash(f) % bucket_count;
	__u32 *entry = bpf_map_lookup_elem(buckets, &bucket);
	if (!entry)
		return -1;
	o->primary = *entry >> 16;
	o->secondary = *entry & 0xFFFF;
	return o->primary == NO_NODE && o->secondary == NO_NODE ? -1 : 0;
}

/*
 * Whether this node's conntrack has an entry for the flow that is not over.
 * A TCP entry in TIME_WAIT or CLOSE is stale: a client that reuses the
 * source port opens its new connection with a SYN, which is kept anyway,
 * while a packet of a connection that lives on another node must not be
 * caught by what is left of an old one here.
 */
static __always_inline int has_live_conntrack(struct __sk_buff *skb, const struct flow *f)
{
	struct bpf_sock_tuple tuple = {};
	struct bpf_ct_opts opts = {.netns_id = BPF_F_CURRENT_NETNS, .l4proto = f->protocol};
	struct nf_conn *ct;
	if (f->is_ipv6) {
		copy_ipv6(tuple.ipv6.saddr, f->source);
		copy_ipv6(tuple.ipv6.daddr, f->destination);
		tuple.ipv6.sport = bpf_htons(f->source_port);
		tuple.ipv6.dport = bpf_htons(f->destination_port);
		ct = bpf_skb_ct_lookup(skb, &tuple, sizeof(tuple.ipv6), &opts, BPF_CT_OPTS_SIZE);
	} else {
		tuple.ipv4.saddr = f->source[3];
		tuple.ipv4.daddr = f->destination[3];
		tuple.ipv4.sport = bpf_htons(f->source_port);
		tuple.ipv4.dport = bpf_htons(f->destination_port);
		ct = bpf_skb_ct_lookup(skb, &tuple, sizeof(tuple.ipv4), &opts, BPF_CT_OPTS_SIZE);
	}
	if (!ct)
		return 0;
	int live = 1;
	if (f->protocol == IPPROTO_TCP) {
		__u8 state = ct->proto.tcp.state;
		live = state != TCP_CONNTRACK_TIME_WAIT && state != TCP_CONNTRACK_CLOSE;
	}
	bpf_ct_release(ct);
	return live;
}

static __always_inline void count_sent(__u32 node, __u32 hop)
{
	struct node_counters *c = bpf_map_lookup_elem(&node_counters, &node);
	if (!c)
		return;
	if (hop == 2)
		c->hop2++;
	else
		c->hop1++;
}

/* Sends the packet through the tunnel to node; -1 if the node has no known address. */
static __always_inline int tunnel_to(struct __sk_buff *skb, __u32 node, __u32 vni)
{
	struct underlay *u = bpf_map_lookup_elem(&nodes, &node);
	if (!u || u->family == 0)
		return -1;
	struct bpf_tunnel_key key = {.tunnel_id = vni, .tunnel_ttl = 64};
	__u64 flags = 0;
	if (u->family == 6) {
		copy_ipv6(key.remote_ipv6, u->address);
		flags = BPF_F_TUNINFO_IPV6;
	} else {
		key.remote_ipv4 = bpf_ntohl(u->address[3]);
	}
	if (bpf_skb_set_tunnel_key(skb, &key, sizeof(key), flags) < 0)
		return -1;
	/* Every node's tunnel device has this MAC, so the receiver takes the frame as its own. */
	__u8 mac[6];
	for (int i = 0; i < 6; i++)
		mac[i] = tunnel_mac[i];
	if (bpf_skb_store_bytes(skb, 0, mac, sizeof(mac), 0) < 0)
		return -1;
	return 0;
}

static __always_inline int forward(struct __sk_buff *skb, __u32 node, __u32 hop)
{
	if (tunnel_to(skb, node, hop == 2 ? VNI_HOP2 : VNI_HOP1) < 0) {
		COUNT(no_owner);
		return TCX_NEXT;
	}
	count_sent(node, hop);
	if (hop == 2)
		COUNT(second_chances);
	return bpf_redirect(tunnel_ifindex, 0);
}

/* The node that owns a flow first: its primary, or with none its secondary. */
static __always_inline __u32 first_owner(const struct owners *o)
{
	return o->primary != NO_NODE ? o->primary : o->secondary;
}

/*
 * The node a packet this node owns but does not know goes to: the primary
 * if that is another node (the sender's table was older or newer than
 * this node's), else the secondary; NO_NODE when both are this node or
 * none.
 */
static __always_inline __u32 second_chance(const struct owners *o)
{
	if (o->primary != NO_NODE && o->primary != self_node)
		return o->primary;
	if (o->secondary != self_node)
		return o->secondary;
	return NO_NODE;
}

/* The rule for a packet this node owns. */
static __always_inline int at_owner(struct __sk_buff *skb, const struct flow *f, const struct owners *o)
{
	if (f->is_syn) {
		COUNT(passed_syn);
		return TCX_NEXT;
	}
	if (has_live_conntrack(skb, f)) {
		COUNT(passed_conntrack);
		return TCX_NEXT;
	}
	__u32 next = second_chance(o);
	if (next != NO_NODE)
		return forward(skb, next, 2);
	COUNT(passed_no_state);
	return TCX_NEXT;
}

SEC("tcx/ingress")
int director_uplink(struct __sk_buff *skb)
{
	struct flow f = {};
	struct service_key service = {};
	struct owners o;
	if (lease_expired())
		return TCX_NEXT;
	if (parse(skb, &f, &service) < 0)
		return TCX_NEXT;
	__u32 *table_id = bpf_map_lookup_elem(&services, &service);
	if (!table_id)
		return TCX_NEXT;
	if (find_owners(*table_id, &f, &o) < 0) {
		COUNT(no_owner);
		return TCX_NEXT;
	}
	__u32 owner = first_owner(&o);
	if (owner != self_node)
		return forward(skb, owner, 1);
	return at_owner(skb, &f, &o);
}

SEC("tcx/ingress")
int director_tunnel(struct __sk_buff *skb)
{
	struct flow f = {};
	struct service_key service = {};
	struct bpf_tunnel_key key = {};
	struct owners o;
	if (lease_expired())
		return TCX_NEXT;
	if (parse(skb, &f, &service) < 0)
		return TCX_NEXT;
	__u32 *table_id = bpf_map_lookup_elem(&services, &service);
	if (!table_id)
		return TCX_NEXT;
	/* The key's address family must be asked for; the VNI is all that is read. */
	if (bpf_skb_get_tunnel_key(skb, &key, sizeof(key), 0) < 0 &&
	    bpf_skb_get_tunnel_key(skb, &key, sizeof(key), BPF_F_TUNINFO_IPV6) < 0)
		return TCX_NEXT;
	if (key.tunnel_id == VNI_HOP2) {
		COUNT(passed_hop2);
		return TCX_NEXT;
	}
	if (find_owners(*table_id, &f, &o) < 0) {
		COUNT(passed_no_state);
		return TCX_NEXT;
	}
	return at_owner(skb, &f, &o);
}
