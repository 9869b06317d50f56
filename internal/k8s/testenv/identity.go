package testenv

import (
	"context"
	"fmt"
	"os"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
)

// podTokenLifetime outlives any test or lab run; a token bound to a Pod
// ends with the Pod anyway.
const podTokenLifetime = 24 * 60 * 60

// PodToken returns a token of the ServiceAccount namespace/account bound to
// the Pod namespace/pod on the Node node, as the kubelet hands one to a
// pod's containers. It creates the Pod (and the Node, if absent) when they
// do not exist; nothing runs the Pod, as there is no kubelet. The API
// server records the node's name in the user info of such a token, which
// is what lets admission policies tell one speaker from another.
func (e *Env) PodToken(ctx context.Context, namespace, account, pod, node string) (string, error) {
	clients, err := kubernetes.NewForConfig(e.Config)
	if err != nil {
		return "", fmt.Errorf("client for the token of pod %s/%s: %w", namespace, pod, err)
	}
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node}}
	if _, err := clients.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", fmt.Errorf("create node %s: %w", node, err)
	}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: pod},
		Spec: corev1.PodSpec{
			ServiceAccountName: account,
			NodeName:           node,
			// The image is never pulled: there is no kubelet.
			Containers: []corev1.Container{{Name: "main", Image: "bgplb.invalid/none"}},
		},
	}
	created, err := clients.CoreV1().Pods(namespace).Create(ctx, p, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		created, err = clients.CoreV1().Pods(namespace).Get(ctx, pod, metav1.GetOptions{})
	}
	if err != nil {
		return "", fmt.Errorf("create pod %s/%s: %w", namespace, pod, err)
	}
	if created.Spec.ServiceAccountName != account || created.Spec.NodeName != node {
		return "", fmt.Errorf("pod %s/%s exists with account %q on node %q, not %q on %q",
			namespace, pod, created.Spec.ServiceAccountName, created.Spec.NodeName, account, node)
	}
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: ptr.To[int64](podTokenLifetime),
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod, UID: created.UID},
	}}
	tok, err := clients.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, account, req, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("token of service account %s/%s for pod %s: %w", namespace, account, pod, err)
	}
	return tok.Status.Token, nil
}

// WriteTokenKubeconfig writes a kubeconfig that authenticates with the
// bearer token, for a binary started as a separate process under that
// identity.
func (e *Env) WriteTokenKubeconfig(path, token string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["test"] = &clientcmdapi.Cluster{Server: e.Config.Host, CertificateAuthorityData: e.Config.CAData}
	cfg.AuthInfos["test"] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "test"}
	cfg.CurrentContext = "test"
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return fmt.Errorf("render kubeconfig %s: %w", path, err)
	}
	return os.WriteFile(path, data, 0o600)
}
