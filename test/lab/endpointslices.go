package lab

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// endpointSliceManager labels the EndpointSlices the lab writes.
const endpointSliceManager = "bgplb-lab"

// endpointSlices does the EndpointSlice controller's part for the lab:
// for every Service with a selector it writes one EndpointSlice per IP
// family of the Service, naming the running pods the selector matches,
// their nodes and their readiness. A Service without a selector keeps the
// slices its owner writes, as in any cluster.
type endpointSlices struct {
	client client.Client
}

func (e *endpointSlices) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	var svc corev1.Service
	err := e.client.Get(ctx, req.NamespacedName, &svc)
	if apierrors.IsNotFound(err) {
		// There is no garbage collector in the lab to follow the slices'
		// owner references.
		return reconcile.Result{}, e.deleteSlices(ctx, req.Namespace, req.Name, nil)
	}
	if err != nil || len(svc.Spec.Selector) == 0 {
		return reconcile.Result{}, err
	}
	var pods corev1.PodList
	if err := e.client.List(ctx, &pods, client.InNamespace(svc.Namespace), client.MatchingLabels(svc.Spec.Selector)); err != nil {
		return reconcile.Result{}, fmt.Errorf("pods of service %s: %w", req.NamespacedName, err)
	}
	families := svc.Spec.IPFamilies
	if len(families) == 0 {
		families = []corev1.IPFamily{corev1.IPv4Protocol}
	}
	for _, family := range families {
		if err := e.writeSlice(ctx, &svc, family, pods.Items); err != nil {
			return reconcile.Result{}, err
		}
	}
	return reconcile.Result{}, e.deleteSlices(ctx, svc.Namespace, svc.Name, families)
}

// writeSlice writes the Service's slice of one family.
func (e *endpointSlices) writeSlice(ctx context.Context, svc *corev1.Service, family corev1.IPFamily, pods []corev1.Pod) error {
	es := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: svc.Namespace, Name: endpointSliceName(svc.Name, family)}}
	_, err := controllerutil.CreateOrUpdate(ctx, e.client, es, func() error {
		es.Labels = map[string]string{discoveryv1.LabelServiceName: svc.Name, discoveryv1.LabelManagedBy: endpointSliceManager}
		es.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Service", Name: svc.Name, UID: svc.UID,
			Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}}
		es.AddressType = discoveryv1.AddressType(family)
		es.Ports = nil
		es.Endpoints = nil
		for _, pod := range pods {
			ep, ok := podEndpoint(&pod, family)
			if !ok {
				continue
			}
			if es.Ports == nil {
				es.Ports = endpointPorts(svc, &pod)
			}
			es.Endpoints = append(es.Endpoints, ep)
		}
		slices.SortFunc(es.Endpoints, func(a, b discoveryv1.Endpoint) int { return strings.Compare(a.Addresses[0], b.Addresses[0]) })
		return nil
	})
	if err != nil {
		return fmt.Errorf("endpoint slice %s/%s: %w", es.Namespace, es.Name, err)
	}
	return nil
}

// deleteSlices deletes the lab's slices of a Service whose family is not
// in keep.
func (e *endpointSlices) deleteSlices(ctx context.Context, namespace, service string, keep []corev1.IPFamily) error {
	for _, family := range []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol} {
		if slices.Contains(keep, family) {
			continue
		}
		es := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: endpointSliceName(service, family)}}
		if err := client.IgnoreNotFound(e.client.Delete(ctx, es)); err != nil {
			return fmt.Errorf("delete endpoint slice %s/%s: %w", namespace, es.Name, err)
		}
	}
	return nil
}

func endpointSliceName(service string, family corev1.IPFamily) string {
	return service + "-lab-" + strings.ToLower(string(family))
}

// podEndpoint is a pod's endpoint in the slice of one family, if the pod
// has an address of that family and runs on a node.
func podEndpoint(pod *corev1.Pod, family corev1.IPFamily) (discoveryv1.Endpoint, bool) {
	addr := ""
	for _, a := range pod.Status.PodIPs {
		if (family == corev1.IPv6Protocol) == strings.Contains(a.IP, ":") {
			addr = a.IP
			break
		}
	}
	if addr == "" || pod.Spec.NodeName == "" || pod.Status.Phase != corev1.PodRunning {
		return discoveryv1.Endpoint{}, false
	}
	ready := false
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			ready = c.Status == corev1.ConditionTrue
		}
	}
	terminating := pod.DeletionTimestamp != nil
	return discoveryv1.Endpoint{
		Addresses: []string{addr},
		NodeName:  ptr.To(pod.Spec.NodeName),
		TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
		Conditions: discoveryv1.EndpointConditions{
			Ready:       ptr.To(ready && !terminating),
			Serving:     ptr.To(ready),
			Terminating: ptr.To(terminating),
		},
	}, true
}

// endpointPorts names every port of the Service with the pod's port its
// target port resolves to: a number, the name of one of the pod's
// container ports, or the Service port itself.
func endpointPorts(svc *corev1.Service, pod *corev1.Pod) []discoveryv1.EndpointPort {
	var ports []discoveryv1.EndpointPort
	for _, sp := range svc.Spec.Ports {
		port := sp.TargetPort.IntValue()
		if port == 0 {
			port = int(sp.Port)
		}
		if name := sp.TargetPort.StrVal; name != "" {
			port = 0
			for _, c := range pod.Spec.Containers {
				for _, cp := range c.Ports {
					if cp.Name == name && cp.Protocol == sp.Protocol {
						port = int(cp.ContainerPort)
					}
				}
			}
			if port == 0 {
				continue
			}
		}
		ports = append(ports, discoveryv1.EndpointPort{Name: ptr.To(sp.Name), Port: ptr.To(int32(port)), Protocol: ptr.To(sp.Protocol)})
	}
	return ports
}

// servicesSelecting returns the Services of pod's namespace whose
// selector matches the pod's labels.
func servicesSelecting(ctx context.Context, c client.Client, pod client.Object) []reconcile.Request {
	var services corev1.ServiceList
	if err := c.List(ctx, &services, client.InNamespace(pod.GetNamespace())); err != nil {
		return nil
	}
	var out []reconcile.Request
	for _, svc := range services.Items {
		if len(svc.Spec.Selector) > 0 && labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(pod.GetLabels())) {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&svc)})
		}
	}
	return out
}
