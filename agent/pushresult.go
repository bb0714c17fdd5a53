package agent

import (
	"context"
	"fmt"
)

// OutputResult is one output's part in a push: once --push prints one
// line per output, so a failing output hides no other's success.
type OutputResult struct {
	Output    string // the output's name
	Kind, URL string // "pushgateway" or "remote_write", and where it sends
	// Err is nil once the output has the collection: pushed to the
	// gateway, or, for a buffering output, delivered from its buffer.
	Err error
}

// PushEach is Push with each output's result. Every failure is logged
// once, by the agent, with the output it belongs to; the caller reports
// the results, it need not log them again.
func (a *Agent) PushEach(ctx context.Context, c *Collection) ([]OutputResult, error) {
	st := a.cur.Load()
	j := st.job(c.Job)
	if j == nil {
		return nil, fmt.Errorf("no job named %q in %s", c.Job, st.cfg.Path)
	}
	outs := st.outputsOf(j.cfg)
	errs := a.pushAll(ctx, st, j, c)
	res := make([]OutputResult, len(outs))
	for i, o := range outs {
		res[i].Output, res[i].Err = o.name, errs[i]
		res[i].Kind, res[i].URL = o.out.describe()
		if w, ok := o.out.(interface{ wait(context.Context) error }); ok && errs[i] == nil {
			// push logged its own failure; the wait's is logged here.
			if err := w.wait(ctx); err != nil {
				res[i].Err = err
				j.logger.Error("push failed", "output", o.name, res[i].Kind, res[i].URL, "err", err)
			}
		}
	}
	return res, nil
}
