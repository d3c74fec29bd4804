package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"
	"text/template"

	sprig "github.com/Masterminds/sprig/v3"
	"sigs.k8s.io/yaml"
)

// engine renders a chart's templates as Helm's pkg/engine does (missingkey=zero, "<no value>" removed, partials
// not rendered, include/tpl/required late-bound, errors cleaned up the same way).
type engine struct {
	chartName string
	templates map[string]string // full name ("<chart>/templates/x.yaml") -> source
}

const warnStart, warnEnd = "HELM_ERR_START", "HELM_ERR_END"

var warnRegex = regexp.MustCompile(warnStart + `((?s).*)` + warnEnd)

func toYAML(v interface{}) string {
	data, err := yaml.Marshal(v)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(data), "\n")
}

func fromYAML(str string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := yaml.Unmarshal([]byte(str), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

func fromYAMLArray(str string) []interface{} {
	a := []interface{}{}
	if err := yaml.Unmarshal([]byte(str), &a); err != nil {
		a = []interface{}{err.Error()}
	}
	return a
}

func toJSON(v interface{}) string {
	data, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(data)
}

func fromJSON(str string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := json.Unmarshal([]byte(str), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

// newTemplateSet parses every chart template (plus `extra`) into one set whose include/tpl close over it.
func (e *engine) newTemplateSet(extra map[string]string) (*template.Template, error) {
	t := template.New("gotpl").Option("missingkey=zero")
	included := map[string]int{}
	funcs := sprig.TxtFuncMap()
	delete(funcs, "env")
	delete(funcs, "expandenv")
	helmFuncs := template.FuncMap{
		"toYaml": toYAML, "fromYaml": fromYAML, "fromYamlArray": fromYAMLArray,
		"toJson": toJSON, "fromJson": fromJSON,
		"mustToYaml": func(v interface{}) (string, error) {
			b, err := yaml.Marshal(v)
			return strings.TrimSuffix(string(b), "\n"), err
		},
		"mustToJson": func(v interface{}) (string, error) { b, err := json.Marshal(v); return string(b), err },
		"toToml":     func(interface{}) (string, error) { return "", errors.New("toToml is not supported by helm-render") },
		// `helm template` has no cluster: lookup finds nothing.
		"lookup": func(string, string, string, string) (map[string]interface{}, error) {
			return map[string]interface{}{}, nil
		},
		"include": func(name string, data interface{}) (string, error) {
			if included[name] > 1000 {
				return "", fmt.Errorf("rendering template has a nested reference name: %s: unable to execute template", name)
			}
			included[name]++
			defer func() { included[name]-- }()
			var buf strings.Builder
			err := t.ExecuteTemplate(&buf, name, data)
			return buf.String(), err
		},
		"tpl": func(text string, vals map[string]interface{}) (string, error) {
			tmpl, _ := vals["Template"].(map[string]interface{})
			name, _ := tmpl["Name"].(string)
			if name == "" {
				return "", fmt.Errorf("cannot retrieve Template.Name from values inside tpl function: %s", text)
			}
			set, err := e.newTemplateSet(map[string]string{name: text})
			if err != nil {
				return "", fmt.Errorf("error during tpl function execution for %q: %w", text, err)
			}
			var buf strings.Builder
			if err := set.ExecuteTemplate(&buf, name, vals); err != nil {
				return "", fmt.Errorf("error during tpl function execution for %q: %w", text, err)
			}
			return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
		},
		"required": func(warn string, val interface{}) (interface{}, error) {
			if s, isString := val.(string); val == nil || (isString && s == "") {
				return val, errors.New(warnStart + warn + warnEnd)
			}
			return val, nil
		},
	}
	for k, v := range helmFuncs {
		funcs[k] = v
	}
	t.Funcs(funcs)

	sources := map[string]string{}
	for k, v := range e.templates {
		sources[k] = v
	}
	for k, v := range extra {
		sources[k] = v
	}
	for _, name := range sortByDepth(sources) {
		if _, err := t.New(name).Parse(sources[name]); err != nil {
			return nil, cleanupParseError(name, err)
		}
	}
	return t, nil
}

// render executes every non-partial template with `top` (Values, Release, Chart, Capabilities, Files) and the
// per-template .Template, returning name -> rendered text.
func (e *engine) render(top map[string]interface{}) (map[string]string, error) {
	t, err := e.newTemplateSet(nil)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, name := range sortByDepth(e.templates) {
		if strings.HasPrefix(path.Base(name), "_") {
			continue
		}
		vals := map[string]interface{}{}
		for k, v := range top {
			vals[k] = v
		}
		vals["Template"] = map[string]interface{}{"Name": name, "BasePath": e.chartName + "/templates"}
		var buf strings.Builder
		if err := t.ExecuteTemplate(&buf, name, vals); err != nil {
			return nil, cleanupExecError(name, err)
		}
		out[name] = strings.ReplaceAll(buf.String(), "<no value>", "")
	}
	return out, nil
}

// sortByDepth orders names by path depth, deepest first, then by name (Helm's parse order).
func sortByDepth(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		ci, cj := strings.Count(keys[i], "/"), strings.Count(keys[j], "/")
		if ci != cj {
			return ci > cj
		}
		return keys[i] > keys[j]
	})
	return keys
}

func cleanupParseError(name string, err error) error {
	tokens := strings.Split(err.Error(), ": ")
	if len(tokens) == 1 {
		return fmt.Errorf("parse error in (%s): %s", name, err)
	}
	return fmt.Errorf("parse error at (%s): %s", tokens[1], tokens[len(tokens)-1])
}

func cleanupExecError(name string, err error) error {
	var execErr template.ExecError
	if !errors.As(err, &execErr) {
		return err
	}
	tokens := strings.SplitN(err.Error(), ": ", 3)
	if len(tokens) != 3 {
		return fmt.Errorf("execution error in (%s): %s", name, err)
	}
	if parts := warnRegex.FindStringSubmatch(tokens[2]); len(parts) >= 2 {
		return fmt.Errorf("execution error at (%s): %s", tokens[1], parts[1])
	}
	return err
}
