package ipam

import (
	"net/netip"
	"slices"
)

// This file records who holds which address, keeping the per-address
// holders, the per-pool counters, the ranges' free lists and the
// sharing-key index in step.

// commit records the assignment of picks in pool to req, replacing the
// Service's previous assignment.
func (a *Allocator) commit(req *request, pool *poolState, picks []pick) Assignment {
	h := a.byKey[req.Key]
	var old Assignment
	if h == nil {
		h = &holding{}
		a.byKey[req.Key] = h
	} else {
		old = h.asg
	}
	addrs := make([]netip.Addr, len(picks))
	for i, pk := range picks {
		addrs[i] = pk.addr
		if !slices.Contains(old.Addrs, pk.addr) {
			a.hold(pk, h, pool.Name)
		}
	}
	for _, addr := range old.Addrs {
		if !slices.Contains(addrs, addr) {
			a.unhold(addr, h, old.Pool)
		}
	}
	h.asg = Assignment{Pool: pool.Name, Addrs: addrs}
	a.retag(h, req)
	return h.asg.clone()
}

// hold adds h as a holder of pk.addr.
func (a *Allocator) hold(pk pick, h *holding, poolName string) {
	hs, existed := a.byAddr[pk.addr]
	hs.add(h)
	a.byAddr[pk.addr] = hs
	if existed {
		return
	}
	if pk.fresh != nil {
		pk.fresh.take(u128Of(pk.addr))
	}
	if rs := a.countedRange(pk.addr, poolName); rs != nil {
		rs.pool.assigned[familyIndex(rs.family)]++
	}
}

// unhold removes h as a holder of addr and frees addr if h was the last.
func (a *Allocator) unhold(addr netip.Addr, h *holding, poolName string) {
	hs, ok := a.byAddr[addr]
	if !ok {
		return
	}
	if hs.remove(h) {
		a.byAddr[addr] = hs
		return
	}
	delete(a.byAddr, addr)
	if rs := a.countedRange(addr, poolName); rs != nil {
		rs.pool.assigned[familyIndex(rs.family)]--
		rs.free(u128Of(addr))
	}
}

// retag refreshes h's sharing fields from req and keeps the sharing-key
// index in step.
func (a *Allocator) retag(h *holding, req *request) {
	if h.sharingKey != req.SharingKey {
		a.untag(h)
	}
	h.update(req)
	if h.sharingKey != "" {
		byKey := a.bySharingKey[h.sharingKey]
		if byKey == nil {
			byKey = make(map[string]*holding)
			a.bySharingKey[h.sharingKey] = byKey
		}
		byKey[h.key] = h
	}
}

func (a *Allocator) untag(h *holding) {
	if h.sharingKey == "" {
		return
	}
	if byKey := a.bySharingKey[h.sharingKey]; byKey != nil {
		delete(byKey, h.key)
		if len(byKey) == 0 {
			delete(a.bySharingKey, h.sharingKey)
		}
	}
}
