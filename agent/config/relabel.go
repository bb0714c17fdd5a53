package config

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"
)

// Relabelling: relabel_configs on a job and on a collector,
// write_relabel_configs and external_labels on every output. A rule has
// Prometheus' own YAML shape and type (model/relabel's Config), so a block
// copied from a prometheus.yml loads and behaves as it does there.

// WriteRules are what an output does to a run's series before it sends
// them: add ExternalLabels (a label the series already has is kept), then
// apply WriteRelabelConfigs, in that order, as Prometheus' remote write
// does. Both are empty when not configured.
type WriteRules struct {
	ExternalLabels      labels.Labels
	WriteRelabelConfigs []*relabel.Config
}

// Rules returns the write rules of the output, whatever its kind.
func (o Output) Rules() WriteRules {
	switch {
	case o.Pushgateway != nil:
		return o.Pushgateway.WriteRules
	case o.RemoteWrite != nil:
		return o.RemoteWrite.WriteRules
	case o.OTLP != nil:
		return o.OTLP.WriteRules
	}
	return WriteRules{}
}

// nameScheme is the label name scheme rules are checked against: the
// classic one, which every series of the agent uses (plugin output is
// parsed with it and Pushgateways before 1.10 accept no other).
const nameScheme = model.LegacyValidation

// literalRuleKeys are the keys whose values are rules: their strings are
// not ${VAR}-expanded, as Prometheus does not expand them either, so that
// replacement: "${1}:9100" means the regex's first group, as it does there.
var literalRuleKeys = regexp.MustCompile(`^(?:jobs\[\d+\](?:\.collectors\[\d+\])?\.relabel_configs|(?:gateway|outputs\.[A-Za-z_][A-Za-z0-9_-]*\.(?:pushgateway|remote_write|otlp))\.write_relabel_configs)$`)

// relabelField declares relabel_configs or write_relabel_configs: a list
// of rules, read into the slice dst returns. check, when set, checks each
// rule further (what its place allows).
func relabelField[T any](name string, dst func(*T) *[]*relabel.Config, check func(l *loader, p string, c *relabel.Config, d *T)) field[T] {
	return field[T]{
		name: name, typ: "list", def: code("[]"), list: true,
		sub: func() docSection { return &relabelSection },
		set: func(l *loader, p string, v any, d *T) {
			list, ok := v.([]any)
			if !ok {
				l.add(p, "expected a list of relabelling rules, like [{source_labels: [__name__], regex: go_.*, action: drop}], got %s", describe(v))
				return
			}
			rules := []*relabel.Config{}
			for i, rv := range list {
				rp := indexPath(p, i)
				if c, ok := l.relabelRule(rp, rv); ok {
					if check != nil {
						check(l, rp, c, d)
					}
					rules = append(rules, c)
				}
			}
			*dst(d) = rules
		},
	}
}

// ruleDraft is one rule while its keys are read; it starts as Prometheus'
// DefaultRelabelConfig, as its UnmarshalYAML does.
type ruleDraft struct {
	c      relabel.Config
	failed bool // a key was refused: Validate would only repeat it
}

var relabelSection = section[ruleDraft]{what: "a relabelling rule", fields: []field[ruleDraft]{{
	name: "source_labels", typ: "list of label names", def: code("[]"),
	set: func(l *loader, p string, v any, d *ruleDraft) {
		list, ok := v.([]any)
		if !ok {
			d.failed = true
			l.add(p, "expected a list of label names, like [__name__, instance], got %s", describe(v))
			return
		}
		names := model.LabelNames{}
		for i, e := range list {
			s, ok := l.str(indexPath(p, i), e)
			switch {
			case !ok:
				d.failed = true
			case !nameScheme.IsValidLabelName(s):
				d.failed = true
				l.add(indexPath(p, i), "%s is not a valid label name; use letters, digits and _, not starting with a digit", quote(s))
			default:
				names = append(names, model.LabelName(s))
			}
		}
		d.c.SourceLabels = names
	},
}, {
	name: "separator", typ: "string", def: code(relabel.DefaultRelabelConfig.Separator),
	set: func(l *loader, p string, v any, d *ruleDraft) { d.c.Separator, _ = l.ruleString(p, v, &d.failed) },
}, {
	name: "regex", typ: "string (RE2)", def: code(relabel.DefaultRelabelConfig.Regex.String()),
	set: func(l *loader, p string, v any, d *ruleDraft) {
		s, ok := l.ruleString(p, v, &d.failed)
		if !ok {
			return
		}
		re, err := relabel.NewRegexp(s)
		if err != nil {
			// The error of the expression as written, not of the anchored
			// form NewRegexp compiles, which the user never wrote.
			if _, plain := regexp.Compile(s); plain != nil {
				err = plain
			}
			d.failed = true
			l.add(p, "invalid regex %s: %s; write an RE2 expression (as Prometheus does), anchored on both ends for you", quote(s), strings.TrimPrefix(err.Error(), "error parsing regexp: "))
			return
		}
		d.c.Regex = re
	},
}, {
	name: "modulus", typ: "whole number", def: noDefault,
	set: func(l *loader, p string, v any, d *ruleDraft) {
		var n int
		before := len(l.problems)
		l.count(p, v, &n, 1, 1<<31-1)
		if len(l.problems) > before {
			d.failed = true
		}
		d.c.Modulus = uint64(n)
	},
}, {
	name: "target_label", typ: "string", def: noDefault,
	set: func(l *loader, p string, v any, d *ruleDraft) { d.c.TargetLabel, _ = l.ruleString(p, v, &d.failed) },
}, {
	name: "replacement", typ: "string", def: code(relabel.DefaultRelabelConfig.Replacement),
	set: func(l *loader, p string, v any, d *ruleDraft) { d.c.Replacement, _ = l.ruleString(p, v, &d.failed) },
}, {
	name: "action", typ: "string", def: code(string(relabel.Replace)),
	set: func(l *loader, p string, v any, d *ruleDraft) {
		s, ok := l.str(p, v)
		if !ok {
			d.failed = true
			return
		}
		switch a := relabel.Action(strings.ToLower(s)); a {
		case relabel.Replace, relabel.Keep, relabel.Drop, relabel.HashMod, relabel.LabelMap, relabel.LabelDrop,
			relabel.LabelKeep, relabel.Lowercase, relabel.Uppercase, relabel.KeepEqual, relabel.DropEqual:
			d.c.Action = a
		default:
			d.failed = true
			l.add(p, "unknown relabel action %s%s; the actions are %s", quote(s), suggest(strings.ToLower(s), relabelActions), strings.Join(relabelActions, ", "))
		}
	},
}}}

var relabelActions = []string{"replace", "keep", "drop", "keepequal", "dropequal", "hashmod", "labelmap", "labeldrop", "labelkeep", "lowercase", "uppercase"}

// ruleString reads a string of a rule. YAML numbers and booleans are taken
// as their text, as Prometheus' YAML decoder takes them (regex: 404 is the
// string "404"); a fractional number is refused, its text being lost.
func (l *loader) ruleString(p string, v any, failed *bool) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case int:
		return strconv.Itoa(v), true
	case uint64:
		return strconv.FormatUint(v, 10), true
	case bool:
		return strconv.FormatBool(v), true
	}
	*failed = true
	l.add(p, "expected a string, got %s; quote the value", describe(v))
	return "", false
}

// relabelRule reads one rule at p and checks it with model/relabel's own
// Validate, the check Prometheus applies when it loads the same block.
func (l *loader) relabelRule(p string, v any) (*relabel.Config, bool) {
	d := ruleDraft{c: relabel.DefaultRelabelConfig}
	if _, ok := relabelSection.read(l, p, v, &d); !ok || d.failed {
		return nil, false
	}
	c := &d.c
	if err := c.Validate(nameScheme); err != nil {
		l.add(p, "%s; see the relabel_config reference in docs/config.md", err)
		return nil, false
	}
	return c, true
}

// runLabelRule refuses, in a job's or collector's rules, a rule that sets
// job or a grouping label: those name the run's group and are added by the
// outputs, after these rules. An output's write_relabel_configs see them.
func runLabelRule(l *loader, p string, c *relabel.Config, j *Job) {
	switch c.Action {
	case relabel.Replace, relabel.HashMod, relabel.Lowercase, relabel.Uppercase:
	default:
		return
	}
	_, grouped := j.Grouping[c.TargetLabel]
	if c.TargetLabel == "job" || grouped {
		l.add(keyPath(p, "target_label"), "%s is the job's own label (job or grouping), which outputs add after the job's and collectors' rules; change it in an output's write_relabel_configs, or choose another label", quote(c.TargetLabel))
	}
}

// externalLabelsField declares external_labels for an output section.
func externalLabelsField[T any](dst func(*T) *WriteRules) field[T] {
	return field[T]{
		name: "external_labels", typ: "label map", def: code("{}"),
		set: func(l *loader, p string, v any, d *T) {
			if m := l.labels(p, v); len(m) > 0 {
				dst(d).ExternalLabels = labels.FromMap(m)
			}
		},
	}
}

// writeRuleFields declares external_labels and write_relabel_configs for
// an output section.
func writeRuleFields[T any](dst func(*T) *WriteRules) []field[T] {
	return []field[T]{
		externalLabelsField(dst),
		relabelField("write_relabel_configs", func(d *T) *[]*relabel.Config { return &dst(d).WriteRelabelConfigs }, nil),
	}
}
