package docs

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/bland-operator/bland-operator/test/podspec"
)

// kubelet stands in for the nodes of a cluster, which envtest has none of,
// and for the Deployment controller. For every Deployment whose Pods run
// the manager (a container named "manager"), it makes one Pod object per
// replica from the template (so that kubectl get pods and kubectl wait on
// Pods see them) and runs the built manager binary for each, the way a
// kubelet runs the container: the container's args and env, $(VAR)
// references expanded, downward API values resolved against the Pod
// object, authenticated with a token of the Pod's ServiceAccount bound to
// the Pod. When /readyz answers, it marks the Pod Ready, and it writes the
// Deployment's status (replicas, ready, available, the Available
// condition), so that kubectl rollout status works. When the Deployment
// goes, scales down or changes its template, it stops processes (SIGTERM,
// then SIGKILL after the grace period, as a kubelet does) and deletes their
// Pods. A process that exits on its own is started again.
type kubelet struct {
	cs      kubernetes.Interface
	cfg     *rest.Config
	manager string // the built manager binary
	simURL  string // the Bland simulator
	dir     string // kubeconfigs and logs

	mu       sync.Mutex
	pods     map[string][]*pod // by namespace/deployment
	problems map[string]string // by namespace/deployment: why a manager does not run
	notes    []string          // every manager started and stopped, for the log

	stop chan struct{}
	done chan struct{}
}

// pod is one manager process and the Pod object that stands for it.
type pod struct {
	deployment string // namespace/name
	hash       string // of the Deployment's template
	obj        *corev1.Pod
	args, env  []string
	log        string
	probe      string // address of /readyz
	readyPath  string
	cmd        *exec.Cmd
	exited     chan struct{}
	since      time.Time
	restarts   int
	ready      atomic.Bool
}

func newKubelet(cfg *rest.Config, manager, simURL, dir string) (*kubelet, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &kubelet{cs: cs, cfg: cfg, manager: manager, simURL: simURL, dir: dir,
		pods: map[string][]*pod{}, problems: map[string]string{}, stop: make(chan struct{}), done: make(chan struct{})}, nil
}

// run syncs every 200ms until close.
func (k *kubelet) run() {
	defer close(k.done)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-k.stop:
			return
		case <-tick.C:
			k.sync()
		}
	}
}

// close stops the loop and every manager, and deletes their Pods.
func (k *kubelet) close() {
	close(k.stop)
	<-k.done
	k.mu.Lock()
	defer k.mu.Unlock()
	var all []*pod
	for key, ps := range k.pods {
		all = append(all, ps...)
		delete(k.pods, key)
	}
	k.stopPods(all)
}

// report says what runs and what could not be started, for a failed block.
func (k *kubelet) report() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	var b strings.Builder
	keys := make([]string, 0, len(k.pods))
	for key := range k.pods {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	for _, key := range keys {
		for _, p := range k.pods[key] {
			fmt.Fprintf(&b, "manager of deployment %s (pod %s, ready %v, %d restarts), log %s:\n", key, p.obj.Name, p.ready.Load(), p.restarts, p.log)
			if out, err := os.ReadFile(p.log); err == nil {
				b.WriteString(tail(string(out), 30))
			}
		}
	}
	for key, why := range k.problems {
		fmt.Fprintf(&b, "no manager for deployment %s: %s\n", key, why)
	}
	return b.String()
}

func (k *kubelet) sync() {
	k.mu.Lock()
	defer k.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	list, err := k.cs.AppsV1().Deployments("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return
	}
	want := map[string]*appsv1.Deployment{}
	for i := range list.Items {
		d := &list.Items[i]
		if managerContainer(d) >= 0 && d.DeletionTimestamp == nil {
			want[d.Namespace+"/"+d.Name] = d
		}
	}
	// First every process that must go, all at once, as a kubelet stops
	// the Pods of a deleted Deployment in parallel.
	var stopping []*pod
	for key, ps := range k.pods {
		d, ok := want[key]
		var keep []*pod
		for _, p := range ps {
			if ok && p.hash == templateHash(d) && len(keep) < replicas(d) {
				keep = append(keep, p)
			} else {
				stopping = append(stopping, p)
			}
		}
		if len(keep) == 0 {
			delete(k.pods, key)
		} else {
			k.pods[key] = keep
		}
	}
	k.stopPods(stopping)
	for key := range k.problems {
		if _, ok := want[key]; !ok {
			delete(k.problems, key)
		}
	}
	for key, d := range want {
		for _, p := range k.pods[key] {
			select {
			case <-p.exited:
				// Exited on its own: start it again, a second later at
				// the soonest, as a kubelet restarts a container.
				if time.Since(p.since) > time.Second {
					p.restarts++
					if err := k.launch(p); err != nil {
						k.problems[key] = err.Error()
					}
				}
			default:
			}
		}
		for len(k.pods[key]) < replicas(d) {
			p, err := k.startPod(ctx, d)
			if err != nil {
				k.problems[key] = err.Error()
				break
			}
			delete(k.problems, key)
			k.pods[key] = append(k.pods[key], p)
		}
		k.writeStatus(ctx, d, k.pods[key])
	}
}

func replicas(d *appsv1.Deployment) int {
	if d.Spec.Replicas == nil {
		return 1
	}
	return int(*d.Spec.Replicas)
}

// writeStatus writes what the Deployment controller would: how many
// replicas run, are updated, ready and available, and whether the
// Deployment is Available (every replica ready) and done progressing.
func (k *kubelet) writeStatus(ctx context.Context, d *appsv1.Deployment, ps []*pod) {
	var ready int32
	for _, p := range ps {
		if p.ready.Load() {
			ready++
		}
	}
	n := int32(len(ps))        //nolint:gosec // a handful
	want := int32(replicas(d)) //nolint:gosec // a handful
	st := appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: n, UpdatedReplicas: n, ReadyReplicas: ready, AvailableReplicas: ready, UnavailableReplicas: max(want-ready, 0)}
	available, progressing := corev1.ConditionFalse, "ReplicaSetUpdated"
	if ready >= want {
		available, progressing = corev1.ConditionTrue, "NewReplicaSetAvailable"
	}
	now := metav1.Now()
	st.Conditions = []appsv1.DeploymentCondition{
		{Type: appsv1.DeploymentAvailable, Status: available, Reason: "MinimumReplicasAvailable", LastUpdateTime: now, LastTransitionTime: now},
		{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: progressing, LastUpdateTime: now, LastTransitionTime: now},
	}
	if available == corev1.ConditionFalse {
		st.Conditions[0].Reason = "MinimumReplicasUnavailable"
	}
	// Only a change is written; the times of unchanged conditions stay.
	old := d.Status
	if old.ObservedGeneration == st.ObservedGeneration && old.Replicas == st.Replicas && old.UpdatedReplicas == st.UpdatedReplicas &&
		old.ReadyReplicas == st.ReadyReplicas && old.AvailableReplicas == st.AvailableReplicas && len(old.Conditions) == 2 &&
		old.Conditions[0].Status == available && old.Conditions[1].Reason == progressing {
		return
	}
	next := d.DeepCopy()
	next.Status = st
	_, _ = k.cs.AppsV1().Deployments(d.Namespace).UpdateStatus(ctx, next, metav1.UpdateOptions{})
}

// managerContainer is the index of the container named manager, or -1.
func managerContainer(d *appsv1.Deployment) int {
	for i, c := range d.Spec.Template.Spec.Containers {
		if c.Name == "manager" {
			return i
		}
	}
	return -1
}

func templateHash(d *appsv1.Deployment) string {
	b, _ := json.Marshal(d.Spec.Template)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])[:10]
}

func (k *kubelet) startPod(ctx context.Context, d *appsv1.Deployment) (*pod, error) {
	hash := templateHash(d)
	tmpl := d.Spec.Template.DeepCopy()
	labels := map[string]string{"pod-template-hash": hash}
	for k, v := range tmpl.Labels {
		labels[k] = v
	}
	obj := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: d.Name + "-" + hash + "-" + suffix(), Namespace: d.Namespace, Labels: labels, Annotations: tmpl.Annotations},
		Spec:       tmpl.Spec,
	}
	// As the ReplicaSet controller would: a Pod the namespace's admission
	// (Pod Security) refuses never runs.
	obj, err := k.cs.CoreV1().Pods(d.Namespace).Create(ctx, obj, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("creating its Pod: %w", err)
	}
	p := &pod{deployment: d.Namespace + "/" + d.Name, hash: hash, obj: obj, log: filepath.Join(k.dir, obj.Name+".log")}
	if err := k.prepare(ctx, p); err != nil {
		_ = k.cs.CoreV1().Pods(obj.Namespace).Delete(ctx, obj.Name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)})
		return nil, err
	}
	if err := k.launch(p); err != nil {
		_ = k.cs.CoreV1().Pods(obj.Namespace).Delete(ctx, obj.Name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)})
		return nil, err
	}
	return p, nil
}

// prepare works out the process's args and env from the Pod, and a
// kubeconfig with a token of its ServiceAccount.
func (k *kubelet) prepare(ctx context.Context, p *pod) error {
	obj := p.obj
	var c corev1.Container
	for _, x := range obj.Spec.Containers {
		if x.Name == "manager" {
			c = x
		}
	}
	vars, err := k.environment(ctx, obj, c)
	if err != nil {
		return err
	}
	sa := obj.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	tr, err := k.cs.CoreV1().ServiceAccounts(obj.Namespace).CreateToken(ctx, sa, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{
			ExpirationSeconds: ptr(int64(3600)),
			BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: obj.Name, UID: obj.UID},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("a token of ServiceAccount %s/%s: %w", obj.Namespace, sa, err)
	}
	kc := filepath.Join(k.dir, obj.Name+".kubeconfig")
	if err := os.WriteFile(kc, podspec.Kubeconfig(k.cfg.Host, k.cfg.CAData, sa, tr.Status.Token), 0o600); err != nil {
		return err
	}
	home := filepath.Join(k.dir, obj.Name+".home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		return err
	}

	var command []string
	for _, a := range append(slices.Clone(c.Command), c.Args...) {
		command = append(command, podspec.Expand(a, vars))
	}
	if len(c.Command) == 0 || filepath.Base(c.Command[0]) != "manager" {
		return fmt.Errorf("the manager container's command is %q, not /manager", c.Command)
	}
	probe, metrics := freePort(), freePort()
	args := managerArgs(command[1:], obj.Namespace, k.simURL, probe, metrics, vars)
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "KUBECONFIG=" + kc}
	names := make([]string, 0, len(vars))
	for name := range vars {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		env = append(env, name+"="+vars[name])
	}
	p.args, p.env, p.probe = args, env, probe
	p.readyPath = ""
	if rp := c.ReadinessProbe; rp != nil && rp.HTTPGet != nil {
		p.readyPath = rp.HTTPGet.Path
	}
	return nil
}

// launch starts the process and, once /readyz answers, marks the Pod Ready.
func (k *kubelet) launch(p *pod) error {
	logFile, err := os.OpenFile(p.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(k.manager, p.args...)
	cmd.Env, cmd.Stdout, cmd.Stderr = p.env, logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return err
	}
	k.notes = append(k.notes, fmt.Sprintf("started pod %s/%s: manager %s", p.obj.Namespace, p.obj.Name, strings.Join(p.args, " ")))
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		_ = logFile.Close()
		p.ready.Store(false)
		close(exited)
	}()
	p.cmd, p.exited, p.since = cmd, exited, time.Now()
	go k.markReady(p, exited)
	return nil
}

func (k *kubelet) markReady(p *pod, exited chan struct{}) {
	for p.readyPath != "" {
		select {
		case <-exited:
			return
		case <-time.After(200 * time.Millisecond):
		}
		resp, err := http.Get("http://" + p.probe + p.readyPath)
		if err != nil {
			continue
		}
		_ = resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			break
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pods := k.cs.CoreV1().Pods(p.obj.Namespace)
	cur, err := pods.Get(ctx, p.obj.Name, metav1.GetOptions{})
	if err != nil {
		return
	}
	now := metav1.Now()
	cur.Status.Phase = corev1.PodRunning
	cur.Status.PodIP, cur.Status.HostIP, cur.Status.StartTime = "127.0.0.1", "127.0.0.1", &now
	cur.Status.Conditions = nil
	for _, t := range []corev1.PodConditionType{corev1.PodScheduled, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady} {
		cur.Status.Conditions = append(cur.Status.Conditions, corev1.PodCondition{Type: t, Status: corev1.ConditionTrue, LastTransitionTime: now})
	}
	cur.Status.ContainerStatuses = nil
	for _, c := range cur.Spec.Containers {
		cur.Status.ContainerStatuses = append(cur.Status.ContainerStatuses, corev1.ContainerStatus{
			Name: c.Name, Image: c.Image, Ready: true, Started: ptr(true), RestartCount: int32(p.restarts), //nolint:gosec // a handful
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
		})
	}
	if _, err := pods.UpdateStatus(ctx, cur, metav1.UpdateOptions{}); err == nil {
		p.ready.Store(true)
	}
}

// stopPods stops the processes as a kubelet stops containers (SIGTERM,
// then SIGKILL after the grace period), all at once, and deletes the Pod
// objects.
func (k *kubelet) stopPods(ps []*pod) {
	var wg sync.WaitGroup
	notes := make([]string, len(ps))
	for i, p := range ps {
		wg.Go(func() { notes[i] = k.stopPod(p) })
	}
	wg.Wait()
	k.notes = append(k.notes, notes...)
}

func (k *kubelet) stopPod(p *pod) string {
	began := time.Now()
	if p.cmd != nil {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			grace := 30 * time.Second
			if g := p.obj.Spec.TerminationGracePeriodSeconds; g != nil {
				grace = time.Duration(*g) * time.Second
			}
			select {
			case <-p.exited:
			case <-time.After(grace):
				_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
				<-p.exited
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	note := fmt.Sprintf("stopped pod %s/%s in %s", p.obj.Namespace, p.obj.Name, time.Since(began).Round(time.Millisecond))
	err := k.cs.CoreV1().Pods(p.obj.Namespace).Delete(ctx, p.obj.Name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)})
	if err != nil && !apierrors.IsNotFound(err) {
		note += "; deleting its Pod: " + err.Error()
	}
	if time.Since(began) > 5*time.Second {
		out, _ := os.ReadFile(p.log)
		note += "; its log ends:\n" + tail(string(out), 20)
	}
	return note
}

// environment resolves the container's env as a kubelet does: envFrom,
// then env in order, each value's $(VAR) expanded with what came before;
// downward API fields from the Pod object, resource fields from the
// container's resources.
func (k *kubelet) environment(ctx context.Context, obj *corev1.Pod, c corev1.Container) (map[string]string, error) {
	vars := map[string]string{}
	ns := obj.Namespace
	for _, from := range c.EnvFrom {
		var data map[string]string
		switch {
		case from.ConfigMapRef != nil:
			cm, err := k.cs.CoreV1().ConfigMaps(ns).Get(ctx, from.ConfigMapRef.Name, metav1.GetOptions{})
			if err != nil {
				if from.ConfigMapRef.Optional != nil && *from.ConfigMapRef.Optional {
					continue
				}
				return nil, fmt.Errorf("envFrom ConfigMap %s: %w", from.ConfigMapRef.Name, err)
			}
			data = cm.Data
		case from.SecretRef != nil:
			s, err := k.cs.CoreV1().Secrets(ns).Get(ctx, from.SecretRef.Name, metav1.GetOptions{})
			if err != nil {
				if from.SecretRef.Optional != nil && *from.SecretRef.Optional {
					continue
				}
				return nil, fmt.Errorf("envFrom Secret %s: %w", from.SecretRef.Name, err)
			}
			data = map[string]string{}
			for key, v := range s.Data {
				data[key] = string(v)
			}
		}
		for key, v := range data {
			vars[from.Prefix+key] = v
		}
	}
	for _, e := range c.Env {
		from := e.ValueFrom
		if from == nil {
			vars[e.Name] = podspec.Expand(e.Value, vars)
			continue
		}
		switch {
		case from.FieldRef != nil:
			v, err := podspec.FieldValue(obj, from.FieldRef.FieldPath)
			if err != nil {
				return nil, fmt.Errorf("env %s: %w", e.Name, err)
			}
			vars[e.Name] = v
		case from.ResourceFieldRef != nil:
			v, err := podspec.ResourceValue(obj, c, from.ResourceFieldRef)
			if err != nil {
				return nil, fmt.Errorf("env %s: %w", e.Name, err)
			}
			vars[e.Name] = v
		case from.SecretKeyRef != nil:
			ref := from.SecretKeyRef
			s, err := k.cs.CoreV1().Secrets(ns).Get(ctx, ref.Name, metav1.GetOptions{})
			switch {
			case err == nil && s.Data[ref.Key] != nil:
				vars[e.Name] = string(s.Data[ref.Key])
			case ref.Optional != nil && *ref.Optional:
			case err != nil:
				return nil, fmt.Errorf("env %s: Secret %s: %w", e.Name, ref.Name, err)
			default:
				return nil, fmt.Errorf("env %s: Secret %s has no key %s", e.Name, ref.Name, ref.Key)
			}
		case from.ConfigMapKeyRef != nil:
			ref := from.ConfigMapKeyRef
			cm, err := k.cs.CoreV1().ConfigMaps(ns).Get(ctx, ref.Name, metav1.GetOptions{})
			var v string
			var ok bool
			if err == nil {
				v, ok = cm.Data[ref.Key]
			}
			switch {
			case ok:
				vars[e.Name] = v
			case ref.Optional != nil && *ref.Optional:
			case err != nil:
				return nil, fmt.Errorf("env %s: ConfigMap %s: %w", e.Name, ref.Name, err)
			default:
				return nil, fmt.Errorf("env %s: ConfigMap %s has no key %s", e.Name, ref.Name, ref.Key)
			}
		default:
			return nil, fmt.Errorf("env %s comes from a source this stand-in cannot resolve", e.Name)
		}
	}
	return vars, nil
}

// managerArgs are the container's args with the test's changes, and only
// these: the listen addresses on free loopback ports, Bland's URL the
// simulator's (allowed over plain HTTP), and, when the Pod would find its
// leader election namespace in its ServiceAccount's mount (no POD_NAMESPACE
// and no flag), that namespace as a flag.
func managerArgs(args []string, namespace, simURL, probe, metrics string, vars map[string]string) []string {
	var out []string
	seen := map[string]bool{}
	leaderElect := false
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") {
			out = append(out, a)
			continue
		}
		replaced := map[string]string{
			"health-probe-bind-address": probe,
			"metrics-bind-address":      metrics,
			"pprof-bind-address":        "0",
			"bland-api-url":             simURL,
		}
		if v, ok := replaced[name]; ok {
			if !hasValue && i+1 < len(args) {
				value = args[i+1]
				i++
			}
			if name == "metrics-bind-address" && value == "0" {
				v = "0"
			}
			out = append(out, "--"+name+"="+v)
			seen[name] = true
			continue
		}
		if name == "leader-elect" {
			leaderElect = !hasValue || value == "true"
		}
		seen[name] = true
		out = append(out, a)
	}
	if !seen["bland-api-url"] {
		out = append(out, "--bland-api-url="+simURL)
	}
	if !seen["allow-insecure-api-url"] {
		out = append(out, "--allow-insecure-api-url")
	}
	if !seen["health-probe-bind-address"] {
		out = append(out, "--health-probe-bind-address="+probe)
	}
	if _, ok := vars["POD_NAMESPACE"]; leaderElect && !ok && !seen["leader-election-namespace"] {
		out = append(out, "--leader-election-namespace="+namespace)
	}
	return out
}

// freePort is a loopback address nothing listens on.
func freePort() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String()
}

func suffix() string {
	const chars = "bcdfghjklmnpqrstvwxz2456789"
	b := make([]byte, 5)
	for i := range b {
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(chars))))
		b[i] = chars[n.Int64()]
	}
	return string(b)
}

func ptr[T any](v T) *T { return &v }

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("... (%d lines before)", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n") + "\n"
}

func TestManagerArgs(t *testing.T) {
	sim, probe, metrics := "http://127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"
	// The chart's: every address and the URL replaced, nothing else touched.
	got := managerArgs([]string{"--bland-api-url=https://api.bland.ai", "--leader-elect=true", "--metrics-bind-address=:8443",
		"--health-probe-bind-address=:8081", "--zap-log-level=info"}, "ops", sim, probe, metrics, map[string]string{"POD_NAMESPACE": "ops"})
	want := []string{"--bland-api-url=" + sim, "--leader-elect=true", "--metrics-bind-address=" + metrics,
		"--health-probe-bind-address=" + probe, "--zap-log-level=info", "--allow-insecure-api-url"}
	if !slices.Equal(got, want) {
		t.Errorf("chart args: got %q, want %q", got, want)
	}
	// The kustomize install's: no URL, no POD_NAMESPACE, a separate value.
	got = managerArgs([]string{"--leader-elect", "--metrics-bind-address", ":8443", "--health-probe-bind-address=:8081"}, "ops", sim, probe, metrics, nil)
	want = []string{"--leader-elect", "--metrics-bind-address=" + metrics, "--health-probe-bind-address=" + probe,
		"--bland-api-url=" + sim, "--allow-insecure-api-url", "--leader-election-namespace=ops"}
	if !slices.Equal(got, want) {
		t.Errorf("kustomize args: got %q, want %q", got, want)
	}
}
