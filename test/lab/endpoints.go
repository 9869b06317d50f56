package lab

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/bgplb/bgplb/internal/poll"
)

// EndpointState is the readiness of one of a Service's pods.
type EndpointState int

// Pod readiness, as the pod's Ready condition and its endpoint report it.
const (
	Ready    EndpointState = iota // ready and serving
	NotReady                      // running, but its readiness probe fails
)

// podServiceLabel marks the pods that SetEndpoints placed for a Service.
const podServiceLabel = "lab.bgplb.io/service"

// endpointsTimeout bounds the wait for a Service's EndpointSlices to name
// the pods SetEndpoints placed; a benchmark's thousands of pods on a busy
// machine take a while.
const endpointsTimeout = 90 * time.Second

// SetEndpoints places a Service's pods, as a Deployment and the scheduler
// would (PlacePods), waits until the Service's EndpointSlices name exactly
// those pods with their readiness, as kube-proxy and the speakers then see
// them, and then until every kube-proxy has written rules towards each
// ready pod. The Service must exist and select pods.
func (l *Lab) SetEndpoints(ctx context.Context, svc *corev1.Service, endpoints map[string][]EndpointState) error {
	want, err := l.PlacePods(ctx, svc, endpoints)
	if err != nil {
		return err
	}
	if err := l.waitForEndpoints(ctx, client.ObjectKeyFromObject(svc), want); err != nil {
		return err
	}
	return l.waitForKubeProxies(ctx, l.readyTargets(svc, want))
}

// readyTargets are the addresses and port, in the Service's families, of
// the wanted pods that are ready.
func (l *Lab) readyTargets(svc *corev1.Service, want map[string]bool) []netip.AddrPort {
	families := svc.Spec.IPFamilies
	if len(families) == 0 {
		families = []corev1.IPFamily{corev1.IPv4Protocol}
	}
	var out []netip.AddrPort
	for name, ready := range want {
		p := l.pods.running(types.NamespacedName{Namespace: svc.Namespace, Name: name})
		if !ready || p == nil {
			continue
		}
		for _, f := range families {
			out = append(out, netip.AddrPortFrom(p.Addr(f), ResponderPort))
		}
	}
	return out
}

// PlacePods gives a Service its pods: one Pod object per entry, on the
// given node, ready or not, labelled with the Service's selector; pods it
// placed for the Service before and that are not asked for any more are
// deleted. The lab's kubelet runs them and its EndpointSlice controller
// writes the slices, once the Service exists: a Service may come after its
// pods, as with a Deployment applied first. It returns each pod's name and
// whether it should be ready.
func (l *Lab) PlacePods(ctx context.Context, svc *corev1.Service, endpoints map[string][]EndpointState) (map[string]bool, error) {
	if len(svc.Spec.Selector) == 0 {
		return nil, fmt.Errorf("service %s/%s selects no pods: the lab writes the EndpointSlices of Services with a selector", svc.Namespace, svc.Name)
	}
	for name := range endpoints {
		if l.node(name) == nil {
			return nil, fmt.Errorf("pods of service %s/%s: the lab has no node %q", svc.Namespace, svc.Name, name)
		}
	}
	if err := l.ensureDefaultAccount(ctx, svc.Namespace); err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, n := range l.Nodes {
		for i, state := range endpoints[n.Name] {
			name := fmt.Sprintf("%s-%s-%d", svc.Name, n.Name, i)
			want[name] = state == Ready
			if err := l.placePod(ctx, svc, name, n, state == Ready); err != nil {
				return nil, err
			}
		}
	}
	var placed corev1.PodList
	if err := l.Client.List(ctx, &placed, client.InNamespace(svc.Namespace), client.MatchingLabels{podServiceLabel: svc.Name}); err != nil {
		return nil, fmt.Errorf("pods of service %s/%s: %w", svc.Namespace, svc.Name, err)
	}
	for i := range placed.Items {
		if _, ok := want[placed.Items[i].Name]; !ok {
			if err := client.IgnoreNotFound(l.Client.Delete(ctx, &placed.Items[i])); err != nil {
				return nil, fmt.Errorf("delete pod %s/%s: %w", svc.Namespace, placed.Items[i].Name, err)
			}
		}
	}
	return want, nil
}

// placePod creates or updates one Pod object of a Service.
func (l *Lab) placePod(ctx context.Context, svc *corev1.Service, name string, n *Node, ready bool) error {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: svc.Namespace, Name: name}}
	_, err := controllerutil.CreateOrUpdate(ctx, l.Client, pod, func() error {
		if pod.Labels == nil {
			pod.Labels = map[string]string{}
		}
		maps.Copy(pod.Labels, svc.Spec.Selector)
		pod.Labels[podServiceLabel] = svc.Name
		if pod.Annotations == nil {
			pod.Annotations = map[string]string{}
		}
		pod.Annotations[ReadyAnnotation] = fmt.Sprint(ready)
		if pod.CreationTimestamp.IsZero() {
			pod.Spec = responderPodSpec(n.Name)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("pod %s/%s: %w", svc.Namespace, name, err)
	}
	return nil
}

// responderPodSpec is the spec of a pod the lab's kubelet runs on node.
func responderPodSpec(node string) corev1.PodSpec {
	return corev1.PodSpec{
		NodeName:                     node,
		AutomountServiceAccountToken: ptr.To(false),
		Containers: []corev1.Container{{Name: "responder", Image: ResponderImage,
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: ResponderPort, Protocol: corev1.ProtocolTCP}}}},
	}
}

// waitForEndpoints waits until the Service's slices name exactly the
// wanted pods, each with the wanted readiness, in every family.
func (l *Lab) waitForEndpoints(ctx context.Context, key client.ObjectKey, want map[string]bool) error {
	return poll.Until(ctx, endpointsTimeout, fmt.Sprintf("the endpoint slices of service %s name its pods", key), func() (bool, string) {
		var svc corev1.Service
		if err := l.Client.Get(ctx, key, &svc); err != nil {
			return false, err.Error()
		}
		var slices discoveryv1.EndpointSliceList
		if err := l.Client.List(ctx, &slices, client.InNamespace(key.Namespace), client.MatchingLabels{
			discoveryv1.LabelServiceName: key.Name, discoveryv1.LabelManagedBy: endpointSliceManager}); err != nil {
			return false, err.Error()
		}
		if len(slices.Items) != max(1, len(svc.Spec.IPFamilies)) {
			return false, fmt.Sprintf("%d slices for families %v", len(slices.Items), svc.Spec.IPFamilies)
		}
		for _, es := range slices.Items {
			got := map[string]bool{}
			for _, ep := range es.Endpoints {
				if ep.TargetRef != nil {
					got[ep.TargetRef.Name] = ep.Conditions.Ready != nil && *ep.Conditions.Ready
				}
			}
			if !maps.Equal(got, want) {
				return false, fmt.Sprintf("slice %s names %v", es.Name, got)
			}
		}
		return true, ""
	})
}

// ensureDefaultAccount creates a namespace's default ServiceAccount,
// which the API server wants before it admits a Pod there; with no
// controller-manager nothing else makes it.
func (l *Lab) ensureDefaultAccount(ctx context.Context, namespace string) error {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "default"}}
	if err := l.Client.Create(ctx, sa); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("default service account of namespace %s: %w", namespace, err)
	}
	return nil
}
