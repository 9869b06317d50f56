package lab

import (
	"fmt"
	"net"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// IngressPrograms returns the programs attached with TCX at the ingress of
// the node's interfaces, by interface name; interfaces without any are
// left out. The query runs inside the node's namespace, where its
// interface indexes mean something.
func (l *Lab) IngressPrograms(n *Node) (map[string][]ebpf.ProgramID, error) {
	out := map[string][]ebpf.ProgramID{}
	err := inNetns(n.NS, func() error {
		ifaces, err := net.Interfaces()
		if err != nil {
			return err
		}
		for _, iface := range ifaces {
			attached, err := link.QueryPrograms(link.QueryOptions{Target: iface.Index, Attach: ebpf.AttachTCXIngress})
			if err != nil {
				return fmt.Errorf("programs at ingress of %s: %w", iface.Name, err)
			}
			for _, p := range attached.Programs {
				out[iface.Name] = append(out[iface.Name], p.ID)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("TCX programs of %s: %w", n.Name, err)
	}
	return out, nil
}
