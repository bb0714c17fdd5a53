package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/pushagent/pushagent/internal/plugintest"
	"github.com/pushagent/pushagent/sdk"
)

var update = flag.Bool("update", false, "rewrite testdata/golden.prom from the current output")

// fixtureTime replaces the fixtures' mtimes, which git does not keep, so the
// golden file does not depend on when the repository was checked out.
var fixtureTime = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

// copyFixtures copies testdata/textfile to a temporary directory with fixed
// mtimes, leaving the checked-in files untouched.
func copyFixtures(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	entries, err := os.ReadDir("testdata/textfile")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join("testdata/textfile", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, dir, e.Name(), string(data))
	}
	return dir
}

func writeFile(t testing.TB, dir, name, content string) {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, fixtureTime, fixtureTime); err != nil {
		t.Fatal(err)
	}
}

func configFor(t testing.TB, dir string) []byte {
	t.Helper()
	b, err := json.Marshal(config{Directory: dir})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGolden(t *testing.T) {
	var logs bytes.Buffer
	got, err := sdk.Collect(configFor(t, copyFixtures(t)), &logs)
	if err != nil {
		t.Fatalf("collect: %v\nlogs:\n%s", err, logs.String())
	}
	plugintest.Golden(t, "testdata/golden.prom", got, *update)
	// Each skipped input must be visible in the log, naming the file.
	for _, want := range []string{
		`msg="skipping file" file=broken.prom err="parsing: sdk: text format: line 2: unexpected end of label value \"x\""`,
		`file=conflicts.prom metric=app_jobs_processed_total err="type GAUGE differs from COUNTER in app.prom, backup.prom"`,
		`file=conflicts.prom metric=app_last_success_timestamp_seconds err="help \"Something else.\" differs`,
		`file=conflicts.prom metric=backup_size_bytes err="series {volume=\"logs\"} is already present in backup.prom"`,
		`msg="dropped sample timestamps; the Pushgateway rejects timestamped samples" file=backup.prom metric=backup_size_bytes samples=2`,
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("logs do not contain %q:\n%s", want, logs.String())
		}
	}
}

func TestCollect(t *testing.T) {
	mtime := "# HELP node_textfile_mtime_seconds Unixtime mtime of textfiles successfully read.\n" +
		"# TYPE node_textfile_mtime_seconds gauge\n"
	scrapeError := func(v string) string {
		return "# HELP node_textfile_scrape_error 1 if there was an error opening or reading a file, 0 otherwise\n" +
			"# TYPE node_textfile_scrape_error gauge\n" +
			"node_textfile_scrape_error " + v + "\n"
	}
	mtimes := func(files ...string) string {
		s := mtime
		for _, f := range files {
			s += `node_textfile_mtime_seconds{file="` + f + `"} 1.714979289e+09` + "\n"
		}
		return s
	}
	for _, tc := range []struct {
		name    string
		files   map[string]string
		want    string
		wantLog string
	}{
		{
			name: "empty directory",
			want: scrapeError("0"),
		},
		{
			name:  "only files ending in .prom are read",
			files: map[string]string{"a.prom.tmp": "partial 1\n", "notes.txt": "x 1\n"},
			want:  scrapeError("0"),
		},
		{
			name:  "empty file counts as read",
			files: map[string]string{"empty.prom": ""},
			want:  mtime + `node_textfile_mtime_seconds{file="empty.prom"} 1.714979289e+09` + "\n" + scrapeError("0"),
		},
		{
			name:    "the plugin's own names are reserved",
			files:   map[string]string{"a.prom": "node_textfile_scrape_error 0\n"},
			want:    mtime + `node_textfile_mtime_seconds{file="a.prom"} 1.714979289e+09` + "\n" + scrapeError("1"),
			wantLog: `metric=node_textfile_scrape_error err="the name is reserved`,
		},
		{
			name:    "duplicate series within one file",
			files:   map[string]string{"a.prom": "x{a=\"1\"} 1\nx{a=\"1\"} 2\n"},
			want:    mtime + `node_textfile_mtime_seconds{file="a.prom"} 1.714979289e+09` + "\n" + scrapeError("1"),
			wantLog: `metric=x err="sdk: metric \"x\": series {a=\"1\"} added more than once"`,
		},
		{
			name:    "UTF-8 names do not fit text format 0.0.4",
			files:   map[string]string{"a.prom": "{\"my.metric\"} 1\n"},
			want:    scrapeError("1"),
			wantLog: `msg="skipping file" file=a.prom`,
		},
		{
			name:    "reserved label name",
			files:   map[string]string{"a.prom": "x{__name2__=\"v\"} 1\n"},
			want:    mtime + `node_textfile_mtime_seconds{file="a.prom"} 1.714979289e+09` + "\n" + scrapeError("1"),
			wantLog: `label name \"__name2__\" is reserved`,
		},
		{
			name:  "the default help names every file the metric came from",
			files: map[string]string{"a.prom": "x{f=\"a\"} 1\n", "b.prom": "x{f=\"b\"} 2\n"},
			want: mtimes("a.prom", "b.prom") + scrapeError("0") +
				"# HELP x Metric read from a.prom, b.prom\n# TYPE x untyped\nx{f=\"a\"} 1\nx{f=\"b\"} 2\n",
		},
		{
			name:  "a later file's help fills in",
			files: map[string]string{"a.prom": "x{f=\"a\"} 1\n", "b.prom": "# HELP x From b.\nx{f=\"b\"} 2\n"},
			want: mtimes("a.prom", "b.prom") + scrapeError("0") +
				"# HELP x From b.\n# TYPE x untyped\nx{f=\"a\"} 1\nx{f=\"b\"} 2\n",
		},
		{
			name: "a family the SDK refuses is skipped, the rest of its file and the metric of other files kept",
			files: map[string]string{
				"a.prom": "# TYPE x counter\nx -1\ny 1\n",
				"b.prom": "# TYPE x counter\nx 2\n",
			},
			want: mtimes("a.prom", "b.prom") + scrapeError("1") +
				"# HELP x Metric read from b.prom\n# TYPE x counter\nx 2\n" +
				"# HELP y Metric read from a.prom\n# TYPE y untyped\ny 1\n",
			wantLog: `file=a.prom metric=x err="sdk: metric \"x\": counter value -1 is negative"`,
		},
		{
			name: "a histogram series is one series whatever its buckets",
			files: map[string]string{
				"a.prom": "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
				"b.prom": "# TYPE h histogram\nh_bucket{le=\"2\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
			},
			want: "# HELP h Metric read from a.prom\n# TYPE h histogram\n" +
				"h_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n" +
				mtimes("a.prom", "b.prom") + scrapeError("1"),
			wantLog: `file=b.prom metric=h err="series {} is already present in a.prom"`,
		},
		{
			name: "a family whose lines cannot be told apart from a histogram's is skipped",
			files: map[string]string{
				"a.prom": "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
				"b.prom": "h_count 3\n",
			},
			want: "# HELP h Metric read from a.prom\n# TYPE h histogram\n" +
				"h_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n" +
				mtimes("a.prom", "b.prom") + scrapeError("1"),
			wantLog: `file=b.prom metric=h_count err="sdk: metric \"h_count\": its samples cannot be told apart`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tc.files {
				writeFile(t, dir, name, content)
			}
			var logs bytes.Buffer
			got, err := sdk.Collect(configFor(t, dir), &logs)
			if err != nil {
				t.Fatalf("collect: %v\nlogs:\n%s", err, logs.String())
			}
			if string(got) != tc.want {
				t.Errorf("output:\n%s\nwant:\n%s", got, tc.want)
			}
			if !strings.Contains(logs.String(), tc.wantLog) {
				t.Errorf("logs do not contain %q:\n%s", tc.wantLog, logs.String())
			}
		})
	}
}

func TestCollectFails(t *testing.T) {
	for _, tc := range []struct {
		name    string
		config  string
		wantErr string
	}{
		{"missing directory", `{"directory": "testdata/no-such-dir"}`, "reading textfile directory: open testdata/no-such-dir: no such file or directory (is it mounted?)"},
		{"default directory is not mounted natively", ``, "reading textfile directory: open /textfile"},
		{"a file is not a directory", `{"directory": "main.go"}`, "reading textfile directory"},
		{"empty directory name", `{"directory": ""}`, `"directory" must not be empty`},
		{"unknown field", `{"dir": "/textfile"}`, `unknown field "dir"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := sdk.Collect([]byte(tc.config), nil)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
			}
			if out != nil {
				t.Errorf("failed run produced output %q", out)
			}
		})
	}
}

// FuzzCollect feeds one arbitrary file to the plugin: whatever the file
// holds, the run must not panic, and what it emits must parse back.
func FuzzCollect(f *testing.F) {
	for _, name := range []string{"app.prom", "backup.prom", "conflicts.prom", "broken.prom"} {
		b, err := os.ReadFile(filepath.Join("testdata/textfile", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add("x 1 1\nx 2\n")
	f.Fuzz(func(t *testing.T, content string) {
		dir := t.TempDir()
		writeFile(t, dir, "f.prom", content)
		out, err := sdk.Collect(configFor(t, dir), nil)
		if err != nil {
			t.Fatalf("collect failed on a readable directory: %v", err)
		}
		p := expfmt.NewTextParser(model.LegacyValidation)
		if _, err := p.TextToMetricFamilies(bytes.NewReader(out)); err != nil {
			t.Fatalf("output does not parse: %v\n%s", err, out)
		}
	})
}
