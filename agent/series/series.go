// Package series is a run's samples in the one shape every merge rule,
// relabelling step and output reads: parsed once from plugin output,
// merged once per job, then only read. Outputs encode their wire format
// (Pushgateway text or protobuf, remote write 1.0/2.0, OTLP) straight from
// a Batch; none of them converts through another output's shape.
//
// A Batch must never be changed after the merge returns it: the same Batch
// is handed to every output of the job at once. An output that rewrites
// labels (write_relabel_configs, external_labels) builds its own copy of
// the series it changes.
package series

import (
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
)

// Family is one metric family's metadata, as the exposition text's
// # TYPE, # HELP and # UNIT lines give it.
type Family struct {
	// Name is the family name: for a histogram "rpc_seconds", whose samples
	// are named rpc_seconds_bucket, rpc_seconds_sum and rpc_seconds_count.
	Name string
	Type model.MetricType
	Help string
	Unit string
}

// Sample is one series with its one sample of this run.
type Sample struct {
	// Labels holds every label of the series, __name__ included (the
	// sample's own name, such as rpc_seconds_bucket), sorted by name. Job
	// and grouping labels are not here: they belong to the run (see the
	// outputs), not to the plugin's series.
	Labels labels.Labels
	Value  float64
	// T is the sample's own timestamp in milliseconds since the epoch, or
	// 0 when the plugin gave none (outputs then use the run's time).
	T int64
	// Family indexes Batch.Families.
	Family int32
}

// Batch is one job's (or, before the merge, one collector's) samples.
// Samples of one family are contiguous. The parser keeps the order of the
// exposition text; the merge returns families sorted by name, as the
// Pushgateway body has always been.
type Batch struct {
	Families []Family
	Samples  []Sample
}

// Len is the number of samples (series) in the batch.
func (b *Batch) Len() int { return len(b.Samples) }

// FamilyOf returns the metadata of s's family.
func (b *Batch) FamilyOf(s *Sample) *Family { return &b.Families[s.Family] }
