package deploy_test

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/yannh/kubeconform/pkg/validator"
	"sigs.k8s.io/yaml"

	"github.com/rockstar-dev/rockstar/supervisor/config"
)

// manifests are the files of kubernetes/, each validated.
var manifests = []string{"configmap.yaml", "deployment.yaml", "service.yaml", "hpa.yaml", "pdb.yaml"}

// newValidator validates against the pinned schemas in kubernetes/schemas
// (made by kubernetes/schemas/gen.go from Kubernetes' OpenAPI spec), never
// the network; a kind without a schema is an error.
func newValidator(t *testing.T) validator.Validator {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("kubernetes", "schemas"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := validator.New([]string{dir + "/{{ .ResourceKind }}{{ .KindSuffix }}.json"}, validator.Opts{Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// validate returns the problems kubeconform finds in doc, "" when it is
// valid.
func validate(v validator.Validator, name string, doc []byte) string {
	var problems []string
	results := v.Validate(name, io.NopCloser(bytes.NewReader(doc)))
	if len(results) == 0 {
		return "no resources"
	}
	for _, r := range results {
		switch r.Status {
		case validator.Valid:
		case validator.Invalid: // the error's text has every cause, nested
			problems = append(problems, "invalid: "+errString(r.Err))
		default:
			problems = append(problems, "status "+statusName(r.Status)+": "+errString(r.Err))
		}
	}
	return strings.Join(problems, "; ")
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

func statusName(s validator.Status) string {
	switch s {
	case validator.Error:
		return "error"
	case validator.Skipped:
		return "skipped"
	case validator.Empty:
		return "empty"
	}
	return "?"
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Every manifest is valid against the Kubernetes schemas, strictly.
func TestManifestsValidate(t *testing.T) {
	v := newValidator(t)
	for _, f := range manifests {
		if p := validate(v, f, readFile(t, filepath.Join("kubernetes", f))); p != "" {
			t.Errorf("%s: %s", f, p)
		}
	}
}

// A typo'd field, a value of the wrong type, a wrong apiVersion or kind:
// each fails validation, so the test above proves something.
func TestManifestsValidateCatchesMistakes(t *testing.T) {
	v := newValidator(t)
	deployment := string(readFile(t, filepath.Join("kubernetes", "deployment.yaml")))
	hpa := string(readFile(t, filepath.Join("kubernetes", "hpa.yaml")))
	for _, tc := range []struct{ name, doc, old, new, want string }{
		{"typo'd field", deployment, "readinessProbe:", "readinesProbe:", "'readinesProbe' not allowed"},
		{"typo'd nested field", deployment, "containerPort: 9090", "containerport: 9090", "'containerport' not allowed"},
		{"typo'd security field", deployment, "runAsNonRoot: true", "runAsNonroot: true", "'runAsNonroot' not allowed"},
		{"wrong type", deployment, "terminationGracePeriodSeconds: 40", "terminationGracePeriodSeconds: forty", "terminationGracePeriodSeconds': got string, want integer"},
		{"unknown apiVersion", deployment, "apiVersion: apps/v1\nkind: Deployment", "apiVersion: apps/v2\nkind: Deployment", "could not find schema"},
		{"unknown kind", hpa, "kind: HorizontalPodAutoscaler", "kind: HorizontalPodAutoscalers", "could not find schema"},
		{"typo'd HPA field", hpa, "averageUtilization: 70", "averageUtilisation: 70", "'averageUtilisation' not allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := strings.Replace(tc.doc, tc.old, tc.new, 1)
			if bad == tc.doc {
				t.Fatalf("%q is not in the manifest", tc.old)
			}
			if p := validate(v, tc.name, []byte(bad)); !strings.Contains(p, tc.want) {
				t.Errorf("with %q for %q, validation says %q, want it to say %q", tc.new, tc.old, p, tc.want)
			}
		})
	}
}

// object is a decoded manifest.
type object = map[string]any

func decode(t *testing.T, file string) object {
	t.Helper()
	var o object
	if err := yaml.Unmarshal(readFile(t, filepath.Join("kubernetes", file)), &o); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return o
}

// at walks o by keys (strings) and indexes (ints).
func at(t *testing.T, o any, path ...any) any {
	t.Helper()
	cur := o
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := cur.(map[string]any)
			if !ok {
				t.Fatalf("%v: no key %q", path, k)
			}
			cur, ok = m[k]
			if !ok {
				t.Fatalf("%v: no key %q", path, k)
			}
		case int:
			l, ok := cur.([]any)
			if !ok || k >= len(l) {
				t.Fatalf("%v: no index %d", path, k)
			}
			cur = l[k]
		}
	}
	return cur
}

func port(t *testing.T, listen string) float64 {
	t.Helper()
	i := strings.LastIndexByte(listen, ':')
	var n float64
	for _, c := range listen[i+1:] {
		n = n*10 + float64(c-'0')
	}
	return n
}

// The manifests agree with each other and with the config the ConfigMap
// holds (deploy/rockstar.toml, the image's): probes on the admin port, the
// server's port in the container and behind the Service, a grace period
// longer than preStop plus shutdown_timeout plus the master's 2 s margin,
// a non-root pod with resources, selectors that match the pods, an HPA
// and a PDB for this Deployment.
func TestManifestsAgree(t *testing.T) {
	cm, dep, svc, hpa, pdb := decode(t, "configmap.yaml"), decode(t, "deployment.yaml"),
		decode(t, "service.yaml"), decode(t, "hpa.yaml"), decode(t, "pdb.yaml")

	toml, _ := at(t, cm, "data", "rockstar.toml").(string)
	if want := string(readFile(t, "rockstar.toml")); toml != want {
		t.Errorf("the ConfigMap's rockstar.toml differs from deploy/rockstar.toml")
	}
	cfg, err := config.Parse("rockstar.toml", []byte(toml))
	if err != nil {
		t.Fatalf("the ConfigMap's rockstar.toml: %v", err)
	}
	if !cfg.Supervisor.TermGraceful(4242, func(k string) string {
		return map[string]string{"KUBERNETES_SERVICE_HOST": "10.0.0.1"}[k]
	}) {
		t.Error("under Kubernetes, the config's TERM would not stop gracefully")
	}

	pod := at(t, dep, "spec", "template")
	spec := at(t, pod, "spec")
	c := at(t, spec, "containers", 0)
	ports := map[string]float64{}
	for _, p := range at(t, c, "ports").([]any) {
		ports[at(t, p, "name").(string)] = at(t, p, "containerPort").(float64)
	}
	if got, want := ports["admin"], port(t, cfg.Admin.Listen); got != want {
		t.Errorf("container port admin %v, admin.listen's port %v", got, want)
	}
	if got, want := ports["http"], port(t, cfg.Servers[0].Listen); got != want {
		t.Errorf("container port http %v, server[0].listen's port %v", got, want)
	}
	for probe, path := range map[string]string{"livenessProbe": "/healthz", "readinessProbe": "/readyz"} {
		if got := at(t, c, probe, "httpGet", "path"); got != path {
			t.Errorf("%s path %v, want %s", probe, got, path)
		}
		if got := at(t, c, probe, "httpGet", "port"); got != "admin" {
			t.Errorf("%s port %v, want the admin port", probe, got)
		}
	}
	if tp := at(t, svc, "spec", "ports", 0, "targetPort"); ports[tp.(string)] != ports["http"] {
		t.Errorf("the Service's targetPort %v is not the container's http port", tp)
	}

	grace := time.Duration(at(t, spec, "terminationGracePeriodSeconds").(float64)) * time.Second
	preStop := time.Duration(at(t, c, "lifecycle", "preStop", "sleep", "seconds").(float64)) * time.Second
	if need := preStop + cfg.Supervisor.ShutdownTimeout + 2*time.Second; grace <= need {
		t.Errorf("terminationGracePeriodSeconds %s, want more than preStop %s + shutdown_timeout %s + 2s",
			grace, preStop, cfg.Supervisor.ShutdownTimeout)
	}

	if at(t, spec, "securityContext", "runAsNonRoot") != true || at(t, spec, "securityContext", "runAsUser").(float64) == 0 {
		t.Error("the pod may run as root")
	}
	if at(t, c, "securityContext", "allowPrivilegeEscalation") != false {
		t.Error("the container allows privilege escalation")
	}
	for _, kind := range []string{"requests", "limits"} {
		for _, r := range []string{"cpu", "memory"} {
			at(t, c, "resources", kind, r)
		}
	}

	labels := at(t, pod, "metadata", "labels").(map[string]any)
	for name, sel := range map[string]any{
		"Deployment": at(t, dep, "spec", "selector", "matchLabels"),
		"Service":    at(t, svc, "spec", "selector"),
		"PDB":        at(t, pdb, "spec", "selector", "matchLabels"),
	} {
		for k, v := range sel.(map[string]any) {
			if labels[k] != v {
				t.Errorf("the %s selects %s=%v, which the pods do not have", name, k, v)
			}
		}
	}
	if at(t, hpa, "spec", "scaleTargetRef", "kind") != "Deployment" ||
		at(t, hpa, "spec", "scaleTargetRef", "name") != at(t, dep, "metadata", "name") {
		t.Error("the HPA does not scale the Deployment")
	}
	if at(t, spec, "volumes", 0, "configMap", "name") != at(t, cm, "metadata", "name") {
		t.Error("the pods do not mount the ConfigMap")
	}
}
