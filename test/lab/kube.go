package lab

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
)

// EndpointState is the condition of one endpoint on a node.
type EndpointState int

// Endpoint conditions, as an EndpointSlice reports them.
const (
	Ready       EndpointState = iota // ready and serving
	Terminating                      // serving but terminating
	NotReady                         // neither
)

// SetEndpoints writes the EndpointSlice of a Service the way the
// EndpointSlice controller would: one endpoint per entry, on the given
// node. The lab has no kube-controller-manager, so tests say where the
// Service's pods run.
func (l *Lab) SetEndpoints(ctx context.Context, svc *corev1.Service, endpoints map[string][]EndpointState) error {
	es := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: svc.Namespace, Name: svc.Name + "-lab"}}
	_, err := controllerutil.CreateOrUpdate(ctx, l.Client, es, func() error {
		es.Labels = map[string]string{discoveryv1.LabelServiceName: svc.Name, discoveryv1.LabelManagedBy: "bgplb-lab"}
		es.AddressType = discoveryv1.AddressTypeIPv4
		es.Ports = []discoveryv1.EndpointPort{{Name: ptr.To(""), Port: ptr.To(int32(ResponderPort)), Protocol: ptr.To(corev1.ProtocolTCP)}}
		es.Endpoints = nil
		podIP := 1
		for _, n := range l.Nodes {
			for _, state := range endpoints[n.Name] {
				es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{
					Addresses: []string{fmt.Sprintf("10.244.%d.%d", 10+len(es.Endpoints)/250, podIP%250+1)},
					NodeName:  ptr.To(n.Name),
					Conditions: discoveryv1.EndpointConditions{
						Ready:       ptr.To(state == Ready),
						Serving:     ptr.To(state != NotReady),
						Terminating: ptr.To(state == Terminating),
					},
				})
				podIP++
			}
		}
		return nil
	})
	return err
}
