package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// Metadata mirrors Helm's chart.Metadata, so templates read .Chart.Name, .Chart.AppVersion and so on.
type Metadata struct {
	Name         string            `json:"name"`
	Home         string            `json:"home,omitempty"`
	Sources      []string          `json:"sources,omitempty"`
	Version      string            `json:"version"`
	Description  string            `json:"description,omitempty"`
	Keywords     []string          `json:"keywords,omitempty"`
	Maintainers  []interface{}     `json:"maintainers,omitempty"`
	Icon         string            `json:"icon,omitempty"`
	APIVersion   string            `json:"apiVersion"`
	Condition    string            `json:"condition,omitempty"`
	Tags         string            `json:"tags,omitempty"`
	AppVersion   string            `json:"appVersion,omitempty"`
	Deprecated   bool              `json:"deprecated,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	KubeVersion  string            `json:"kubeVersion,omitempty"`
	Dependencies []*Dependency     `json:"dependencies,omitempty"`
	Type         string            `json:"type,omitempty"`
}

// Dependency mirrors the fields of Helm's chart.Dependency that rendering uses.
type Dependency struct {
	Name       string   `json:"name"`
	Version    string   `json:"version,omitempty"`
	Repository string   `json:"repository"`
	Condition  string   `json:"condition,omitempty"`
	Tags       []string `json:"tags,omitempty"`
	Enabled    bool     `json:"enabled,omitempty"`
	Alias      string   `json:"alias,omitempty"`
}

type chartFiles struct {
	metadata  *Metadata
	values    map[string]interface{}
	templates map[string]string // "templates/x.yaml" -> source
	files     files             // every other file, as .Files sees it
}

func readYAMLMap(path string) (map[string]interface{}, error) {
	m := map[string]interface{}{}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if err := yaml.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("failed to parse %s: %w", path, err)
	}
	return m, nil
}

func loadChart(dir string) (*chartFiles, error) {
	c := &chartFiles{templates: map[string]string{}, files: files{}}
	raw, err := os.ReadFile(filepath.Join(dir, "Chart.yaml"))
	if err != nil {
		return nil, fmt.Errorf("Chart.yaml file is missing: %w", err)
	}
	c.metadata = &Metadata{}
	if err := yaml.Unmarshal(raw, c.metadata); err != nil {
		return nil, fmt.Errorf("cannot load Chart.yaml: %w", err)
	}
	if c.metadata.APIVersion != "v2" || c.metadata.Name == "" || c.metadata.Version == "" {
		return nil, fmt.Errorf("validation: chart.metadata apiVersion v2, name and version are required")
	}
	if c.values, err = readYAMLMap(filepath.Join(dir, "values.yaml")); err != nil {
		return nil, err
	}
	ignore, err := loadHelmignore(filepath.Join(dir, ".helmignore"))
	if err != nil {
		return nil, err
	}
	err = filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		rel = filepath.ToSlash(rel)
		if rel == "." {
			return nil
		}
		if ignore.ignored(rel, info.IsDir()) {
			if info.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if info.IsDir() {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		switch {
		case strings.HasPrefix(rel, "templates/"):
			c.templates[rel] = string(data)
		case rel == "Chart.yaml" || rel == "values.yaml" || rel == "values.schema.json" || strings.HasPrefix(rel, "charts/"):
		default:
			c.files[rel] = data
		}
		return nil
	})
	return c, err
}

// coalesce merges user values over chart defaults as Helm does: maps merge key by key, anything else is replaced,
// and a null in the user's values removes the default.
func coalesce(dst, src map[string]interface{}) map[string]interface{} {
	for k, v := range src {
		if v == nil {
			delete(dst, k)
			continue
		}
		srcMap, srcIsMap := v.(map[string]interface{})
		dstMap, dstIsMap := dst[k].(map[string]interface{})
		if srcIsMap && dstIsMap {
			dst[k] = coalesce(dstMap, srcMap)
		} else {
			dst[k] = v
		}
	}
	return dst
}

// deepCopy round-trips through JSON, which is how the values reach templates anyway (numbers stay float64, as
// sigs.k8s.io/yaml makes them).
func deepCopy(m map[string]interface{}) map[string]interface{} {
	b, _ := json.Marshal(m)
	out := map[string]interface{}{}
	_ = json.Unmarshal(b, &out)
	return out
}

// checkDependencies does what `helm template` does with dependencies whose condition is true: they must be
// present in charts/ (so `helm dependency build` must have run). Disabled ones are ignored.
func checkDependencies(dir string, md *Metadata, values map[string]interface{}) error {
	var missing []string
	for _, d := range md.Dependencies {
		enabled := true
		if d.Condition != "" {
			for _, cond := range strings.Split(d.Condition, ",") {
				if v, ok := pathValue(values, strings.TrimSpace(cond)); ok {
					b, isBool := v.(bool)
					enabled = isBool && b
					break
				}
			}
		}
		if !enabled {
			continue
		}
		matches, _ := filepath.Glob(filepath.Join(dir, "charts", d.Name+"-*.tgz"))
		if _, err := os.Stat(filepath.Join(dir, "charts", d.Name)); err != nil && len(matches) == 0 {
			missing = append(missing, d.Name)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return fmt.Errorf("found in Chart.yaml, but missing in charts/ directory: %s", strings.Join(missing, ", "))
	}
	return nil
}

func pathValue(m map[string]interface{}, path string) (interface{}, bool) {
	parts := strings.Split(path, ".")
	var cur interface{} = m
	for _, p := range parts {
		mm, ok := cur.(map[string]interface{})
		if !ok {
			return nil, false
		}
		if cur, ok = mm[p]; !ok {
			return nil, false
		}
	}
	return cur, true
}
