package agent

import (
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/pushagent/pushagent/agent/config"
	"github.com/pushagent/pushagent/agent/wasmhost"
)

// MountNotes says, for each mount of a wasm collector that grants more
// than files (a procfs, a sysfs, a cgroup filesystem, a directory holding
// a procfs), what the plugin can read through it: a plugin runs in the
// agent's process, and whoever grants /proc or /sys should know what that
// reaches and what the sandbox hides.
func MountNotes(cfg *config.Config) []string {
	var out []string
	for _, j := range cfg.Jobs {
		for _, c := range j.Collectors {
			if c.HTTP != nil {
				continue
			}
			for _, guest := range sortedMountKeys(c.Mounts) {
				host := c.Mounts[guest]
				if d := wasmhost.DescribeMount(host); d != "" {
					out = append(out, fmt.Sprintf("job %q collector %q: mount %s (host %s) is %s", j.Name, c.Name, guest, host, d))
				}
			}
		}
	}
	return out
}

func sortedMountKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// MountWarnings lists the absolute paths in wasm collectors' configs that
// none of the collector's mounts grants: a plugin told to read /proc with
// no /proc mount fails at run time in its runtime's jargon ("Bad file
// number", "Capabilities insufficient"), so validate says it first. Any
// string of the config that looks like an absolute file path counts; a
// config may use one for something else, hence a warning, not an error.
func MountWarnings(cfg *config.Config) []string {
	var out []string
	for _, j := range cfg.Jobs {
		for _, c := range j.Collectors {
			if c.HTTP != nil || len(c.Config) == 0 {
				continue
			}
			var v any
			if json.Unmarshal(c.Config, &v) != nil {
				continue
			}
			guests := make([]string, 0, len(c.Mounts))
			for g := range c.Mounts {
				guests = append(guests, g)
			}
			sort.Strings(guests)
			have := "the collector has no mounts"
			if len(guests) > 0 {
				have = "its mounts grant only " + strings.Join(guests, ", ")
			}
			walkStrings(v, "config", func(key, s string) {
				if !looksLikePath(s) || slices.ContainsFunc(guests, func(g string) bool { return under(s, g) }) {
					return
				}
				fix := fmt.Sprintf("add mounts: {%s: /host/dir}", path.Clean(s))
				if namesFile(key, s) {
					fix = fmt.Sprintf("add mounts: {%s: /host/dir}, the directory that holds it (a mount maps a directory)", path.Dir(path.Clean(s)))
				}
				out = append(out, fmt.Sprintf("job %q collector %q: %s is %q, a path no mount grants (%s): the plugin cannot open it; %s",
					j.Name, c.Name, key, s, have, fix))
			})
		}
	}
	return out
}

// walkStrings calls fn for every string in v, a decoded JSON value, with
// its path (config.dir, config.files[0]).
func walkStrings(v any, key string, fn func(key, s string)) {
	switch v := v.(type) {
	case string:
		fn(key, v)
	case []any:
		for i, e := range v {
			walkStrings(e, fmt.Sprintf("%s[%d]", key, i), fn)
		}
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			walkStrings(v[k], key+"."+k, fn)
		}
	}
}

// namesFile guesses whether s, the string at key of a collector's config,
// names a file rather than a directory: by the key's name (file, files,
// script_file; dir, directory) and else by an extension. A mount maps a
// directory, so a file's hint names the directory holding it.
func namesFile(key, s string) bool {
	k := strings.ToLower(key[strings.LastIndex(key, ".")+1:])
	if i := strings.IndexByte(k, '['); i >= 0 {
		k = k[:i]
	}
	switch {
	case strings.HasSuffix(k, "dir"), strings.HasSuffix(k, "dirs"), strings.HasSuffix(k, "directory"), strings.HasSuffix(k, "directories"):
		return false
	case strings.HasSuffix(k, "file"), strings.HasSuffix(k, "files"):
		return true
	}
	return path.Ext(s) != ""
}

// looksLikePath is an absolute, clean-enough file path: a leading slash,
// no spaces, no URL or query syntax.
func looksLikePath(s string) bool {
	return len(s) > 1 && s[0] == '/' && !strings.HasPrefix(s, "//") && !strings.ContainsAny(s, " \t\n?#$*")
}

// under reports whether p is guest or inside it.
func under(p, guest string) bool {
	p, guest = path.Clean(p), path.Clean(guest)
	return p == guest || guest == "/" || strings.HasPrefix(p, guest+"/")
}
