// Package k8s holds the example Kubernetes manifests of deploy/k8s and the
// test that parses them and checks the fields a working deployment needs.
// It has no code of its own: run `go test ./deploy/k8s`.
package k8s

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// requiredConfig are the settings the ConfigMap must give alsobought serve.
var requiredConfig = []string{
	"ALSOBOUGHT_KAFKA_BROKERS",
	"ALSOBOUGHT_REDIS_ADDRS",
	"ALSOBOUGHT_REDIS_MODE",
	"ALSOBOUGHT_HTTP_ADDR",
}

// apiVersions of the kinds the set must hold, exactly one of each.
var apiVersions = map[string]string{
	"ConfigMap":           "v1",
	"Deployment":          "apps/v1",
	"Service":             "v1",
	"ServiceMonitor":      "monitoring.coreos.com/v1",
	"PodDisruptionBudget": "policy/v1",
}

const (
	kustomizationFile = "kustomization.yaml"
	// alsobought serve exits within 15 s of SIGTERM (docs/guarantees.md):
	// the grace period must leave it more than that.
	minGracePeriod = 20
)

func TestManifests(t *testing.T) {
	files := readManifests(t, ".")
	for _, p := range check(files) {
		t.Error(p)
	}
}

func TestCheckFindsBrokenManifests(t *testing.T) {
	orig := readManifests(t, ".")
	type edit struct{ file, old, new string }
	cases := []struct {
		name  string
		edits []edit
		add   map[string]string // extra files
		drop  []string          // files removed
		want  string            // a substring of one problem
	}{
		{name: "not YAML", edits: []edit{{"service.yaml", "spec:\n", "spec: [\n"}}, want: "service.yaml: does not parse"},
		{name: "no apiVersion", edits: []edit{{"service.yaml", "apiVersion: v1\n", ""}}, want: "no apiVersion"},
		{name: "no name", edits: []edit{{"poddisruptionbudget.yaml", "  name: alsobought\n", "  labels2: {}\n"}}, want: "no metadata.name"},
		{name: "wrong apiVersion", edits: []edit{{"poddisruptionbudget.yaml", "policy/v1", "policy/v1beta1"}}, want: "want policy/v1"},
		{name: "one replica", edits: []edit{{"deployment.yaml", "replicas: 2", "replicas: 1"}}, want: "replicas 1"},
		{name: "no serve", edits: []edit{{"deployment.yaml", `args: ["serve"]`, `args: ["rescore"]`}}, want: `no container runs "serve"`},
		{name: "readiness path", edits: []edit{{"deployment.yaml", "path: /readyz", "path: /ready"}}, want: "readinessProbe path"},
		{name: "liveness path", edits: []edit{{"deployment.yaml", "livenessProbe:\n            httpGet:\n              path: /healthz", "livenessProbe:\n            httpGet:\n              path: /metrics"}}, want: "livenessProbe path"},
		{name: "no liveness", edits: []edit{{"deployment.yaml", "livenessProbe:", "livenessProbeX:"}}, want: "no livenessProbe"},
		{name: "probe port", edits: []edit{{"deployment.yaml", "path: /readyz\n              port: ops", "path: /readyz\n              port: 9999"}}, want: "readinessProbe port"},
		{name: "probes on the API's port", edits: []edit{{"deployment.yaml", "path: /readyz\n              port: ops", "path: /readyz\n              port: http"}}, want: "differs from the other probe's"},
		{name: "service targetPort", edits: []edit{{"service.yaml", "targetPort: http", "targetPort: 80"}}, want: "targetPort"},
		{name: "no API port in the service", edits: []edit{{"service.yaml", "targetPort: http", "targetPort: ops"}}, want: "no port of Service alsobought targets the API's port"},
		{name: "http addr port", edits: []edit{{"configmap.yaml", "0.0.0.0:8080", "0.0.0.0:9000"}}, want: "ALSOBOUGHT_HTTP_ADDR"},
		{name: "http addr loopback", edits: []edit{{"configmap.yaml", "0.0.0.0:8080", "127.0.0.1:8080"}}, want: "loopback"},
		{name: "ops addr port", edits: []edit{{"configmap.yaml", "0.0.0.0:8081", "0.0.0.0:8082"}}, want: "ALSOBOUGHT_OPS_HTTP"},
		{name: "ops addr loopback", edits: []edit{{"configmap.yaml", "0.0.0.0:8081", "127.0.0.1:8081"}}, want: "loopback"},
		{name: "token in the ConfigMap", edits: []edit{{"configmap.yaml", "  ALSOBOUGHT_LOG_FORMAT: json\n", "  ALSOBOUGHT_LOG_FORMAT: json\n  ALSOBOUGHT_API_TOKEN: hunter2\n"}}, want: "belongs in a Secret"},
		{name: "Kafka password in the ConfigMap", edits: []edit{{"configmap.yaml", "  ALSOBOUGHT_LOG_FORMAT: json\n", "  ALSOBOUGHT_LOG_FORMAT: json\n  ALSOBOUGHT_KAFKA_PASSWORD: hunter2\n"}}, want: "ALSOBOUGHT_KAFKA_PASSWORD: a password belongs in a Secret"},
		{name: "Kafka password Secret not mounted", edits: []edit{{"deployment.yaml", "mountPath: /var/run/secrets/kafka", "mountPath: /var/run/other"}}, want: "ALSOBOUGHT_KAFKA_PASSWORD_FILE"},
		{name: "token file outside the Secret", edits: []edit{{"configmap.yaml", "/var/run/secrets/alsobought/token", "/etc/alsobought/token"}}, want: "not in a mounted Secret"},
		{name: "token Secret not mounted", edits: []edit{{"deployment.yaml", "mountPath: /var/run/secrets/alsobought", "mountPath: /var/run/other"}}, want: "not in a mounted Secret"},
		{name: "Redis password in the ConfigMap", edits: []edit{{"configmap.yaml", "  ALSOBOUGHT_LOG_FORMAT: json\n", "  ALSOBOUGHT_LOG_FORMAT: json\n  ALSOBOUGHT_REDIS_PASSWORD: hunter2\n"}}, want: "password belongs in a Secret"},
		{name: "Redis password file outside the Secret", edits: []edit{{"configmap.yaml", "/var/run/secrets/redis/password", "/etc/redis/password"}}, want: "ALSOBOUGHT_REDIS_PASSWORD_FILE \"/etc/redis/password\" is not in a mounted Secret"},
		{name: "Redis password Secret not mounted", edits: []edit{{"deployment.yaml", "mountPath: /var/run/secrets/redis", "mountPath: /var/run/other"}}, want: "ALSOBOUGHT_REDIS_PASSWORD_FILE"},
		{name: "Kafka password mounted with subPath", edits: []edit{{"deployment.yaml", "mountPath: /var/run/secrets/kafka\n", "mountPath: /var/run/secrets/kafka\n              subPath: password\n"}}, want: "ALSOBOUGHT_KAFKA_PASSWORD_FILE is mounted with subPath"},
		{name: "Redis password mounted with subPath", edits: []edit{{"deployment.yaml", "mountPath: /var/run/secrets/redis\n", "mountPath: /var/run/secrets/redis\n              subPath: password\n"}}, want: "subPath"},
		{name: "no limits", edits: []edit{{"deployment.yaml", "limits:", "limitz:"}}, want: "resources.limits.memory"},
		{name: "no requests", edits: []edit{{"deployment.yaml", "requests:", "requestz:"}}, want: "resources.requests.cpu"},
		{name: "short grace", edits: []edit{{"deployment.yaml", "terminationGracePeriodSeconds: 30", "terminationGracePeriodSeconds: 15"}}, want: "terminationGracePeriodSeconds 15"},
		{name: "no grace", edits: []edit{{"deployment.yaml", "terminationGracePeriodSeconds: 30", ""}}, want: "terminationGracePeriodSeconds 0"},
		{name: "configmap not referenced", edits: []edit{{"deployment.yaml", "name: alsobought-config", "name: other-config"}}, want: "does not load ConfigMap alsobought-config"},
		{name: "no redis mode", edits: []edit{{"configmap.yaml", "  ALSOBOUGHT_REDIS_MODE: cluster\n", ""}}, want: "ALSOBOUGHT_REDIS_MODE"},
		{name: "single mode", edits: []edit{{"configmap.yaml", "ALSOBOUGHT_REDIS_MODE: cluster", "ALSOBOUGHT_REDIS_MODE: single"}}, want: "want cluster"},
		{name: "no brokers", edits: []edit{{"configmap.yaml", "ALSOBOUGHT_KAFKA_BROKERS:", "KAFKA_BROKERS:"}}, want: "ALSOBOUGHT_KAFKA_BROKERS"},
		{name: "bad redis seed", edits: []edit{{"configmap.yaml", "redis-cluster-1.redis-cluster-headless.redis.svc.cluster.local:6379", "redis-cluster-1"}}, want: "ALSOBOUGHT_REDIS_ADDRS"},
		{name: "deployment selector", edits: []edit{{"deployment.yaml", "  selector:\n    matchLabels:\n      app.kubernetes.io/name: alsobought", "  selector:\n    matchLabels:\n      app.kubernetes.io/name: other"}}, want: "Deployment alsobought: selector"},
		{name: "service selector", edits: []edit{{"service.yaml", "  selector:\n    app.kubernetes.io/name: alsobought", "  selector:\n    app.kubernetes.io/name: other"}}, want: "Service alsobought: selector"},
		{name: "pdb selector", edits: []edit{{"poddisruptionbudget.yaml", "      app.kubernetes.io/component: server", "      app.kubernetes.io/component: worker"}}, want: "PodDisruptionBudget alsobought: selector"},
		{name: "pdb blocks every eviction", edits: []edit{{"poddisruptionbudget.yaml", "maxUnavailable: 1", "minAvailable: 2"}}, want: "blocks every eviction"},
		{name: "pdb without budget", edits: []edit{{"poddisruptionbudget.yaml", "maxUnavailable: 1\n", ""}}, want: "minAvailable or maxUnavailable"},
		{name: "servicemonitor selector", edits: []edit{{"servicemonitor.yaml", "      app.kubernetes.io/component: server", "      app.kubernetes.io/component: worker"}}, want: "ServiceMonitor alsobought: selector"},
		{name: "servicemonitor port", edits: []edit{{"servicemonitor.yaml", "- port: ops", "- port: web"}}, want: `port "web"`},
		{name: "metrics scraped on the API's port", edits: []edit{{"servicemonitor.yaml", "- port: ops", "- port: http"}}, want: "does not serve /metrics"},
		{name: "servicemonitor path", edits: []edit{{"servicemonitor.yaml", "path: /metrics", "path: /stats"}}, want: "path"},
		{name: "writable root fs", edits: []edit{{"deployment.yaml", "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false"}}, want: "readOnlyRootFilesystem"},
		{name: "root allowed", edits: []edit{{"deployment.yaml", "runAsNonRoot: true", "runAsNonRoot: false"}}, want: "runAsNonRoot"},
		{name: "file not in kustomization", add: map[string]string{"extra.yaml": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: x\n"}, want: "extra.yaml is not listed"},
		{name: "kustomization names a missing file", drop: []string{"servicemonitor.yaml"}, want: "servicemonitor.yaml, which does not exist"},
		{name: "kind missing", edits: []edit{{kustomizationFile, "  - poddisruptionbudget.yaml\n", ""}}, drop: []string{"poddisruptionbudget.yaml"}, want: "no PodDisruptionBudget"},
		{name: "kind twice", add: map[string]string{"service2.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  name: b\n"}, edits: []edit{{kustomizationFile, "  - service.yaml\n", "  - service.yaml\n  - service2.yaml\n"}}, want: "2 Service"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			files := make(map[string][]byte, len(orig))
			for name, b := range orig {
				files[name] = bytes.Clone(b)
			}
			for _, e := range tc.edits {
				b, ok := files[e.file]
				if !ok || !bytes.Contains(b, []byte(e.old)) {
					t.Fatalf("%s does not contain %q: update this test case", e.file, e.old)
				}
				files[e.file] = bytes.Replace(b, []byte(e.old), []byte(e.new), 1)
			}
			for name, body := range tc.add {
				files[name] = []byte(body)
			}
			for _, name := range tc.drop {
				delete(files, name)
			}
			problems := check(files)
			for _, p := range problems {
				if strings.Contains(p, tc.want) {
					return
				}
			}
			t.Errorf("no problem mentions %q; problems: %q", tc.want, problems)
		})
	}
}

// readManifests returns the YAML files of dir by name.
func readManifests(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, e := range entries {
		if e.Type().IsRegular() && isYAML(e.Name()) {
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			files[e.Name()] = b
		}
	}
	if len(files) == 0 {
		t.Fatalf("no YAML files in %s", dir)
	}
	return files
}

func isYAML(name string) bool {
	return strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")
}

// object is one parsed YAML document.
type object = map[string]any

// problems collects what check finds.
type problems []string

func (p *problems) add(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

// check parses the manifest files (name -> content, the kustomization
// included) and returns every problem it finds.
func check(files map[string][]byte) []string {
	var ps problems
	byKind := map[string][]object{}
	names := slices.Sorted(maps.Keys(files))
	var kustomization object
	for _, name := range names {
		docs, err := parseDocs(files[name])
		if err != nil {
			ps.add("%s: does not parse: %v", name, err)
			continue
		}
		if len(docs) == 0 {
			ps.add("%s: no document", name)
		}
		if name == kustomizationFile {
			if len(docs) == 1 {
				kustomization = docs[0]
			} else {
				ps.add("%s: want one document, got %d", name, len(docs))
			}
			continue
		}
		for i, d := range docs {
			apiVersion, kind, objName := str(d, "apiVersion"), str(d, "kind"), str(d, "metadata", "name")
			where := fmt.Sprintf("%s (document %d)", name, i+1)
			if apiVersion == "" {
				ps.add("%s: no apiVersion", where)
			}
			if kind == "" {
				ps.add("%s: no kind", where)
			}
			if objName == "" {
				ps.add("%s: no metadata.name", where)
			}
			if want, ok := apiVersions[kind]; ok && apiVersion != want {
				ps.add("%s: %s has apiVersion %q, want %s", where, kind, apiVersion, want)
			}
			byKind[kind] = append(byKind[kind], d)
		}
	}
	checkKustomization(&ps, kustomization, names)

	kinds := slices.Sorted(maps.Keys(apiVersions))
	one := map[string]object{}
	for _, kind := range kinds {
		switch n := len(byKind[kind]); n {
		case 0:
			ps.add("no %s in the manifests", kind)
		case 1:
			one[kind] = byKind[kind][0]
		default:
			ps.add("%d %s objects, want exactly one", n, kind)
		}
	}
	if len(one) != len(apiVersions) {
		return ps // the cross-checks below need one of each
	}
	checkSet(&ps, one["Deployment"], one["Service"], one["ConfigMap"], one["PodDisruptionBudget"], one["ServiceMonitor"])
	return ps
}

func parseDocs(b []byte) ([]object, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var docs []object
	for {
		var d object
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		if d != nil { // an empty document between two "---"
			docs = append(docs, d)
		}
	}
}

// checkKustomization: the kustomization lists every manifest file, and only files that exist.
func checkKustomization(ps *problems, k object, names []string) {
	if k == nil {
		ps.add("no %s", kustomizationFile)
		return
	}
	if str(k, "kind") != "Kustomization" {
		ps.add("%s: kind %q, want Kustomization", kustomizationFile, str(k, "kind"))
	}
	listed := map[string]bool{}
	for _, r := range list(k, "resources") {
		s, _ := r.(string)
		listed[s] = true
		if !slices.Contains(names, s) {
			ps.add("%s lists %s, which does not exist", kustomizationFile, s)
		}
	}
	for _, name := range names {
		if name != kustomizationFile && !listed[name] {
			ps.add("%s is not listed in the resources of %s", name, kustomizationFile)
		}
	}
}

// checkSet checks each object and how they refer to each other.
func checkSet(ps *problems, dep, svc, cm, pdb, sm object) {
	depName := "Deployment " + str(dep, "metadata", "name")
	pod := mapAt(dep, "spec", "template")
	podLabels := stringMap(mapAt(pod, "metadata", "labels"))
	podSpec := mapAt(pod, "spec")

	// Deployment.
	replicas := integer(dep, "spec", "replicas")
	if replicas < 2 {
		ps.add("%s: replicas %d, want at least 2 (one consumer group shared by several instances)", depName, replicas)
	}
	checkSelector(ps, depName, stringMap(mapAt(dep, "spec", "selector", "matchLabels")), podLabels, "its pod template's labels")
	if g := integer(podSpec, "terminationGracePeriodSeconds"); g < minGracePeriod {
		ps.add("%s: terminationGracePeriodSeconds %d, want at least %d (serve takes up to 15 s to stop)", depName, g, minGracePeriod)
	}
	if b, ok := at(podSpec, "securityContext", "runAsNonRoot").(bool); !ok || !b {
		ps.add("%s: pod securityContext.runAsNonRoot must be true", depName)
	}
	var ctr object
	for _, c := range list(podSpec, "containers") {
		c, _ := c.(object)
		for _, a := range append(list(c, "command"), list(c, "args")...) {
			if a == "serve" {
				ctr = c
			}
		}
	}
	if ctr == nil {
		ps.add(`%s: no container runs "serve" (args or command)`, depName)
		return
	}
	ctrName := fmt.Sprintf("%s container %s", depName, str(ctr, "name"))
	if str(ctr, "image") == "" {
		ps.add("%s: no image", ctrName)
	}
	ports := map[string]int{} // container port names -> numbers
	var numbers []int
	for _, p := range list(ctr, "ports") {
		p, _ := p.(object)
		n := integer(p, "containerPort")
		numbers = append(numbers, n)
		if name := str(p, "name"); name != "" {
			ports[name] = n
		}
	}
	// resolve maps a port (a number or a container port's name) to its number; 0 when unknown.
	resolve := func(v any) int {
		switch v := v.(type) {
		case int:
			if slices.Contains(numbers, v) {
				return v
			}
		case string:
			if n, err := strconv.Atoi(v); err == nil && slices.Contains(numbers, n) {
				return n
			}
			return ports[v]
		}
		return 0
	}
	httpPort := 0
	for _, probe := range []struct{ field, path string }{{"readinessProbe", "/readyz"}, {"livenessProbe", "/healthz"}} {
		get := mapAt(ctr, probe.field, "httpGet")
		if get == nil {
			ps.add("%s: no %s with httpGet", ctrName, probe.field)
			continue
		}
		if p := str(get, "path"); p != probe.path {
			ps.add("%s: %s path %q, want %s", ctrName, probe.field, p, probe.path)
		}
		n := resolve(get["port"])
		switch {
		case n == 0:
			ps.add("%s: %s port %v is not a port of the container", ctrName, probe.field, get["port"])
		case httpPort == 0:
			httpPort = n
		case n != httpPort:
			ps.add("%s: %s port %d differs from the other probe's %d", ctrName, probe.field, n, httpPort)
		}
	}
	for _, r := range []string{"requests.cpu", "requests.memory", "limits.memory"} {
		kind, res, _ := strings.Cut(r, ".")
		if str(ctr, "resources", kind, res) == "" {
			ps.add("%s: no resources.%s", ctrName, r)
		}
	}
	if b, ok := at(ctr, "securityContext", "readOnlyRootFilesystem").(bool); !ok || !b {
		ps.add("%s: securityContext.readOnlyRootFilesystem must be true", ctrName)
	}
	if b, ok := at(ctr, "securityContext", "allowPrivilegeEscalation").(bool); !ok || b {
		ps.add("%s: securityContext.allowPrivilegeEscalation must be false", ctrName)
	}

	// ConfigMap: loaded by the container, with the settings serve needs.
	cmName := str(cm, "metadata", "name")
	config := stringMap(mapAt(cm, "data"))
	loaded := false
	for _, e := range list(ctr, "envFrom") {
		e, _ := e.(object)
		if str(e, "configMapRef", "name") == cmName {
			loaded = true
		}
	}
	for _, e := range list(ctr, "env") {
		e, _ := e.(object)
		if str(e, "valueFrom", "configMapKeyRef", "name") == cmName {
			loaded = true
		}
	}
	if !loaded {
		ps.add("%s: does not load ConfigMap %s (envFrom.configMapRef or env.valueFrom.configMapKeyRef)", ctrName, cmName)
	}
	for _, key := range requiredConfig {
		if config[key] == "" {
			ps.add("ConfigMap %s: no %s", cmName, key)
		}
	}
	if m, ok := config["ALSOBOUGHT_REDIS_MODE"]; ok && m != "cluster" {
		ps.add("ConfigMap %s: ALSOBOUGHT_REDIS_MODE %q, want cluster (several instances share a Redis Cluster)", cmName, m)
	}
	for _, key := range []string{"ALSOBOUGHT_KAFKA_BROKERS", "ALSOBOUGHT_REDIS_ADDRS"} {
		if v, ok := config[key]; ok {
			for _, addr := range strings.Split(v, ",") {
				if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
					ps.add("ConfigMap %s: %s has %q, want host:port", cmName, key, addr)
				}
			}
		}
	}
	// The ports serve listens on (docs/http-api.md, "Ports"): the API's
	// (ALSOBOUGHT_HTTP_ADDR) and, when split, the operators'
	// (ALSOBOUGHT_OPS_HTTP), which then serves the probes and /metrics.
	listenPort := func(key string) int {
		v, ok := config[key]
		if !ok {
			return 0
		}
		host, port, err := net.SplitHostPort(v)
		switch {
		case err != nil:
			ps.add("ConfigMap %s: %s %q: %v", cmName, key, v, err)
			return 0
		case host == "localhost" || net.ParseIP(host) != nil && net.ParseIP(host).IsLoopback():
			ps.add("ConfigMap %s: %s %q listens on loopback: the kubelet and the Service cannot reach it", cmName, key, v)
			return 0
		}
		n := resolve(port)
		if n == 0 {
			ps.add("ConfigMap %s: %s %q: port %s is not a port of %s", cmName, key, v, port, ctrName)
		}
		return n
	}
	apiPort, opsPort := listenPort("ALSOBOUGHT_HTTP_ADDR"), listenPort("ALSOBOUGHT_OPS_HTTP")
	metricsPort, opsKey := apiPort, "ALSOBOUGHT_HTTP_ADDR"
	if _, split := config["ALSOBOUGHT_OPS_HTTP"]; split {
		metricsPort, opsKey = opsPort, "ALSOBOUGHT_OPS_HTTP"
	}
	if httpPort != 0 && metricsPort != 0 && httpPort != metricsPort {
		ps.add("ConfigMap %s: %s %q, but the probes use container port %d", cmName, opsKey, config[opsKey], httpPort)
	}

	// The API token and the passwords: files of a mounted Secret, never
	// ConfigMap values; the passwords' Secrets mounted as directories: a
	// subPath mount is never updated, so a rotated password would not
	// reach the pod (the token is read at start-up only).
	for _, secret := range []struct {
		key, what string
		rotated   bool
	}{{"ALSOBOUGHT_API_TOKEN", "token", false}, {"ALSOBOUGHT_REDIS_PASSWORD", "password", true}, {"ALSOBOUGHT_KAFKA_PASSWORD", "password", true}} {
		if _, ok := config[secret.key]; ok {
			ps.add("ConfigMap %s: %s: a %s belongs in a Secret (%s_FILE)", cmName, secret.key, secret.what, secret.key)
		}
		f, ok := config[secret.key+"_FILE"]
		switch {
		case !ok:
		case !inSecretMount(podSpec, ctr, f):
			ps.add("ConfigMap %s: %s_FILE %q is not in a mounted Secret volume of %s", cmName, secret.key, f, ctrName)
		case secret.rotated && str(mountOf(ctr, f), "subPath") != "":
			ps.add("%s: the Secret of %s_FILE is mounted with subPath, which Kubernetes never updates: mount the directory", ctrName, secret.key)
		}
	}

	// Service: selects the pods; its targetPort is the probes' port.
	svcName := "Service " + str(svc, "metadata", "name")
	checkSelector(ps, svcName, stringMap(mapAt(svc, "spec", "selector")), podLabels, depName+"'s pod labels")
	svcPorts := map[string]int{} // port names -> the container ports they target
	for _, p := range list(svc, "spec", "ports") {
		p, _ := p.(object)
		target := p["targetPort"]
		if target == nil {
			target = p["port"] // Kubernetes' default
		}
		n := resolve(target)
		if n == 0 {
			ps.add("%s: port %s has targetPort %v, which is not a port of %s", svcName, str(p, "name"), target, ctrName)
		}
		svcPorts[str(p, "name")] = n
	}
	if len(svcPorts) == 0 {
		ps.add("%s: no ports", svcName)
	}
	if apiPort != 0 && !slices.Contains(slices.Collect(maps.Values(svcPorts)), apiPort) {
		ps.add("%s: no port of %s targets the API's port %d", svcName, svcName, apiPort)
	}

	// PodDisruptionBudget: selects the pods and lets one of them go at a time.
	pdbName := "PodDisruptionBudget " + str(pdb, "metadata", "name")
	checkSelector(ps, pdbName, stringMap(mapAt(pdb, "spec", "selector", "matchLabels")), podLabels, depName+"'s pod labels")
	minAvail, hasMin := mapAt(pdb, "spec")["minAvailable"]
	maxUnavail, hasMax := mapAt(pdb, "spec")["maxUnavailable"]
	switch {
	case hasMin == hasMax:
		ps.add("%s: set exactly one of minAvailable or maxUnavailable", pdbName)
	case hasMin:
		if n, ok := minAvail.(int); ok && n >= replicas {
			ps.add("%s: minAvailable %d with %d replicas blocks every eviction", pdbName, n, replicas)
		}
	case hasMax:
		if n, ok := maxUnavail.(int); ok && n < 1 {
			ps.add("%s: maxUnavailable %d blocks every eviction", pdbName, n)
		}
	}

	// ServiceMonitor: selects the Service and scrapes one of its ports at /metrics.
	smName := "ServiceMonitor " + str(sm, "metadata", "name")
	checkSelector(ps, smName, stringMap(mapAt(sm, "spec", "selector", "matchLabels")), stringMap(mapAt(svc, "metadata", "labels")), svcName+"'s labels")
	endpoints := list(sm, "spec", "endpoints")
	if len(endpoints) == 0 {
		ps.add("%s: no endpoints", smName)
	}
	for _, e := range endpoints {
		e, _ := e.(object)
		p := str(e, "port")
		n, ok := svcPorts[p]
		switch {
		case !ok:
			ps.add("%s: endpoint port %q is not a port name of %s", smName, p, svcName)
		case n != 0 && metricsPort != 0 && n != metricsPort:
			ps.add("%s: endpoint port %q targets container port %d, which does not serve /metrics (%s does, %d)", smName, p, n, opsKey, metricsPort)
		}
		if p := str(e, "path"); p != "/metrics" {
			ps.add("%s: endpoint path %q, want /metrics", smName, p)
		}
	}
}

// inSecretMount reports whether file is inside a volume mount of ctr whose
// volume is a Secret.
func inSecretMount(podSpec, ctr object, file string) bool {
	secrets := map[string]bool{}
	for _, v := range list(podSpec, "volumes") {
		v, _ := v.(object)
		if str(v, "secret", "secretName") != "" {
			secrets[str(v, "name")] = true
		}
	}
	for _, m := range list(ctr, "volumeMounts") {
		m, _ := m.(object)
		dir := strings.TrimSuffix(str(m, "mountPath"), "/")
		if secrets[str(m, "name")] && dir != "" && strings.HasPrefix(file, dir+"/") {
			return true
		}
	}
	return false
}

// mountOf is the volume mount of ctr whose directory holds file (nil when none).
func mountOf(ctr object, file string) object {
	for _, m := range list(ctr, "volumeMounts") {
		m, _ := m.(object)
		dir := strings.TrimSuffix(str(m, "mountPath"), "/")
		if dir != "" && strings.HasPrefix(file, dir+"/") {
			return m
		}
	}
	return nil
}

// checkSelector: a non-empty selector whose every label is in labels.
func checkSelector(ps *problems, who string, selector, labels map[string]string, what string) {
	if len(selector) == 0 {
		ps.add("%s: empty selector", who)
		return
	}
	var miss []string
	for k, v := range selector {
		if labels[k] != v {
			miss = append(miss, k+"="+v)
		}
	}
	if len(miss) > 0 {
		sort.Strings(miss)
		ps.add("%s: selector %s does not match %s", who, strings.Join(miss, ","), what)
	}
}

// at returns the value at path in o (nil when absent).
func at(o object, path ...string) any {
	var v any = o
	for _, k := range path {
		m, ok := v.(object)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func mapAt(o object, path ...string) object { m, _ := at(o, path...).(object); return m }
func list(o object, path ...string) []any   { l, _ := at(o, path...).([]any); return l }

// str returns a scalar at path as a string ("" when absent or not a scalar).
func str(o object, path ...string) string {
	switch v := at(o, path...).(type) {
	case string:
		return v
	case int, float64, bool:
		return fmt.Sprint(v)
	}
	return ""
}

func integer(o object, path ...string) int { n, _ := at(o, path...).(int); return n }

func stringMap(o object) map[string]string {
	m := make(map[string]string, len(o))
	for k, v := range o {
		m[k] = fmt.Sprint(v)
	}
	return m
}
