package speaker

// The steps of a recompute that read the cluster and turn it into the
// announce rules' input.

import (
	"context"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bgplb/bgplb/api/v1alpha1"
	"github.com/bgplb/bgplb/internal/announce"
	"github.com/bgplb/bgplb/internal/bgp"
	"github.com/bgplb/bgplb/internal/k8s/translate"
)

// cluster is what one recompute reads from the cache.
type cluster struct {
	node      corev1.Node
	services  corev1.ServiceList
	endpoints discoveryv1.EndpointSliceList
	pools     v1alpha1.IPPoolList
	peers     v1alpha1.BGPPeerList
	adverts   v1alpha1.BGPAdvertisementList
	secrets   corev1.SecretList
	profiles  v1alpha1.BFDProfileList
	statuses  v1alpha1.BGPNodeStatusList
}

// read reads everything this node's announcements depend on.
func (r *speakerReconciler) read(ctx context.Context) (*cluster, error) {
	c := &cluster{}
	if err := r.client.Get(ctx, client.ObjectKey{Name: r.nodeName}, &c.node); err != nil {
		// Without its Node the speaker cannot tell what to announce; it
		// keeps what it announces until the Node is readable again.
		return nil, fmt.Errorf("get node %s: %w", r.nodeName, err)
	}
	// Every recompute reads every Service and EndpointSlice; the cache's
	// copies are only read here, so copying them all each time is waste.
	for _, l := range []client.ObjectList{&c.services, &c.endpoints, &c.pools, &c.peers, &c.adverts, &c.profiles, &c.statuses} {
		if err := r.client.List(ctx, l, client.UnsafeDisableDeepCopy); err != nil {
			return nil, fmt.Errorf("list %T: %w", l, err)
		}
	}
	if err := r.client.List(ctx, &c.secrets, client.InNamespace(r.namespace)); err != nil {
		return nil, fmt.Errorf("list secrets: %w", err)
	}
	return c, nil
}

// nodeInput starts the announce input with the node, and with what it
// announced and held before: at the first recompute, from the node's own
// status, so that a restarted speaker holds back nothing it announced
// before. It also says what on the Node drains it.
func (r *speakerReconciler) nodeInput(c *cluster, now time.Time) (announce.Input, translate.NodeDrain) {
	self, drain := translate.Node(&c.node)
	if !r.hold.loaded {
		var own *v1alpha1.BGPNodeStatus
		for i := range c.statuses.Items {
			if c.statuses.Items[i].Name == r.nodeName {
				own = &c.statuses.Items[i]
			}
		}
		r.hold.load(own)
	}
	return announce.Input{Node: self, Now: now, Admitted: r.hold.admitted, HeldSince: r.hold.heldSince}, drain
}

// otherAnnouncers returns which other nodes announce each Service, and
// whether any advertisement holds additions: who else announces what
// matters only then, and costs a map of every node's Services to find
// out, so without holds it is nil.
func (r *speakerReconciler) otherAnnouncers(c *cluster) (map[string][]string, bool) {
	holds := slices.ContainsFunc(c.adverts.Items, func(a v1alpha1.BGPAdvertisement) bool { return a.Spec.AdditionHold != nil })
	r.othersRead.holds.Store(holds)
	if !holds {
		return nil, false
	}
	return announcers(c.statuses.Items, r.nodeName), true
}

// serviceInputs returns the Services this node may announce, each told
// whether another node announces it already (others) and since when its
// held additions are released. A release annotation it cannot read is a
// problem of the Service, which is announced all the same.
func serviceInputs(c *cluster, others map[string][]string, problems map[string]string) []announce.Service {
	slicesByService := translate.SlicesByService(c.endpoints.Items)
	var out []announce.Service
	for i := range c.services.Items {
		s := &c.services.Items[i]
		svc, ok := translate.AnnouncedService(s, slicesByService[translate.ServiceKey(s)])
		if !ok {
			continue
		}
		svc.AnnouncedElsewhere = announcedElsewhere(&svc, others[svc.Key])
		var err error
		if svc.ReleasedAt, err = releasedAt(s); err != nil {
			problems["Service/"+svc.Key] = err.Error()
		}
		out = append(out, svc)
	}
	return out
}

// bfdProblems notes the profiles whose passive mode the BFD engine does
// not honour.
func bfdProblems(profiles []v1alpha1.BFDProfile, problems map[string]string) {
	for i := range profiles {
		if profiles[i].Spec.PassiveMode {
			problems["BFDProfile/"+profiles[i].Name] = translate.PassiveModeIgnored
		}
	}
}

// peerInputs translates every peer for this node, keeping the last usable
// version of a peer an edit broke (see keepUsable). It returns the rule
// side of the peers and their sessions by name.
func (r *speakerReconciler) peerInputs(c *cluster, problems map[string]string) ([]announce.Peer, map[string]bgp.Peer) {
	refs := translate.PeerReferences{
		SpeakerNamespace: r.namespace,
		Secrets:          make(map[string]*corev1.Secret, len(c.secrets.Items)),
		BFDProfiles:      make(map[string]*v1alpha1.BFDProfile, len(c.profiles.Items)),
	}
	for i := range c.secrets.Items {
		refs.Secrets[c.secrets.Items[i].Name] = &c.secrets.Items[i]
	}
	for i := range c.profiles.Items {
		refs.BFDProfiles[c.profiles.Items[i].Name] = &c.profiles.Items[i]
	}
	addrs := translate.Addresses(&c.node)
	var versions []peerVersion
	versions, r.lastPeers = keepUsable("BGPPeer", r.lastPeers, c.peers.Items, func(p *v1alpha1.BGPPeer) (peerVersion, error) {
		rules, session, err := translate.Peer(p, addrs, refs)
		return peerVersion{rules: rules, session: session}, err
	}, problems)
	rules := make([]announce.Peer, 0, len(versions))
	sessions := make(map[string]bgp.Peer, len(versions))
	for _, v := range versions {
		rules = append(rules, v.rules)
		sessions[v.session.Name] = v.session
	}
	return rules, sessions
}

// keepUsable translates every object of one kind. An object that an edit
// broke keeps its last usable version (from last), so that a typo or a
// Secret being replaced withdraws nothing and drops no session; the
// problem is noted either way, as "Kind/name". It returns the versions to
// use, in the order of items, and the usable versions by name for the next
// pass: objects that are gone are forgotten.
func keepUsable[O any, PO interface {
	*O
	GetName() string
}, T any](kind string, last map[string]T, items []O, translate func(PO) (T, error), problems map[string]string) ([]T, map[string]T) {
	use := make([]T, 0, len(items))
	usable := make(map[string]T, len(items))
	for i := range items {
		obj := PO(&items[i])
		name := obj.GetName()
		v, err := translate(obj)
		if err != nil {
			previous, ok := last[name]
			if !ok {
				problems[kind+"/"+name] = err.Error()
				continue
			}
			problems[kind+"/"+name] = err.Error() + "; keeping the previous version"
			v = previous
		}
		usable[name] = v
		use = append(use, v)
	}
	return use, usable
}
