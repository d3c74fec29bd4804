package main

import (
	"bufio"
	"encoding/base64"
	"errors"
	"os"
	"path"
	"regexp"
	"strings"
)

// files is .Files: the chart's non-template files, with the methods Helm gives templates.
type files map[string][]byte

func (f files) GetBytes(name string) []byte { return f[name] }
func (f files) Get(name string) string      { return string(f[name]) }

func (f files) Glob(pattern string) files {
	re := globRegexp(pattern)
	out := files{}
	for name, data := range f {
		if re.MatchString(name) {
			out[name] = data
		}
	}
	return out
}

func (f files) AsConfig() (string, error) {
	if len(f) == 0 {
		return "", errors.New("must pass files")
	}
	m := map[string]string{}
	for k, v := range f {
		m[path.Base(k)] = string(v)
	}
	return toYAML(m), nil
}

func (f files) AsSecrets() (string, error) {
	if len(f) == 0 {
		return "", errors.New("must pass files")
	}
	m := map[string]string{}
	for k, v := range f {
		m[path.Base(k)] = base64.StdEncoding.EncodeToString(v)
	}
	return toYAML(m), nil
}

func (f files) Lines(name string) ([]string, error) {
	if f[name] == nil {
		return nil, errors.New("must pass files")
	}
	return strings.Split(string(f[name]), "\n"), nil
}

// globRegexp compiles a glob with '/' as separator: `*` and `?` stay within a path segment, `**` crosses them.
func globRegexp(pattern string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(pattern); i++ {
		switch c := pattern[i]; c {
		case '*':
			if i+1 < len(pattern) && pattern[i+1] == '*' {
				b.WriteString(".*")
				i++
			} else {
				b.WriteString("[^/]*")
			}
		case '?':
			b.WriteString("[^/]")
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

// helmignore holds the rules of a .helmignore (gitignore-like: globs, `dir/` for directories, `!` negation is
// not supported and rejected, as Helm does).
type helmignore struct{ rules []ignoreRule }

type ignoreRule struct {
	re      *regexp.Regexp
	dirOnly bool
	base    bool // no slash in the pattern: match against the base name
}

func loadHelmignore(file string) (*helmignore, error) {
	h := &helmignore{}
	fh, err := os.Open(file)
	if errors.Is(err, os.ErrNotExist) {
		return h, nil
	} else if err != nil {
		return nil, err
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "!") {
			return nil, errors.New(".helmignore: negation is not supported")
		}
		r := ignoreRule{}
		if strings.HasSuffix(line, "/") {
			r.dirOnly = true
			line = strings.TrimSuffix(line, "/")
		}
		line = strings.TrimPrefix(line, "/")
		r.base = !strings.Contains(line, "/")
		r.re = globRegexp(line)
		h.rules = append(h.rules, r)
	}
	return h, sc.Err()
}

func (h *helmignore) ignored(rel string, isDir bool) bool {
	for _, r := range h.rules {
		if r.dirOnly && !isDir {
			continue
		}
		name := rel
		if r.base {
			name = path.Base(rel)
		}
		if r.re.MatchString(name) {
			return true
		}
	}
	return false
}
