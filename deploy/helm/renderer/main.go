// Command helm-render renders a Helm chart the way `helm template` does, without Helm: Go's text/template with
// sprig and Helm's own functions (include, tpl, required, toYaml, fromYaml, toJson, fromJson, lookup), the same
// values coalescing, .Release, .Chart, .Capabilities, .Files and .Template, and the same error messages. It exists
// because no helm binary can be installed on the machines that test the chart; it is built at test time from
// Debian's Go packages (see build.sh) and prints one JSON document for the tests to check.
//
// Usage: helm-render -chart DIR [-f values.yaml]... [-set-json '{"a":{"b":1}}'] [-release NAME]
//
//	[-namespace NS] [-kube-version v1.30.0] [-api-versions group/version,...] [-upgrade]
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
)

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// output is what the tests read: the coalesced values (for values.schema.json), every rendered template with the
// objects it holds (converted to JSON as the Kubernetes client does), NOTES.txt, and the error, if any.
type output struct {
	Values    map[string]interface{} `json:"values"`
	Manifests []manifest             `json:"manifests"`
	Notes     string                 `json:"notes"`
	Error     string                 `json:"error,omitempty"`
}

type manifest struct {
	Source  string                   `json:"source"`
	Content string                   `json:"content"`
	Objects []map[string]interface{} `json:"objects"`
}

func main() {
	var valueFiles, apiVersions stringList
	chartDir := flag.String("chart", "", "chart directory")
	flag.Var(&valueFiles, "f", "values file (repeatable, later wins)")
	setJSON := flag.String("set-json", "", "values as a JSON object, applied last")
	release := flag.String("release", "release-name", "release name")
	namespace := flag.String("namespace", "default", "release namespace")
	kubeVersion := flag.String("kube-version", "v1.30.0", "Kubernetes version for .Capabilities")
	flag.Var(&apiVersions, "api-versions", "extra API versions for .Capabilities.APIVersions (repeatable)")
	upgrade := flag.Bool("upgrade", false, "render as an upgrade (.Release.IsUpgrade)")
	flag.Parse()
	if *chartDir == "" {
		fmt.Fprintln(os.Stderr, "helm-render: -chart is required")
		os.Exit(2)
	}

	out := output{Manifests: []manifest{}}
	err := run(&out, renderOptions{
		chartDir: *chartDir, valueFiles: valueFiles, setJSON: *setJSON, release: *release,
		namespace: *namespace, kubeVersion: *kubeVersion, apiVersions: apiVersions, upgrade: *upgrade,
	})
	if err != nil {
		out.Error = "Error: " + err.Error()
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetEscapeHTML(false)
	if encErr := enc.Encode(out); encErr != nil {
		fmt.Fprintln(os.Stderr, "helm-render:", encErr)
		os.Exit(2)
	}
	if err != nil {
		os.Exit(1)
	}
}
