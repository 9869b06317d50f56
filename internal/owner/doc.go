// Package owner computes owner tables: which node owns the flows to a
// Service address, per bucket of flows, so that every node serving the
// address can forward a packet to the node that holds its connection.
//
// The datapath hashes a packet's 5-tuple to one of a table's buckets and
// reads the bucket's two owners: the primary, which takes new flows, and
// the secondary, which owned the bucket before and gets a second chance at
// packets the primary has no connection for. Every node derives the same
// tables from published inputs (which nodes serve an address, and each
// node's state), so tables are never written to the API and no node needs
// history.
//
// The package is pure: it imports only the standard library.
//
// # The rule
//
// A table is built by rendezvous (highest random weight) hashing. Each
// node that is Active or Draining gets a score for each bucket, a hash of
// the node's name and the bucket's index that never changes (see hash.go);
// for each bucket the nodes rank by score, highest first. Joining nodes
// are not ranked. Then:
//
//   - the primary is the first Active node, and no node if none is Active;
//   - the secondary is the first node in the ranking other than the
//     primary, Active or Draining. With no primary it is the first Draining
//     node, so when the last Active node of a set drains, the secondary
//     still names the node that holds each bucket's flows.
//
// Read the other way round: the secondary is the node that would be the
// primary without the primary, counting Draining nodes as if they were
// still Active: who owned the bucket before the primary took it, whether
// it took it by joining or because the owner began to drain.
//
// Joining nodes own nothing and are never a secondary; a table does not
// name them at all, so a node can forward while it joins and take flows
// only when it becomes Active.
//
// # One change: the secondary is the previous primary
//
// Start from a member set with no drain in progress (every node Active or
// Joining), so in every bucket the primary ranks first, and make one
// change:
//
//   - A node X becomes Active (added, or Joining becomes Active). X takes
//     exactly the buckets in which it ranks above the old primary P, about
//     1/N of them for N Active nodes. Nothing above X is Draining, so the
//     secondary is the first Active node below X, which is P. Every other
//     bucket keeps its primary.
//   - A node X becomes Draining. The ranking does not change. In the
//     buckets X was primary of, X ranks first and is now Draining, so it
//     becomes the secondary, and the primary is the next Active node. Every
//     other bucket keeps its primary.
//   - A node X is removed. Only the buckets X was primary of change
//     primary, to the next Active node, which was their secondary. The
//     previous primary is gone, so there is nothing to remember: when X
//     crashed, its flows are lost whatever the table says; when X was
//     Draining (the normal way out, after its connections ended), it owned
//     no bucket and removing it changes no primary.
//
// Bringing a Draining node back to Active is the same as adding it: it
// takes back the buckets it ranks first in, and the primary it displaces
// becomes their secondary.
//
// # Two overlapping changes: one older owner is forgotten
//
// When a second change comes before the flows of the first have ended, a
// bucket may have had two earlier owners whose flows are still open, and
// a table remembers one: always the one ranked just below the primary.
// Which changes that suits follows from the ranking alone, because the
// table keeps no history:
//
//   - A node joins, then the bucket's previous owner drains: a rolling
//     update of a Local Service, whose new pod comes up on J before the
//     old one on X terminates. If the bucket ranks J above X above P, J
//     took it from X, and once X drains X is still second: X's flows are
//     kept, and the secondary was X all along.
//   - Two nodes drain. If the bucket ranks X above Y above the primary P,
//     the secondary is X. That is the previous primary if X and Y drained
//     together (a batch, the common case), or if Y drained first (Y did not
//     own the bucket while X was Active). Only if X drained first, so that
//     Y owned the bucket between the two drains, is Y's share of the
//     bucket's flows forgotten.
//   - A node drains, then another joins. If the bucket ranks the joining
//     node J above the Draining node X above the old primary P, J takes the
//     bucket and X, ranked second, is its secondary: the flows P accepted
//     since X began draining are forgotten, while X's are kept. If J ranks
//     below X, or below P, nothing is forgotten.
//   - Two nodes join, J1 and then J2. If the bucket ranks J2 above J1
//     above the original primary P, J2 takes it with J1 as secondary, and
//     P's flows (those from before J1 joined) are forgotten.
//
// The rolling update is the overlap that happens every day, so it is the
// one kept whole. Remembering both older owners would not help: the
// datapath gives a packet at most one second chance.
package owner
