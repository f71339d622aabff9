// Command validate checks Kubernetes manifests offline, as `helm template` prints them,
// against the Kubernetes API types.
//
//	helm template ... | validate            # or: validate FILE...
//
// Each YAML document is decoded strictly into the Go type of its apiVersion and kind from
// k8s.io/api: an unknown or duplicated field, a value of the wrong type, a quantity that
// does not parse, or an apiVersion/kind it does not know is an error. The
// monitoring.coreos.com/v1 ServiceMonitor (a CRD, with no type in k8s.io/api) is decoded
// strictly into the subset of its schema that a chart may use here.
//
// Then the documents are checked against each other for what the API server would refuse
// or what could not work once applied: names and labels, selectors that match their pod
// templates, Services, PodDisruptionBudgets and ServiceMonitors that select something,
// ports and probes that name declared container ports, volume mounts of declared volumes,
// ConfigMap and Secret keys that exist when the chart renders them, HPAs that target a
// rendered Deployment whose containers request the resource they scale on, Recreate
// strategies without rolling-update settings, and requests within limits.
//
// It prints one line per object ("ok <apiVersion> <kind> <name>") and one line per problem
// ("error <kind>/<name>: ..."), and exits 1 when there is a problem, 0 otherwise.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// ServiceMonitor is the part of prometheus-operator's monitoring.coreos.com/v1
// ServiceMonitor that a chart may render here; any other field is an error.
type ServiceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              ServiceMonitorSpec `json:"spec"`
}

type ServiceMonitorSpec struct {
	JobLabel          string               `json:"jobLabel,omitempty"`
	Selector          metav1.LabelSelector `json:"selector"`
	NamespaceSelector *NamespaceSelector   `json:"namespaceSelector,omitempty"`
	Endpoints         []MonitorEndpoint    `json:"endpoints"`
}

type NamespaceSelector struct {
	Any        bool     `json:"any,omitempty"`
	MatchNames []string `json:"matchNames,omitempty"`
}

type MonitorEndpoint struct {
	Port          string `json:"port,omitempty"`
	Path          string `json:"path,omitempty"`
	Scheme        string `json:"scheme,omitempty"`
	Interval      string `json:"interval,omitempty"`
	ScrapeTimeout string `json:"scrapeTimeout,omitempty"`
	HonorLabels   bool   `json:"honorLabels,omitempty"`
}

type object struct {
	apiVersion, kind, name string
	meta                   *metav1.ObjectMeta
	value                  any
}

func (o object) String() string { return o.kind + "/" + o.name }

type checker struct {
	objects []object
	errs    []string
}

func (c *checker) errorf(o object, format string, args ...any) {
	c.errs = append(c.errs, fmt.Sprintf("error %s: %s", o, fmt.Sprintf(format, args...)))
}

// newTyped returns a pointer to the Go type for apiVersion and kind.
func newTyped(apiVersion, kind string) (any, error) {
	switch apiVersion + " " + kind {
	case "v1 ConfigMap":
		return &corev1.ConfigMap{}, nil
	case "v1 Secret":
		return &corev1.Secret{}, nil
	case "v1 Service":
		return &corev1.Service{}, nil
	case "v1 ServiceAccount":
		return &corev1.ServiceAccount{}, nil
	case "v1 PersistentVolumeClaim":
		return &corev1.PersistentVolumeClaim{}, nil
	case "apps/v1 Deployment":
		return &appsv1.Deployment{}, nil
	case "apps/v1 StatefulSet":
		return &appsv1.StatefulSet{}, nil
	case "autoscaling/v2 HorizontalPodAutoscaler":
		return &autoscalingv2.HorizontalPodAutoscaler{}, nil
	case "policy/v1 PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}, nil
	case "monitoring.coreos.com/v1 ServiceMonitor":
		return &ServiceMonitor{}, nil
	}
	return nil, fmt.Errorf("unknown apiVersion/kind %q %q", apiVersion, kind)
}

func objectMeta(v any) *metav1.ObjectMeta {
	if m, ok := v.(metav1.ObjectMetaAccessor); ok {
		return m.GetObjectMeta().(*metav1.ObjectMeta)
	}
	return nil
}

// decode reads every document of r strictly into its typed object.
func (c *checker) decode(source string, r io.Reader) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(r))
	for n := 1; ; n++ {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			c.errs = append(c.errs, fmt.Sprintf("error %s: document %d: %v", source, n, err))
			return
		}
		if isEmpty(doc) {
			continue
		}
		var head metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &head); err != nil {
			c.errs = append(c.errs, fmt.Sprintf("error %s: document %d: %v", source, n, err))
			continue
		}
		value, err := newTyped(head.APIVersion, head.Kind)
		if err != nil {
			c.errs = append(c.errs, fmt.Sprintf("error %s: document %d: %v", source, n, err))
			continue
		}
		if err := yaml.UnmarshalStrict(doc, value); err != nil {
			c.errs = append(c.errs, fmt.Sprintf("error %s: document %d (%s %s): %v",
				source, n, head.APIVersion, head.Kind, err))
			continue
		}
		meta := objectMeta(value)
		c.objects = append(c.objects, object{head.APIVersion, head.Kind, meta.Name, meta, value})
	}
}

// isEmpty is true for a document of only comments and blank lines.
func isEmpty(doc []byte) bool {
	for _, line := range bytes.Split(doc, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) > 0 && line[0] != '#' && string(line) != "---" {
			return false
		}
	}
	return true
}

func (c *checker) find(kind, name string) (object, bool) {
	for _, o := range c.objects {
		if o.kind == kind && o.name == name {
			return o, true
		}
	}
	return object{}, false
}

// podTemplates are the rendered workloads' pod templates, by "Kind/name".
func (c *checker) podTemplates() map[string]*corev1.PodTemplateSpec {
	out := map[string]*corev1.PodTemplateSpec{}
	for _, o := range c.objects {
		switch v := o.value.(type) {
		case *appsv1.Deployment:
			out[o.String()] = &v.Spec.Template
		case *appsv1.StatefulSet:
			out[o.String()] = &v.Spec.Template
		}
	}
	return out
}

func (c *checker) selected(sel labels.Selector) []*corev1.PodTemplateSpec {
	var out []*corev1.PodTemplateSpec
	keys := []string{}
	templates := c.podTemplates()
	for k := range templates {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if sel.Matches(labels.Set(templates[k].Labels)) {
			out = append(out, templates[k])
		}
	}
	return out
}

func (c *checker) checkMeta(o object) {
	if o.meta.Name == "" {
		c.errorf(o, "metadata.name is empty")
	}
	var problems []string
	switch o.kind {
	case "Service":
		problems = validation.IsDNS1035Label(o.meta.Name)
	default:
		problems = validation.IsDNS1123Subdomain(o.meta.Name)
	}
	for _, p := range problems {
		c.errorf(o, "metadata.name: %s", p)
	}
	c.checkLabels(o, "metadata.labels", o.meta.Labels)
	for k := range o.meta.Annotations {
		for _, p := range validation.IsQualifiedName(k) {
			c.errorf(o, "metadata.annotations %q: %s", k, p)
		}
	}
}

func (c *checker) checkLabels(o object, where string, set map[string]string) {
	for k, v := range set {
		for _, p := range validation.IsQualifiedName(k) {
			c.errorf(o, "%s key %q: %s", where, k, p)
		}
		for _, p := range validation.IsValidLabelValue(v) {
			c.errorf(o, "%s %q value %q: %s", where, k, v, p)
		}
	}
}

func (c *checker) selector(o object, where string, ls *metav1.LabelSelector) labels.Selector {
	if ls == nil || (len(ls.MatchLabels) == 0 && len(ls.MatchExpressions) == 0) {
		c.errorf(o, "%s is empty (it would select everything or nothing)", where)
		return labels.Nothing()
	}
	sel, err := metav1.LabelSelectorAsSelector(ls)
	if err != nil {
		c.errorf(o, "%s: %v", where, err)
		return labels.Nothing()
	}
	return sel
}

func containerPorts(t *corev1.PodTemplateSpec) map[string]int32 {
	out := map[string]int32{}
	for _, ct := range append(append([]corev1.Container{}, t.Spec.InitContainers...), t.Spec.Containers...) {
		for _, p := range ct.Ports {
			if p.Name != "" {
				out[p.Name] = p.ContainerPort
			}
		}
	}
	return out
}

func hasContainerPort(t *corev1.PodTemplateSpec, port int32) bool {
	for _, ct := range t.Spec.Containers {
		for _, p := range ct.Ports {
			if p.ContainerPort == port {
				return true
			}
		}
	}
	return false
}

func (c *checker) checkPortRef(o object, where string, port intstr.IntOrString, named map[string]int32) {
	if port.Type == intstr.String {
		if _, ok := named[port.StrVal]; !ok {
			c.errorf(o, "%s: port %q names no container port", where, port.StrVal)
		}
		return
	}
	for _, p := range validation.IsValidPortNum(int(port.IntVal)) {
		c.errorf(o, "%s: %s", where, p)
	}
}

func (c *checker) checkProbe(o object, where string, p *corev1.Probe, named map[string]int32) {
	if p == nil {
		return
	}
	handlers := 0
	if p.HTTPGet != nil {
		handlers++
		c.checkPortRef(o, where+".httpGet", p.HTTPGet.Port, named)
		if !strings.HasPrefix(p.HTTPGet.Path, "/") {
			c.errorf(o, "%s.httpGet.path %q does not start with /", where, p.HTTPGet.Path)
		}
	}
	if p.TCPSocket != nil {
		handlers++
		c.checkPortRef(o, where+".tcpSocket", p.TCPSocket.Port, named)
	}
	if p.Exec != nil {
		handlers++
	}
	if p.GRPC != nil {
		handlers++
	}
	if handlers != 1 {
		c.errorf(o, "%s has %d handlers, needs exactly one", where, handlers)
	}
}

func (c *checker) checkPodTemplate(o object, t *corev1.PodTemplateSpec) {
	c.checkLabels(o, "spec.template.metadata.labels", t.Labels)
	if len(t.Spec.Containers) == 0 {
		c.errorf(o, "spec.template.spec.containers is empty")
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range t.Spec.Volumes {
		if _, dup := volumes[v.Name]; dup {
			c.errorf(o, "volume %q declared twice", v.Name)
		}
		volumes[v.Name] = v
		for _, p := range validation.IsDNS1123Label(v.Name) {
			c.errorf(o, "volume %q: %s", v.Name, p)
		}
		c.checkVolumeSource(o, v)
	}
	named := containerPorts(t)
	names := map[string]bool{}
	all := append(append([]corev1.Container{}, t.Spec.InitContainers...), t.Spec.Containers...)
	for _, ct := range all {
		where := "container " + ct.Name
		if names[ct.Name] {
			c.errorf(o, "%s declared twice", where)
		}
		names[ct.Name] = true
		for _, p := range validation.IsDNS1123Label(ct.Name) {
			c.errorf(o, "%s: %s", where, p)
		}
		if ct.Image == "" {
			c.errorf(o, "%s has no image", where)
		}
		ports := map[string]bool{}
		for _, p := range ct.Ports {
			for _, e := range validation.IsValidPortNum(int(p.ContainerPort)) {
				c.errorf(o, "%s port %d: %s", where, p.ContainerPort, e)
			}
			if p.Name != "" {
				for _, e := range validation.IsValidPortName(p.Name) {
					c.errorf(o, "%s port name %q: %s", where, p.Name, e)
				}
				if ports[p.Name] {
					c.errorf(o, "%s port name %q used twice", where, p.Name)
				}
				ports[p.Name] = true
			}
		}
		c.checkProbe(o, where+".livenessProbe", ct.LivenessProbe, named)
		c.checkProbe(o, where+".readinessProbe", ct.ReadinessProbe, named)
		c.checkProbe(o, where+".startupProbe", ct.StartupProbe, named)
		mounts := map[string]bool{}
		for _, m := range ct.VolumeMounts {
			if _, ok := volumes[m.Name]; !ok {
				c.errorf(o, "%s mounts volume %q, which is not declared", where, m.Name)
			}
			if !path.IsAbs(m.MountPath) {
				c.errorf(o, "%s mountPath %q is not absolute", where, m.MountPath)
			}
			if mounts[m.MountPath] {
				c.errorf(o, "%s mounts %q twice", where, m.MountPath)
			}
			mounts[m.MountPath] = true
		}
		envs := map[string]bool{}
		for _, e := range ct.Env {
			for _, p := range validation.IsEnvVarName(e.Name) {
				c.errorf(o, "%s env %q: %s", where, e.Name, p)
			}
			if envs[e.Name] {
				c.errorf(o, "%s env %q set twice", where, e.Name)
			}
			envs[e.Name] = true
			if e.ValueFrom != nil {
				if e.Value != "" {
					c.errorf(o, "%s env %q has both value and valueFrom", where, e.Name)
				}
				if r := e.ValueFrom.SecretKeyRef; r != nil {
					c.checkKeyRef(o, where+" env "+e.Name, "Secret", r.Name, r.Key, r.Optional)
				}
				if r := e.ValueFrom.ConfigMapKeyRef; r != nil {
					c.checkKeyRef(o, where+" env "+e.Name, "ConfigMap", r.Name, r.Key, r.Optional)
				}
			}
		}
		for name, limit := range ct.Resources.Limits {
			if req, ok := ct.Resources.Requests[name]; ok && req.Cmp(limit) > 0 {
				c.errorf(o, "%s requests more %s (%s) than its limit (%s)", where, name,
					req.String(), limit.String())
			}
		}
	}
}

// checkKeyRef: when the chart renders the named ConfigMap or Secret, key must be in it.
func (c *checker) checkKeyRef(o object, where, kind, name, key string, optional *bool) {
	if name == "" {
		c.errorf(o, "%s: a %s reference without a name", where, kind)
		return
	}
	target, ok := c.find(kind, name)
	if !ok || (optional != nil && *optional) {
		return // an existing object of the cluster's, not rendered here
	}
	if !hasKey(target, key) {
		c.errorf(o, "%s: %s %q has no key %q", where, kind, name, key)
	}
}

func hasKey(o object, key string) bool {
	switch v := o.value.(type) {
	case *corev1.ConfigMap:
		_, a := v.Data[key]
		_, b := v.BinaryData[key]
		return a || b
	case *corev1.Secret:
		_, a := v.Data[key]
		_, b := v.StringData[key]
		return a || b
	}
	return false
}

func (c *checker) checkVolumeSource(o object, v corev1.Volume) {
	sources := 0
	s := v.VolumeSource
	for _, set := range []bool{s.EmptyDir != nil, s.ConfigMap != nil, s.Secret != nil,
		s.PersistentVolumeClaim != nil, s.Projected != nil, s.HostPath != nil,
		s.DownwardAPI != nil, s.CSI != nil, s.Ephemeral != nil, s.NFS != nil} {
		if set {
			sources++
		}
	}
	if sources != 1 {
		c.errorf(o, "volume %q has %d sources, needs exactly one", v.Name, sources)
	}
	if s.ConfigMap != nil {
		for _, item := range s.ConfigMap.Items {
			c.checkKeyRef(o, "volume "+v.Name, "ConfigMap", s.ConfigMap.Name, item.Key, s.ConfigMap.Optional)
		}
	}
	if s.Secret != nil {
		for _, item := range s.Secret.Items {
			c.checkKeyRef(o, "volume "+v.Name, "Secret", s.Secret.SecretName, item.Key, s.Secret.Optional)
		}
	}
	if s.Projected != nil {
		for _, ps := range s.Projected.Sources {
			if ps.Secret != nil {
				for _, item := range ps.Secret.Items {
					c.checkKeyRef(o, "volume "+v.Name, "Secret", ps.Secret.Name, item.Key, ps.Secret.Optional)
				}
			}
			if ps.ConfigMap != nil {
				for _, item := range ps.ConfigMap.Items {
					c.checkKeyRef(o, "volume "+v.Name, "ConfigMap", ps.ConfigMap.Name, item.Key, ps.ConfigMap.Optional)
				}
			}
		}
	}
	if s.PersistentVolumeClaim != nil && s.PersistentVolumeClaim.ClaimName == "" {
		c.errorf(o, "volume %q names no claim", v.Name)
	}
}

func (c *checker) check() {
	seen := map[string]bool{}
	for _, o := range c.objects {
		if seen[o.String()] {
			c.errorf(o, "rendered twice")
		}
		seen[o.String()] = true
		c.checkMeta(o)
		switch v := o.value.(type) {
		case *appsv1.Deployment:
			sel := c.selector(o, "spec.selector", v.Spec.Selector)
			if !sel.Matches(labels.Set(v.Spec.Template.Labels)) {
				c.errorf(o, "spec.selector does not match the pod template's labels")
			}
			if v.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType && v.Spec.Strategy.RollingUpdate != nil {
				c.errorf(o, "strategy Recreate with rollingUpdate settings")
			}
			c.checkPodTemplate(o, &v.Spec.Template)
		case *appsv1.StatefulSet:
			sel := c.selector(o, "spec.selector", v.Spec.Selector)
			if !sel.Matches(labels.Set(v.Spec.Template.Labels)) {
				c.errorf(o, "spec.selector does not match the pod template's labels")
			}
			c.checkPodTemplate(o, &v.Spec.Template)
		case *corev1.Service:
			c.checkService(o, v)
		case *autoscalingv2.HorizontalPodAutoscaler:
			c.checkHPA(o, v)
		case *policyv1.PodDisruptionBudget:
			if (v.Spec.MinAvailable == nil) == (v.Spec.MaxUnavailable == nil) {
				c.errorf(o, "needs exactly one of minAvailable and maxUnavailable")
			}
			sel := c.selector(o, "spec.selector", v.Spec.Selector)
			if len(c.selected(sel)) == 0 {
				c.errorf(o, "spec.selector selects no rendered pod template")
			}
		case *corev1.PersistentVolumeClaim:
			if len(v.Spec.AccessModes) == 0 {
				c.errorf(o, "spec.accessModes is empty")
			}
			if _, ok := v.Spec.Resources.Requests[corev1.ResourceStorage]; !ok {
				c.errorf(o, "spec.resources.requests.storage is missing")
			}
		case *corev1.ConfigMap:
			for k := range v.Data {
				for _, p := range validation.IsConfigMapKey(k) {
					c.errorf(o, "key %q: %s", k, p)
				}
			}
		case *corev1.Secret:
			for k := range v.Data {
				for _, p := range validation.IsConfigMapKey(k) {
					c.errorf(o, "key %q: %s", k, p)
				}
			}
			for k := range v.StringData {
				for _, p := range validation.IsConfigMapKey(k) {
					c.errorf(o, "key %q: %s", k, p)
				}
			}
		case *ServiceMonitor:
			c.checkServiceMonitor(o, v)
		}
	}
}

func (c *checker) checkService(o object, v *corev1.Service) {
	if len(v.Spec.Ports) == 0 {
		c.errorf(o, "spec.ports is empty")
	}
	var pods []*corev1.PodTemplateSpec
	if len(v.Spec.Selector) == 0 {
		c.errorf(o, "spec.selector is empty")
	} else {
		pods = c.selected(labels.SelectorFromSet(v.Spec.Selector))
		if len(pods) == 0 {
			c.errorf(o, "spec.selector selects no rendered pod template")
		}
	}
	names := map[string]bool{}
	for _, p := range v.Spec.Ports {
		if len(v.Spec.Ports) > 1 && p.Name == "" {
			c.errorf(o, "port %d has no name (needed when there are several)", p.Port)
		}
		if p.Name != "" {
			for _, e := range validation.IsDNS1123Label(p.Name) {
				c.errorf(o, "port name %q: %s", p.Name, e)
			}
			if names[p.Name] {
				c.errorf(o, "port name %q used twice", p.Name)
			}
			names[p.Name] = true
		}
		for _, e := range validation.IsValidPortNum(int(p.Port)) {
			c.errorf(o, "port %q: %s", p.Name, e)
		}
		target := p.TargetPort
		if target.Type == intstr.Int && target.IntVal == 0 {
			target = intstr.FromInt32(p.Port)
		}
		for _, t := range pods {
			if target.Type == intstr.String {
				if _, ok := containerPorts(t)[target.StrVal]; !ok {
					c.errorf(o, "port %q: targetPort %q names no container port of the pods it selects",
						p.Name, target.StrVal)
				}
			} else if !hasContainerPort(t, target.IntVal) {
				c.errorf(o, "port %q: targetPort %d is not a container port of the pods it selects",
					p.Name, target.IntVal)
			}
		}
	}
}

func (c *checker) checkHPA(o object, v *autoscalingv2.HorizontalPodAutoscaler) {
	ref := v.Spec.ScaleTargetRef
	if v.Spec.MinReplicas != nil && *v.Spec.MinReplicas > v.Spec.MaxReplicas {
		c.errorf(o, "minReplicas %d is above maxReplicas %d", *v.Spec.MinReplicas, v.Spec.MaxReplicas)
	}
	if v.Spec.MaxReplicas < 1 {
		c.errorf(o, "maxReplicas must be at least 1")
	}
	if len(v.Spec.Metrics) == 0 {
		c.errorf(o, "spec.metrics is empty")
	}
	target, ok := c.find(ref.Kind, ref.Name)
	if !ok || ref.APIVersion != target.apiVersion {
		c.errorf(o, "scaleTargetRef %s %s/%s is not rendered", ref.APIVersion, ref.Kind, ref.Name)
		return
	}
	var template *corev1.PodTemplateSpec
	switch t := target.value.(type) {
	case *appsv1.Deployment:
		template = &t.Spec.Template
	case *appsv1.StatefulSet:
		template = &t.Spec.Template
	default:
		c.errorf(o, "scaleTargetRef %s cannot be scaled", target)
		return
	}
	for _, m := range v.Spec.Metrics {
		if m.Type != autoscalingv2.ResourceMetricSourceType || m.Resource == nil {
			continue
		}
		if m.Resource.Target.Type == autoscalingv2.UtilizationMetricType {
			for _, ct := range template.Spec.Containers {
				if _, ok := ct.Resources.Requests[m.Resource.Name]; !ok {
					c.errorf(o, "scales on %s utilization, but container %s of %s requests no %s",
						m.Resource.Name, ct.Name, target, m.Resource.Name)
				}
			}
		}
	}
}

func (c *checker) checkServiceMonitor(o object, v *ServiceMonitor) {
	if len(v.Spec.Endpoints) == 0 {
		c.errorf(o, "spec.endpoints is empty")
	}
	sel := c.selector(o, "spec.selector", &v.Spec.Selector)
	var services []*corev1.Service
	for _, s := range c.objects {
		if svc, ok := s.value.(*corev1.Service); ok && sel.Matches(labels.Set(svc.Labels)) {
			services = append(services, svc)
		}
	}
	if len(services) == 0 {
		c.errorf(o, "spec.selector selects no rendered Service")
	}
	for _, e := range v.Spec.Endpoints {
		if e.Port == "" {
			c.errorf(o, "an endpoint has no port name")
			continue
		}
		for _, svc := range services {
			found := false
			for _, p := range svc.Spec.Ports {
				found = found || p.Name == e.Port
			}
			if !found {
				c.errorf(o, "endpoint port %q is not a port of Service %s", e.Port, svc.Name)
			}
		}
		if e.Path != "" && !strings.HasPrefix(e.Path, "/") {
			c.errorf(o, "endpoint path %q does not start with /", e.Path)
		}
		if e.Scheme != "" && e.Scheme != "http" && e.Scheme != "https" {
			c.errorf(o, "endpoint scheme %q is neither http nor https", e.Scheme)
		}
	}
}

func main() {
	c := &checker{}
	if len(os.Args) < 2 {
		c.decode("stdin", os.Stdin)
	}
	for _, name := range os.Args[1:] {
		f, err := os.Open(name)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		c.decode(name, f)
		f.Close()
	}
	if len(c.objects) == 0 && len(c.errs) == 0 {
		c.errs = append(c.errs, "error: no Kubernetes object in the input")
	}
	c.check()
	for _, o := range c.objects {
		fmt.Printf("ok %s %s %s\n", o.apiVersion, o.kind, o.name)
	}
	for _, e := range c.errs {
		fmt.Println(e)
	}
	if len(c.errs) > 0 {
		fmt.Printf("%d objects, %d problems\n", len(c.objects), len(c.errs))
		os.Exit(1)
	}
	fmt.Printf("%d objects, no problems\n", len(c.objects))
}
