package main

import (
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"

	semver "github.com/Masterminds/semver/v3"
	"sigs.k8s.io/yaml"
)

type renderOptions struct {
	chartDir, setJSON, release, namespace, kubeVersion string
	valueFiles, apiVersions                            []string
	upgrade                                            bool
}

// KubeVersion mirrors chartutil.KubeVersion (.Capabilities.KubeVersion.Version, .Major, .Minor, .GitVersion).
type KubeVersion struct{ Version, Major, Minor string }

func (k KubeVersion) String() string     { return k.Version }
func (k KubeVersion) GitVersion() string { return k.Version }

// VersionSet mirrors chartutil.VersionSet (.Capabilities.APIVersions.Has "group/version").
type VersionSet []string

func (v VersionSet) Has(apiVersion string) bool {
	for _, x := range v {
		if x == apiVersion {
			return true
		}
	}
	return false
}

// The built-in API versions of a v1.30 cluster that charts commonly test for.
var defaultAPIVersions = []string{
	"v1", "apps/v1", "batch/v1", "policy/v1", "autoscaling/v1", "autoscaling/v2", "networking.k8s.io/v1",
	"rbac.authorization.k8s.io/v1", "coordination.k8s.io/v1", "discovery.k8s.io/v1", "storage.k8s.io/v1",
	"admissionregistration.k8s.io/v1", "apiextensions.k8s.io/v1", "scheduling.k8s.io/v1", "node.k8s.io/v1",
	"certificates.k8s.io/v1", "events.k8s.io/v1", "flowcontrol.apiserver.k8s.io/v1",
}

var kubeVersionPattern = regexp.MustCompile(`^v?(\d+)\.(\d+)\.(\d+)`)

var manifestSeparator = regexp.MustCompile(`(?:^|\s*\n)---\s*`)

func run(out *output, o renderOptions) error {
	c, err := loadChart(o.chartDir)
	if err != nil {
		return err
	}
	values := deepCopy(c.values)
	for _, f := range o.valueFiles {
		user, err := readYAMLMap(f)
		if err != nil {
			return err
		}
		values = coalesce(values, deepCopy(user))
	}
	if o.setJSON != "" {
		user := map[string]interface{}{}
		if err := json.Unmarshal([]byte(o.setJSON), &user); err != nil {
			return fmt.Errorf("failed parsing -set-json: %w", err)
		}
		values = coalesce(values, user)
	}
	out.Values = values
	if err := checkDependencies(o.chartDir, c.metadata, values); err != nil {
		return err
	}

	m := kubeVersionPattern.FindStringSubmatch(o.kubeVersion)
	if m == nil {
		return fmt.Errorf("invalid kube version %q", o.kubeVersion)
	}
	kube := "v" + m[1] + "." + m[2] + "." + m[3]
	if c.metadata.KubeVersion != "" {
		constraint, err := semver.NewConstraint(c.metadata.KubeVersion)
		if err != nil {
			return fmt.Errorf("invalid kubeVersion %q in Chart.yaml: %w", c.metadata.KubeVersion, err)
		}
		if !constraint.Check(semver.MustParse(kube)) {
			return fmt.Errorf("chart requires kubeVersion: %s which is incompatible with Kubernetes %s", c.metadata.KubeVersion, kube)
		}
	}
	top := map[string]interface{}{
		"Values": values,
		"Chart":  c.metadata,
		"Files":  c.files,
		"Release": map[string]interface{}{
			"Name": o.release, "Namespace": o.namespace, "IsUpgrade": o.upgrade, "IsInstall": !o.upgrade,
			"Revision": 1, "Service": "Helm",
		},
		"Capabilities": map[string]interface{}{
			"KubeVersion": KubeVersion{Version: kube, Major: m[1], Minor: m[2]},
			"APIVersions": VersionSet(append(append([]string{}, defaultAPIVersions...), o.apiVersions...)),
			"HelmVersion": map[string]interface{}{"Version": "v3.16.0", "GoVersion": "go1.22"},
		},
	}
	e := &engine{chartName: c.metadata.Name, templates: map[string]string{}}
	for name, src := range c.templates {
		e.templates[path.Join(c.metadata.Name, name)] = src
	}
	rendered, err := e.render(top)
	if err != nil {
		return err
	}

	names := make([]string, 0, len(rendered))
	for name := range rendered {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if strings.HasSuffix(name, "/NOTES.txt") {
			if name == c.metadata.Name+"/templates/NOTES.txt" {
				out.Notes = rendered[name]
			}
			continue
		}
		mf, err := parseManifest(name, rendered[name])
		if err != nil {
			return err
		}
		if mf != nil {
			out.Manifests = append(out.Manifests, *mf)
		}
	}
	return nil
}

// parseManifest splits a rendered template into YAML documents and converts each to JSON with sigs.k8s.io/yaml,
// as Helm and the Kubernetes client do; empty documents are dropped.
func parseManifest(name, content string) (*manifest, error) {
	if strings.TrimSpace(content) == "" {
		return nil, nil
	}
	mf := &manifest{Source: name, Content: content, Objects: []map[string]interface{}{}}
	for _, doc := range manifestSeparator.Split(content, -1) {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		j, err := yaml.YAMLToJSON([]byte(doc))
		if err != nil {
			return nil, fmt.Errorf("YAML parse error on %s: %w", name, err)
		}
		if string(j) == "null" {
			continue
		}
		obj := map[string]interface{}{}
		if err := json.Unmarshal(j, &obj); err != nil {
			return nil, fmt.Errorf("YAML parse error on %s: %w", name, err)
		}
		mf.Objects = append(mf.Objects, obj)
	}
	return mf, nil
}
