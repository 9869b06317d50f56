package lab

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// ResponderImage is the image a Pod names to be run by the lab. The lab
// has no container runtime: its kubelet runs the responder in a network
// namespace of the Pod's own on the Pod's node, for any Pod whose only
// container asks for this image. Other Pods stay Pending.
const ResponderImage = "lab.bgplb.io/responder"

// ReadyAnnotation set to "false" on a Pod makes the lab's kubelet report
// it unready, as a failing readiness probe would; removing it, or any
// other value, makes it ready again.
const ReadyAnnotation = "lab.bgplb.io/ready"

// kubelet does a kubelet's part for the lab's pods: it starts a pod when
// its object appears, reports its addresses and readiness in the object's
// status, and stops it and removes the object when the object is deleted.
type kubelet struct {
	lab    *Lab
	client client.Client
}

// runsResponder tells whether the lab's kubelet runs pod.
func (l *Lab) runsResponder(pod *corev1.Pod) bool {
	return l.node(pod.Spec.NodeName) != nil && len(pod.Spec.Containers) == 1 && pod.Spec.Containers[0].Image == ResponderImage
}

func (k *kubelet) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	var pod corev1.Pod
	err := k.client.Get(ctx, req.NamespacedName, &pod)
	if apierrors.IsNotFound(err) {
		return reconcile.Result{}, k.lab.stopPod(req.NamespacedName)
	}
	if err != nil || !k.lab.runsResponder(&pod) {
		return reconcile.Result{}, err
	}
	if pod.DeletionTimestamp != nil {
		return reconcile.Result{}, k.finishDeletion(ctx, &pod)
	}
	running, err := k.ensureRunning(&pod)
	if err != nil {
		return reconcile.Result{}, err
	}
	status := podStatus(running, pod.Annotations[ReadyAnnotation] != "false", pod.Status)
	if apiequality.Semantic.DeepEqual(status, pod.Status) {
		return reconcile.Result{}, nil
	}
	pod.Status = status
	if err := k.client.Status().Update(ctx, &pod); err != nil {
		return reconcile.Result{}, fmt.Errorf("status of pod %s: %w", req.NamespacedName, err)
	}
	return reconcile.Result{}, nil
}

// ensureRunning returns the running pod of the object, started if it is
// not running yet or if what runs belongs to an earlier object of the
// same name.
func (k *kubelet) ensureRunning(pod *corev1.Pod) (*Pod, error) {
	key := client.ObjectKeyFromObject(pod)
	running := k.lab.pods.running(key)
	if running != nil && running.uid == pod.UID {
		return running, nil
	}
	if err := k.lab.stopPod(key); err != nil {
		return nil, err
	}
	return k.lab.startPod(key, pod.UID, k.lab.node(pod.Spec.NodeName))
}

// finishDeletion stops a deleted pod and removes its object for good, as
// a kubelet does once the pod's containers have stopped. The responder
// stops at once rather than at the end of the grace period.
func (k *kubelet) finishDeletion(ctx context.Context, pod *corev1.Pod) error {
	if err := k.lab.stopPod(client.ObjectKeyFromObject(pod)); err != nil {
		return err
	}
	err := k.client.Delete(ctx, pod, client.GracePeriodSeconds(0), client.Preconditions{UID: &pod.UID})
	if err := client.IgnoreNotFound(err); err != nil {
		return fmt.Errorf("remove pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}

// podStatus is what a kubelet reports for a running pod, ready or not.
// Times of the old status are kept where nothing changed, so that writing
// an unchanged status is recognised as such.
func podStatus(p *Pod, ready bool, old corev1.PodStatus) corev1.PodStatus {
	now := metav1.Now()
	started := old.StartTime
	if started == nil {
		started = &now
	}
	readiness := corev1.ConditionFalse
	if ready {
		readiness = corev1.ConditionTrue
	}
	condition := func(t corev1.PodConditionType, s corev1.ConditionStatus) corev1.PodCondition {
		c := corev1.PodCondition{Type: t, Status: s, LastTransitionTime: now}
		for _, o := range old.Conditions {
			if o.Type == t && o.Status == s {
				c.LastTransitionTime = o.LastTransitionTime
			}
		}
		return c
	}
	containerStarted := *started
	if len(old.ContainerStatuses) == 1 && old.ContainerStatuses[0].State.Running != nil {
		containerStarted = old.ContainerStatuses[0].State.Running.StartedAt
	}
	return corev1.PodStatus{
		Phase:     corev1.PodRunning,
		HostIP:    p.Node.Addr4.String(),
		HostIPs:   []corev1.HostIP{{IP: p.Node.Addr4.String()}, {IP: p.Node.Addr6.String()}},
		PodIP:     p.Addr4.String(),
		PodIPs:    []corev1.PodIP{{IP: p.Addr4.String()}, {IP: p.Addr6.String()}},
		StartTime: started,
		QOSClass:  old.QOSClass,
		Conditions: []corev1.PodCondition{
			condition(corev1.PodScheduled, corev1.ConditionTrue),
			condition(corev1.PodInitialized, corev1.ConditionTrue),
			condition(corev1.ContainersReady, readiness),
			condition(corev1.PodReady, readiness),
		},
		ContainerStatuses: []corev1.ContainerStatus{{Name: "responder", Image: ResponderImage, ImageID: ResponderImage,
			Ready: ready, Started: ptr.To(true), State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: containerStarted}}}},
	}
}
