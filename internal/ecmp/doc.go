// Package ecmp estimates how many existing connections a router moves to a
// different next hop when the next-hop set of an ECMP prefix changes.
//
// A router spreads connections over a prefix's next hops by hashing packet
// headers. The hash is stateless, so when the set changes (a node is
// removed, added or reweighted), connections whose hash now selects another
// next hop reach a node that has no state for them and are reset. How many
// move depends on how the router maps a hash to a next hop, so WhatIf
// estimates the share for three hashing models. Every model assumes
// connections are spread by a uniform hash, in proportion to what the
// before set gives each next hop.
//
// The package is pure: it takes plain Go values and returns plain Go
// values, and it imports nothing from Kubernetes or GoBGP.
//
// # Router order
//
// Next hops are given in router order: the order in which the router lays
// them out, which for Linux and FRR is the order `ip route show` prints
// them. Order decides which slots or hash ranges a next hop gets under
// modulo-n and hash-threshold, where reordering an unchanged set alone
// moves connections, and how bucket counts round under resilient.
//
// # modulo-n
//
// The next hop is list[hash mod N], where list holds the next hops in
// router order, each repeated weight times, and N is the list's length.
// The share moved is exact: over one period of lcm(N, M) hash values the
// pairs (hash mod N, hash mod M) are exactly the pairs of slots that agree
// modulo gcd(N, M), each once, and WhatIf counts them per next hop in closed
// form rather than by iterating, so any weights can be used.
//
// # hash-threshold
//
// RFC 2992, and the Linux kernel's plain multipath (mpath) nexthop groups:
// the hash space [0, 1) is cut into contiguous regions, one per next hop in
// router order, sized by weight. A connection keeps its next hop if and
// only if its hash lies in the overlap of that next hop's old and new
// regions, so the share moved is one minus the summed overlaps. It is
// computed with exact fractions.
//
// # resilient
//
// Linux resilient nexthop groups (`ip nexthop add ... type resilient`): a
// table of buckets (Options.Buckets, default 128), each holding a next hop;
// a hash selects a bucket. Each next hop deserves a number of buckets for
// its weight, counted as the kernel does: next hop i (in router order)
// gets round(B·W_i/W) − round(B·W_{i−1}/W) buckets, where B is the bucket
// count, W_i the sum of the weights of the first i next hops, W the sum of
// all weights, and round rounds halves up. Rounding the cumulative sums
// rather than each share makes the counts add up to B exactly; with few
// buckets they differ visibly from the weights, and the estimate shows it.
// The before table is assumed balanced, holding exactly these counts.
//
// On a change the kernel must move the buckets of a removed next hop. It
// moves a bucket of a next hop that now holds more buckets than it
// deserves only when the bucket is idle (no packet for idle_timer, 120 s by
// default) or when the table has been unbalanced longer than the
// unbalanced_timer (0 by default: never). Existing connections keep their
// buckets busy, so by default (Options.IdleMigration false) only the buckets
// of removed next hops move: an addition or a reweight moves no existing
// connection, and a removal moves exactly the removed next hop's share.
// With Options.IdleMigration, as if every bucket were idle, the table is
// rebalanced at once with the fewest moves: each next hop that stays keeps
// as many of its buckets as it still deserves, and the rest move.
package ecmp
