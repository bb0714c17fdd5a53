package config

import (
	"errors"
	"strings"
	"testing"
)

func TestExpand(t *testing.T) {
	opts := Options{
		Environ: func() []string {
			return []string{"A=a", "B=b", "EMPTY=", "DUP=first", "DUP=second", "=ignored", "NOEQUALS"}
		},
		Hostname: func() (string, error) { return "host-1", nil },
	}
	cases := []struct {
		in, want string
		problem  string // "" when none
	}{
		{in: "plain", want: "plain"},
		{in: "${A}", want: "a"},
		{in: "x${A}y${B}z", want: "xaybz"},
		{in: "${EMPTY}", want: ""},
		{in: "${DUP}", want: "first"},
		{in: "${A:-d}", want: "a"},
		{in: "${UNSET:-d}", want: "d"},
		{in: "${EMPTY:-d}", want: "d"},
		{in: "${UNSET:-}", want: ""},
		{in: "${UNSET:-${B}}", want: "b"},
		{in: "${UNSET:-${ALSO_UNSET:-deep}}", want: "deep"},
		{in: "${A:-${UNSET}}", want: "a"}, // an unused default is not expanded
		{in: "${UNSET:-a $$ b}", want: "a $ b"},
		{in: "$$", want: "$"},
		{in: "$${A}", want: "${A}"},
		{in: "$$$${A}", want: "$${A}"},
		{in: "$$$$${A}", want: "$$a"},
		{in: "cost: 5$", want: "cost: 5$"},
		{in: "$5 and $ and $-", want: "$5 and $ and $-"},
		{in: "${HOSTNAME}", want: "host-1"},
		{in: "${UNSET}", want: "${UNSET}", problem: "environment variable UNSET is not set; set it, or give a default with ${UNSET:-value}"},
		{in: "${A:-${UNSET}}x${UNSET}", want: "${A:-${UNSET}}x${UNSET}", problem: "environment variable UNSET is not set; set it, or give a default with ${UNSET:-value}"},
		{in: "$HOME", want: "$HOME", problem: "has a $ followed by a name at character 1; write ${NAME} to expand an environment variable, or $$ for a literal $"},
		{in: "${1A}", want: "${1A}", problem: "has an invalid ${…} at character 1; write ${NAME} or ${NAME:-default}, where NAME is letters, digits and _, or $$ for a literal $"},
		{in: "ab${}", want: "ab${}", problem: "has an invalid ${…} at character 3; write ${NAME} or ${NAME:-default}, where NAME is letters, digits and _, or $$ for a literal $"},
		{in: "${A", want: "${A", problem: "has an invalid ${…} at character 1; write ${NAME} or ${NAME:-default}, or $$ for a literal $"},
		{in: "${A-x}", want: "${A-x}", problem: "has an invalid ${…} at character 1; write ${NAME} or ${NAME:-default}, or $$ for a literal $"},
		{in: "${A:-x", want: "${A:-x", problem: "has an unterminated ${NAME:-default}; add the closing }"},
	}
	for _, tc := range cases {
		l := &loader{env: newEnv(opts)}
		got := l.expand("p", tc.in)
		if got != tc.want && tc.problem == "" {
			t.Errorf("expand(%q) = %q, want %q", tc.in, got, tc.want)
		}
		var msgs []string
		for _, p := range l.problems {
			msgs = append(msgs, p.Message)
		}
		if strings.Join(msgs, "\n") != tc.problem {
			t.Errorf("expand(%q) problems = %q, want %q", tc.in, msgs, tc.problem)
		}
	}
}

func TestExpandHostname(t *testing.T) {
	opts := Options{Environ: func() []string { return []string{"HOSTNAME=from-env"} }}
	l := &loader{env: newEnv(opts)}
	if got := l.expand("p", "${HOSTNAME}"); got != "from-env" || len(l.problems) > 0 {
		t.Errorf("HOSTNAME from env = %q %v", got, l.problems)
	}

	calls := 0
	opts = Options{
		Environ:  func() []string { return []string{"HOSTNAME="} },
		Hostname: func() (string, error) { calls++; return "", errors.New("no uts") },
	}
	l = &loader{env: newEnv(opts)}
	if got := l.expand("p", "${HOSTNAME:-fallback}"); got != "fallback" || len(l.problems) > 0 {
		t.Errorf("HOSTNAME default = %q %v", got, l.problems)
	}
	l.expand("q", "${HOSTNAME}")
	want := "q: environment variable HOSTNAME is not set and the host name is unknown (no uts); set HOSTNAME, or give a default with ${HOSTNAME:-value}"
	if len(l.problems) != 1 || l.problems[0].String() != want {
		t.Errorf("problems = %v, want %s", l.problems, want)
	}
	if calls != 1 {
		t.Errorf("Hostname called %d times, want 1", calls)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]uint64{
		"0": 0, "65536": 65536, "64KiB": 64 << 10, "32MiB": 32 << 20, "32 MiB": 32 << 20,
		"4GiB": 4 << 30, "1KB": 1000, "1MB": 1e6, "2GB": 2e9, "10B": 10,
	} {
		if got, ok := parseSize(in); !ok || got != want {
			t.Errorf("parseSize(%q) = %d, %t; want %d", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "MiB", "1.5GiB", "-1", "1mib", "1 TiB", "99999999999999999999", "18446744073709551615GiB"} {
		if got, ok := parseSize(in); ok {
			t.Errorf("parseSize(%q) = %d, want error", in, got)
		}
	}
}

func TestKeyPath(t *testing.T) {
	for _, tc := range []struct{ parent, key, want string }{
		{"", "jobs", "jobs"},
		{"gateway", "basic_auth", "gateway.basic_auth"},
		{"m", "/etc/app.d", `m["/etc/app.d"]`},
		{"c", "a.b", `c["a.b"]`},
		{"c", "", `c[""]`},
		{"c", "kebab-case", "c.kebab-case"},
	} {
		if got := keyPath(tc.parent, tc.key); got != tc.want {
			t.Errorf("keyPath(%q, %q) = %q, want %q", tc.parent, tc.key, got, tc.want)
		}
	}
}

func TestNaturalCompare(t *testing.T) {
	ordered := []string{"", "a", "jobs[2]", "jobs[2].name", "jobs[10]", "jobs[010].x", "jobs[11]"}
	for i := 1; i < len(ordered); i++ {
		if naturalCompare(ordered[i-1], ordered[i]) >= 0 || naturalCompare(ordered[i], ordered[i-1]) <= 0 {
			t.Errorf("want %q < %q", ordered[i-1], ordered[i])
		}
	}
}
