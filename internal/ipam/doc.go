// Package ipam manages the external addresses that bgplb hands to
// LoadBalancer Services.
//
// The package is pure: it takes plain Go values (pools, Services described by
// the fields the allocator needs) and returns plain Go values, so every rule
// can be tested in a table without a Kubernetes API server. It deliberately
// imports nothing from Kubernetes or GoBGP; label selectors are plugged in
// through the LabelMatcher interface.
//
// # Choosing a pool
//
// All addresses of one Service come from one pool. When a Service names
// addresses, they decide the pool. When it names only a pool, that pool is
// the only candidate. Otherwise the candidates are the pools that allow the
// Service and assign automatically (or are the pool the Service already
// uses), ordered by Priority (lower first, 0 last) and then by name. Two
// kinds of pools are moved to the front of that order so that a recomputed
// assignment changes as little as possible: first the pool the Service
// already uses, then pools holding an address the Service may share under
// its sharing key. The first candidate that can supply every wanted family
// wins; for PreferDualStack, failing that, the first that can supply the
// primary family.
//
// # Choosing an address
//
// Within a pool, for each family, a Service keeps the address it already
// holds if it still may, else shares the lowest address held under its
// sharing key that it may share, else takes the lowest free address (ranges
// are searched in address order, so this is the lowest free address of the
// pool). Lowest-first makes assignments deterministic and easy to predict in
// tests and runbooks.
//
// # Addresses a pool never hands out
//
// IPv6 pools never hand out a subnet-router anycast address (RFC 4291
// section 2.6.1), the all-zero host of a subnet, which every router on the
// subnet answers itself. IPv6 subnets are /64s, so that is every address
// whose last 64 bits are zero; a range that is exactly a prefix longer than
// /64, such as 2001:db8:100::100/120, also avoids its own first address,
// the anycast address of that prefix. A "first-last" range covering exactly
// a prefix is that prefix. A range of one address, such as
// 2001:db8:100::/128, avoids nothing: the operator named that address.
// With AvoidBuggyIPs, IPv4 pools also skip addresses ending in .0 and .255.
// Avoided addresses are not counted as available, requests and adoptions
// naming them are refused with the reason, and a Service holding one when
// the pools change is moved.
//
// # Finding the lowest free address
//
// Each range keeps a cursor below which every address has been looked at,
// and a min-heap of the addresses below the cursor that were released since.
// The lowest free address is the top of the heap, or else the first address
// from the cursor on that nobody holds. Finding it costs O(log n) in the
// number of released addresses, plus the cursor's single pass over each
// address, and never a scan of the assigned addresses. Per assigned address
// the allocator stores one map entry (address to holders); a released
// address below the cursor costs one heap entry and one set entry until it
// is handed out again.
package ipam
