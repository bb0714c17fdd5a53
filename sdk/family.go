package sdk

import "strconv"

// Type is the type of a metric family, as a TYPE line of the text format
// names it. The zero value is TypeUntyped, which is also what the text
// format assumes for a family without a TYPE line.
type Type uint8

// The types that text format 0.0.4 can carry.
const (
	TypeUntyped Type = iota
	TypeCounter
	TypeGauge
	TypeHistogram
	TypeSummary
)

// String returns the type as a TYPE line spells it: "counter", "gauge", …
func (t Type) String() string {
	switch t {
	case TypeUntyped:
		return "untyped"
	case TypeCounter:
		return "counter"
	case TypeGauge:
		return "gauge"
	case TypeHistogram:
		return "histogram"
	case TypeSummary:
		return "summary"
	}
	return "Type(" + strconv.Itoa(int(t)) + ")"
}

// upper is the type as the SDK's error messages have always named it
// (COUNTER, GAUGE, …), kept so that messages plugins match on stay stable.
func (t Type) upper() string {
	switch t {
	case TypeUntyped:
		return "UNTYPED"
	case TypeCounter:
		return "COUNTER"
	case TypeGauge:
		return "GAUGE"
	case TypeHistogram:
		return "HISTOGRAM"
	case TypeSummary:
		return "SUMMARY"
	}
	return t.String()
}

func (t Type) valid() bool { return t <= TypeSummary }

// Family is a metric family as the text format writes it: a name, a help
// text, a type and the sample lines. ParseText returns families; a plugin
// may filter, relabel or merge them and hand them to Collection.AddFamily.
//
// The samples are flat, one per line of text, so that relabeling is a loop
// over Samples and Labels: a histogram's series is its foo_bucket samples
// (each with an "le" label), foo_sum and foo_count; a summary's is its foo
// samples (each with a "quantile" label), foo_sum and foo_count.
type Family struct {
	Name string
	// Help is the HELP text, unescaped; empty if there is none.
	Help    string
	Type    Type
	Samples []Sample
}

// Sample is one sample line.
type Sample struct {
	// Name is the sample's name: the family's name, or it with _bucket,
	// _sum or _count for histograms and summaries. Empty means the
	// family's name.
	Name string
	// Labels in the order they were written, including "le" and
	// "quantile".
	Labels []Label
	Value  float64
	// TimestampMs is the sample's timestamp in milliseconds, if
	// HasTimestamp. Collection.AddFamily refuses timestamped samples,
	// because the Pushgateway does; DropTimestamps removes them.
	TimestampMs  int64
	HasTimestamp bool
}

// Label is one label of a sample. Value is unescaped.
type Label struct {
	Name, Value string
}

// DropTimestamps removes the timestamps of f's samples and returns how
// many there were, so that a plugin relaying text can log what it dropped.
func (f *Family) DropTimestamps() int {
	n := 0
	for i := range f.Samples {
		if f.Samples[i].HasTimestamp {
			f.Samples[i].HasTimestamp, f.Samples[i].TimestampMs = false, 0
			n++
		}
	}
	return n
}
