package testenv

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
)

// tokenLifetime outlives any test or lab run that uses the token.
const tokenLifetime = 24 * time.Hour

// ServiceAccountToken creates the ServiceAccount namespace/name (and its
// namespace), creates the ClusterRoles and Roles of the manifests in
// roleFiles (paths relative to the repository root, such as
// config/rbac/speaker/role.yaml) and binds each to the account, and returns
// a token of the account from the TokenRequest API. What already exists is
// kept as it is.
func (e *Env) ServiceAccountToken(ctx context.Context, namespace, name string, roleFiles ...string) (string, error) {
	var roles []runtime.Object
	for _, file := range roleFiles {
		objects, err := ReadManifests(file)
		if err != nil {
			return "", err
		}
		roles = append(roles, objects...)
	}
	return e.ServiceAccountTokenWithRoles(ctx, namespace, name, roles...)
}

// ServiceAccountTokenWithRoles is ServiceAccountToken with the roles given
// as *rbacv1.ClusterRole and *rbacv1.Role objects, for tests that grant
// something else than a manifest file holds.
func (e *Env) ServiceAccountTokenWithRoles(ctx context.Context, namespace, name string, roles ...runtime.Object) (string, error) {
	clients, err := kubernetes.NewForConfig(e.Config)
	if err != nil {
		return "", fmt.Errorf("client for service account %s/%s: %w", namespace, name, err)
	}
	if err := createServiceAccount(ctx, clients, namespace, name); err != nil {
		return "", err
	}
	if err := grantRoles(ctx, clients, roles, rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: namespace, Name: name}); err != nil {
		return "", fmt.Errorf("grant roles to service account %s/%s: %w", namespace, name, err)
	}
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(tokenLifetime.Seconds()))}}
	tok, err := clients.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name, req, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("token of service account %s/%s: %w", namespace, name, err)
	}
	return tok.Status.Token, nil
}

// ConfigWithToken returns a config for the API server that authenticates
// with the bearer token instead of the administrator's certificate.
func (e *Env) ConfigWithToken(token string) *rest.Config {
	cfg := rest.AnonymousClientConfig(e.Config)
	cfg.BearerToken = token
	return cfg
}

func createServiceAccount(ctx context.Context, clients kubernetes.Interface, namespace, name string) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}
	if _, err := clients.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); ignoreExists(err) != nil {
		return fmt.Errorf("create namespace %s: %w", namespace, err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
	if _, err := clients.CoreV1().ServiceAccounts(namespace).Create(ctx, sa, metav1.CreateOptions{}); ignoreExists(err) != nil {
		return fmt.Errorf("create service account %s/%s: %w", namespace, name, err)
	}
	return nil
}

// grantRoles creates every ClusterRole and Role of objects and binds it to
// subject: a ClusterRole cluster-wide, a Role in its namespace.
func grantRoles(ctx context.Context, clients kubernetes.Interface, objects []runtime.Object, subject rbacv1.Subject) error {
	rbac := clients.RbacV1()
	for _, obj := range objects {
		switch role := obj.(type) {
		case *rbacv1.ClusterRole:
			if _, err := rbac.ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); ignoreExists(err) != nil {
				return fmt.Errorf("create ClusterRole %s: %w", role.Name, err)
			}
			binding := &rbacv1.ClusterRoleBinding{
				ObjectMeta: metav1.ObjectMeta{Name: bindingName(subject, role.Name)},
				RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
				Subjects:   []rbacv1.Subject{subject},
			}
			if _, err := rbac.ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); ignoreExists(err) != nil {
				return fmt.Errorf("create ClusterRoleBinding %s: %w", binding.Name, err)
			}
		case *rbacv1.Role:
			if _, err := rbac.Roles(role.Namespace).Create(ctx, role, metav1.CreateOptions{}); ignoreExists(err) != nil {
				return fmt.Errorf("create Role %s/%s: %w", role.Namespace, role.Name, err)
			}
			binding := &rbacv1.RoleBinding{
				ObjectMeta: metav1.ObjectMeta{Namespace: role.Namespace, Name: bindingName(subject, role.Name)},
				RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
				Subjects:   []rbacv1.Subject{subject},
			}
			if _, err := rbac.RoleBindings(role.Namespace).Create(ctx, binding, metav1.CreateOptions{}); ignoreExists(err) != nil {
				return fmt.Errorf("create RoleBinding %s/%s: %w", role.Namespace, binding.Name, err)
			}
		default:
			return fmt.Errorf("%T is not a ClusterRole or a Role", obj)
		}
	}
	return nil
}

// bindingName names the binding of a role to a ServiceAccount after both,
// so that two accounts' bindings of one role never collide.
func bindingName(subject rbacv1.Subject, role string) string {
	return subject.Namespace + "-" + subject.Name + "-" + role
}

// ReadManifests decodes the objects of a YAML file of one or more
// documents, relative to the repository root.
func ReadManifests(file string) ([]runtime.Object, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(filepath.Join(root, file))
	if err != nil {
		return nil, err
	}
	reader := yaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var objects []runtime.Object
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return objects, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", file, err)
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(doc, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("decode %s: %w", file, err)
		}
		objects = append(objects, obj)
	}
}

func ignoreExists(err error) error {
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}
