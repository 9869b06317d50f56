/*
 * The few kernel interfaces director.c uses, written out here so that the
 * build needs neither kernel nor libbpf headers and the object depends only
 * on files in this directory (their checksum is the staleness check).
 * Values are those of the kernel's UAPI (linux/bpf.h, linux/if_ether.h,
 * linux/in.h, linux/netfilter/nf_conntrack_tcp.h), which never change.
 */
#pragma once

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "director.c is built for little-endian BPF (bpfel) only"
#endif

typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef signed int __s32;
typedef __u16 __be16;
typedef __u32 __be32;

#define SEC(name) __attribute__((section(name), used))
#define __always_inline inline __attribute__((always_inline))
#define __ksym __attribute__((section(".ksyms")))

/* BTF-style map definitions, as the ELF loader reads them. */
#define __uint(name, val) int(*name)[val]
#define __type(name, val) typeof(val) *name
#define __array(name, val) typeof(val) *name[]

#define bpf_ntohs(x) __builtin_bswap16(x)
#define bpf_htons(x) __builtin_bswap16(x)
#define bpf_ntohl(x) __builtin_bswap32(x)
#define bpf_htonl(x) __builtin_bswap32(x)

/* Map types. */
#define BPF_MAP_TYPE_HASH 1
#define BPF_MAP_TYPE_ARRAY 2
#define BPF_MAP_TYPE_PERCPU_ARRAY 6
#define BPF_MAP_TYPE_ARRAY_OF_MAPS 12

#define BPF_F_NO_PREALLOC (1U << 0)

/* Verdicts of a TCX program. */
#define TCX_NEXT -1
#define TCX_REDIRECT 7

/* Flags of bpf_skb_{get,set}_tunnel_key. */
#define BPF_F_TUNINFO_IPV6 (1ULL << 0)

#define ETH_HLEN 14
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD

#define IPPROTO_ICMP 1
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define IPPROTO_ICMPV6 58

#define IP_MF 0x2000
#define IP_OFFSET 0x1FFF

#define ICMP_DEST_UNREACH 3
#define ICMP_FRAG_NEEDED 4
#define ICMPV6_PKT_TOOBIG 2

#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_ACK 0x10

/* enum tcp_conntrack: the states after which a connection is over. */
#define TCP_CONNTRACK_TIME_WAIT 7
#define TCP_CONNTRACK_CLOSE 8

/* The context of a tc program. Only its name matters here (the verifier
 * matches the program's context type by name); no field is read. */
struct __sk_buff {
	__u32 len;
};

struct bpf_tunnel_key {
	__u32 tunnel_id;
	union {
		__u32 remote_ipv4; /* host byte order */
		__u32 remote_ipv6[4];
	};
	__u8 tunnel_tos;
	__u8 tunnel_ttl;
	__u16 tunnel_flags;
	__u32 tunnel_label;
	union {
		__u32 local_ipv4;
		__u32 local_ipv6[4];
	};
};

struct bpf_sock_tuple {
	union {
		struct {
			__be32 saddr;
			__be32 daddr;
			__be16 sport;
			__be16 dport;
		} ipv4;
		struct {
			__be32 saddr[4];
			__be32 daddr[4];
			__be16 sport;
			__be16 dport;
		} ipv6;
	};
};

/* The options of the conntrack kfuncs, 16 bytes since kernel 6.x. */
struct bpf_ct_opts {
	__s32 netns_id;
	__s32 error;
	__u8 l4proto;
	__u8 dir;
	__u16 ct_zone_id;
	__u8 ct_zone_dir;
	__u8 reserved[3];
};

/*
 * The size passed to the conntrack kfuncs: 12, the options up to dir.
 * Kernels before 6.10 accept exactly 12; later ones, which added the zone
 * fields, accept 12 or 16. The program uses no zone, so 12 works on all.
 */
#define BPF_CT_OPTS_SIZE 12
#define BPF_F_CURRENT_NETNS (-1)

/*
 * The one field of a conntrack entry the program reads, the TCP state.
 * preserve_access_index makes the loader relocate the offsets against the
 * running kernel's BTF, so the layout here is only a name path.
 */
struct ip_ct_tcp {
	__u8 state;
} __attribute__((preserve_access_index));

union nf_conntrack_proto {
	struct ip_ct_tcp tcp;
} __attribute__((preserve_access_index));

struct nf_conn {
	union nf_conntrack_proto proto;
} __attribute__((preserve_access_index));

/* Packet headers, fields in network byte order. */
struct eth_header {
	__u8 destination[6];
	__u8 source[6];
	__be16 protocol;
};

struct ipv4_header {
	__u8 version_ihl;
	__u8 tos;
	__be16 total_length;
	__be16 id;
	__be16 fragment;
	__u8 ttl;
	__u8 protocol;
	__be16 checksum;
	__be32 source;
	__be32 destination;
};

struct ipv6_header {
	__be32 version_class_label;
	__be16 payload_length;
	__u8 next_header;
	__u8 hop_limit;
	__be32 source[4];
	__be32 destination[4];
};

/* Helpers, by their number in enum bpf_func_id. */
static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;
static __u64 (*bpf_ktime_get_ns)(void) = (void *)5;
static long (*bpf_skb_store_bytes)(struct __sk_buff *skb, __u32 offset, const void *from, __u32 len,
				   __u64 flags) = (void *)9;
static long (*bpf_skb_get_tunnel_key)(struct __sk_buff *skb, struct bpf_tunnel_key *key, __u32 size,
				      __u64 flags) = (void *)20;
static long (*bpf_skb_set_tunnel_key)(struct __sk_buff *skb, struct bpf_tunnel_key *key, __u32 size,
				      __u64 flags) = (void *)21;
static long (*bpf_redirect)(__u32 ifindex, __u64 flags) = (void *)23;
static long (*bpf_skb_load_bytes)(const struct __sk_buff *skb, __u32 offset, void *to, __u32 len) = (void *)26;

/* Conntrack kfuncs (net/netfilter/nf_conntrack_bpf.c). */
extern struct nf_conn *bpf_skb_ct_lookup(struct __sk_buff *skb, struct bpf_sock_tuple *tuple, __u32 tuple__sz,
					 struct bpf_ct_opts *opts, __u32 opts__sz) __ksym;
extern void bpf_ct_release(struct nf_conn *ct) __ksym;
