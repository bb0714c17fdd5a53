package sdkcheck

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/pushagent/pushagent/sdk"
)

// collect runs fn as the host would and returns what the plugin would
// print, and the error of a failed run.
func collect(fn func(*sdk.Collection) error) ([]byte, error) {
	return sdk.CollectFunc(fn).Collect(nil, nil)
}

// hostParse is the agent's parser (agent/merge.ParseText without its
// error wrapping).
func hostParse(text []byte) (map[string]*dto.MetricFamily, error) {
	p := expfmt.NewTextParser(model.LegacyValidation)
	return p.TextToMetricFamilies(bytes.NewReader(text))
}

// hostWrite writes families as expfmt does, sorted by name, each family's
// metrics in the SDK's canonical order: the reference the SDK's bytes must
// equal.
func hostWrite(t testing.TB, fams map[string]*dto.MetricFamily) []byte {
	t.Helper()
	var buf bytes.Buffer
	for _, name := range sortedKeys(fams) {
		mf := fams[name]
		for _, m := range mf.Metric {
			slices.SortFunc(m.Label, func(a, b *dto.LabelPair) int { return strings.Compare(a.GetName(), b.GetName()) })
		}
		slices.SortStableFunc(mf.Metric, func(a, b *dto.Metric) int {
			for i := 0; i < len(a.Label) && i < len(b.Label); i++ {
				if c := strings.Compare(a.Label[i].GetName(), b.Label[i].GetName()); c != 0 {
					return c
				}
				if c := strings.Compare(a.Label[i].GetValue(), b.Label[i].GetValue()); c != 0 {
					return c
				}
			}
			return len(a.Label) - len(b.Label)
		})
		if _, err := expfmt.MetricFamilyToText(&buf, mf); err != nil {
			t.Fatalf("expfmt cannot write %s: %v", name, err)
		}
	}
	return buf.Bytes()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// flat is a family as a comparable value: name, help, type and its samples
// as text-format lines would have them, sorted, values as bit patterns (one
// NaN for all).
type flat struct {
	Name, Help, Type string
	Samples          []string
}

func (f flat) String() string {
	return fmt.Sprintf("%s (%s) %q\n  %s", f.Name, f.Type, f.Help, strings.Join(f.Samples, "\n  "))
}

func sampleKey(name string, labels []string, value float64) string {
	slices.Sort(labels)
	bits := math.Float64bits(value)
	if math.IsNaN(value) {
		bits = 0x7ff8000000000001
	}
	return fmt.Sprintf("%s{%s} %x", name, strings.Join(labels, ","), bits)
}

func labelText(name, value string) string { return name + "=" + strconv.Quote(value) }

func floatText(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// flatDTO flattens what expfmt parsed.
func flatDTO(fams map[string]*dto.MetricFamily) []flat {
	var out []flat
	for _, name := range sortedKeys(fams) {
		mf := fams[name]
		f := flat{Name: name, Help: mf.GetHelp(), Type: strings.ToLower(mf.GetType().String())}
		for _, m := range mf.Metric {
			var labels []string
			for _, l := range m.Label {
				labels = append(labels, labelText(l.GetName(), l.GetValue()))
			}
			add := func(suffix, extra string, v float64) {
				ls := slices.Clone(labels)
				if extra != "" {
					ls = append(ls, extra)
				}
				f.Samples = append(f.Samples, sampleKey(name+suffix, ls, v))
			}
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				add("", "", m.GetCounter().GetValue())
			case dto.MetricType_GAUGE:
				add("", "", m.GetGauge().GetValue())
			case dto.MetricType_UNTYPED:
				add("", "", m.GetUntyped().GetValue())
			case dto.MetricType_SUMMARY:
				s := m.GetSummary()
				for _, q := range s.GetQuantile() {
					add("", labelText("quantile", floatText(q.GetQuantile())), q.GetValue())
				}
				if s.SampleSum != nil {
					add("_sum", "", s.GetSampleSum())
				}
				if s.SampleCount != nil {
					add("_count", "", float64(s.GetSampleCount()))
				}
			case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
				h := m.GetHistogram()
				for _, b := range h.GetBucket() {
					v := b.GetCumulativeCountFloat()
					if b.CumulativeCount != nil {
						v = float64(b.GetCumulativeCount())
					}
					add("_bucket", labelText("le", floatText(b.GetUpperBound())), v)
				}
				if h.SampleSum != nil {
					add("_sum", "", h.GetSampleSum())
				}
				// expfmt makes a missing count 0 when a bucket count is a
				// float; a count of 0 is left out here, on both sides.
				if v := float64(h.GetSampleCount()) + h.GetSampleCountFloat(); v != 0 {
					add("_count", "", v)
				}
			}
		}
		slices.Sort(f.Samples)
		out = append(out, f)
	}
	return out
}

// flatSDK flattens what sdk.ParseText returned, reading its samples as
// expfmt stores them: a summary's count as a uint64, a histogram's whole
// counts as uint64s, a repeated _sum or _count of one histogram or summary
// series as the last one.
func flatSDK(fams []*sdk.Family) []flat {
	byName := map[string]flat{}
	for _, fam := range fams {
		f := flat{Name: fam.Name, Help: fam.Help, Type: fam.Type.String()}
		last := map[string]string{} // sum and count samples by name and labels
		for _, s := range fam.Samples {
			var labels []string
			for _, l := range s.Labels {
				switch {
				case l.Name == "le" && fam.Type == sdk.TypeHistogram, l.Name == "quantile" && fam.Type == sdk.TypeSummary:
					v, _ := strconv.ParseFloat(l.Value, 64)
					labels = append(labels, labelText(l.Name, floatText(v)))
				default:
					labels = append(labels, labelText(l.Name, l.Value))
				}
			}
			v := s.Value
			composite := fam.Type == sdk.TypeHistogram || fam.Type == sdk.TypeSummary
			isCount := composite && s.Name == fam.Name+"_count"
			switch {
			case isCount && fam.Type == sdk.TypeSummary:
				v = float64(uint64(v))
			case fam.Type == sdk.TypeHistogram && s.Name != fam.Name+"_sum" && float64(uint64(v)) == v:
				v = float64(uint64(v)) // -0 is stored as the count 0
			}
			if fam.Type == sdk.TypeHistogram && isCount && v == 0 {
				continue // see flatDTO
			}
			key := sampleKey(s.Name, labels, v)
			if composite && (isCount || s.Name == fam.Name+"_sum") {
				k := s.Name + "{" + strings.Join(labels, ",") + "}"
				last[k] = key
				continue
			}
			f.Samples = append(f.Samples, key)
		}
		for _, k := range sortedKeys(last) {
			f.Samples = append(f.Samples, last[k])
		}
		slices.Sort(f.Samples)
		byName[f.Name] = f
	}
	var out []flat
	for _, name := range sortedKeys(byName) {
		out = append(out, byName[name])
	}
	return out
}

func diffFlat(t testing.TB, what string, got, want []flat) {
	t.Helper()
	if len(got) == len(want) {
		same := true
		for i := range got {
			if got[i].String() != want[i].String() {
				same = false
			}
		}
		if same {
			return
		}
	}
	var g, w []string
	for _, f := range got {
		g = append(g, f.String())
	}
	for _, f := range want {
		w = append(w, f.String())
	}
	t.Fatalf("%s differ:\ngot:\n%s\nwant:\n%s", what, strings.Join(g, "\n"), strings.Join(w, "\n"))
}

// testdataProm lists the exposition files of the plugins' and the merge
// package's tests: the seeds of the fuzzers and the cases of the golden
// round trip.
func testdataProm(t testing.TB) []string {
	t.Helper()
	var files []string
	for _, pattern := range []string{"../../plugins/*/testdata/*.prom", "../../plugins/*/testdata/*/*.prom", "../../agent/merge/testdata/*.prom", "../../examples/textfile/*.prom"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) == 0 {
		t.Fatal("no testdata .prom files found")
	}
	return files
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
