//go:build ignore

// gen writes the JSON schemas that deploy_test.go validates the manifests
// against, from the OpenAPI v3 documents of a Kubernetes release (the
// k8s.io/kubernetes module holds them, under api/openapi-spec/v3; the Go
// module proxy serves it):
//
//	go mod download -json k8s.io/kubernetes@v1.33.4   # note "Dir"
//	go run gen.go -spec DIR/api/openapi-spec/v3
//
// Each kind the manifests use becomes one self-contained, strict schema,
// named as kubeconform looks schemas up ({kind}-{group}-{version}.json,
// lower case; core kinds without the group): the kind's definition and
// every one it refers to, under "definitions"; every object with
// properties refuses others (additionalProperties false), so a typo'd field
// fails; apiVersion and kind must be the kind's own. Descriptions are
// dropped, to keep the files small.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
)

// kinds are the definitions to write, by OpenAPI name.
var kinds = []string{
	"io.k8s.api.apps.v1.Deployment",
	"io.k8s.api.core.v1.Service",
	"io.k8s.api.core.v1.ConfigMap",
	"io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler",
	"io.k8s.api.policy.v1.PodDisruptionBudget",
}

var specFiles = []string{"api__v1_openapi.json", "apis__apps__v1_openapi.json",
	"apis__autoscaling__v2_openapi.json", "apis__policy__v1_openapi.json"}

const refPrefix = "#/components/schemas/"

func main() {
	spec := flag.String("spec", "", "the api/openapi-spec/v3 directory of a Kubernetes release")
	out := flag.String("out", ".", "where to write the schemas")
	release := flag.String("release", "v1.33.4", "the release, recorded in each schema's $comment")
	flag.Parse()
	defs := map[string]map[string]any{}
	for _, f := range specFiles {
		b, err := os.ReadFile(filepath.Join(*spec, f))
		if err != nil {
			log.Fatal(err)
		}
		var doc struct {
			Components struct {
				Schemas map[string]map[string]any `json:"schemas"`
			} `json:"components"`
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			log.Fatalf("%s: %v", f, err)
		}
		for k, v := range doc.Components.Schemas {
			defs[k] = v
		}
	}
	for _, kind := range kinds {
		root, ok := defs[kind]
		if !ok {
			log.Fatalf("%s: not in the spec", kind)
		}
		gvk := root["x-kubernetes-group-version-kind"].([]any)[0].(map[string]any)
		group, version, name := gvk["group"].(string), gvk["version"].(string), gvk["kind"].(string)
		apiVersion, file := version, strings.ToLower(name)+"-"+version
		if group != "" {
			apiVersion = group + "/" + version
			file = strings.ToLower(name) + "-" + strings.Split(group, ".")[0] + "-" + version
		}
		used := map[string]any{}
		var visit func(string)
		visit = func(n string) {
			if _, seen := used[n]; seen {
				return
			}
			used[n] = nil
			d, ok := defs[n]
			if !ok {
				log.Fatalf("%s: refers to %s, not in the spec", kind, n)
			}
			used[n] = strict(d, visit)
		}
		visit(kind)
		top := used[kind].(map[string]any)
		props := top["properties"].(map[string]any)
		props["apiVersion"] = map[string]any{"type": "string", "enum": []string{apiVersion}}
		props["kind"] = map[string]any{"type": "string", "enum": []string{name}}
		top["required"] = []string{"apiVersion", "kind"}
		// The kind's own definition is the root too, so that errors name
		// the manifest's fields rather than one reference.
		schema := map[string]any{
			"$comment":    fmt.Sprintf("%s %s from Kubernetes %s's OpenAPI v3 spec, by gen.go", apiVersion, name, *release),
			"definitions": used,
		}
		for k, v := range top {
			schema[k] = v
		}
		b, err := json.MarshalIndent(schema, "", " ")
		if err != nil {
			log.Fatal(err)
		}
		path := filepath.Join(*out, file+".json")
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			log.Fatal(err)
		}
		fmt.Println(path, len(used), "definitions")
	}
}

// strict copies a schema without descriptions and vendor extensions, with
// references rewritten to "definitions" (visit sees each name) and
// objects that list properties closed to any other.
func strict(v any, visit func(string)) any {
	switch x := v.(type) {
	case map[string]any:
		// {"allOf": [{"$ref": ...}], "default": ...}, how the spec gives
		// a field of a named type, is the reference alone.
		if all, ok := x["allOf"].([]any); ok && len(all) == 1 {
			if ref, ok := all[0].(map[string]any); ok && len(ref) == 1 && ref["$ref"] != nil {
				return strict(ref, visit)
			}
		}
		m := map[string]any{}
		for k, val := range x {
			switch {
			case k == "description" || strings.HasPrefix(k, "x-kubernetes-"):
				continue
			case k == "$ref":
				name := strings.TrimPrefix(val.(string), refPrefix)
				visit(name)
				m[k] = "#/definitions/" + name
			case k == "properties":
				props := map[string]any{}
				for pk, pv := range val.(map[string]any) {
					props[pk] = strict(pv, visit)
				}
				m[k] = props
			default:
				m[k] = strict(val, visit)
			}
		}
		if _, ok := m["properties"]; ok {
			if _, set := m["additionalProperties"]; !set {
				m["additionalProperties"] = false
			}
		}
		return m
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = strict(e, visit)
		}
		return out
	}
	return v
}
