package agent

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pushagent/pushagent/agent/config"
	"github.com/pushagent/pushagent/internal/testenv"
)

// TestThreeShards: three agents with shard index 0 to 2 and the same
// jobs. Every sharded job runs on exactly one of them, each has some, and
// the replicated job runs on all three.
func TestThreeShards(t *testing.T) {
	t.Parallel()
	hello := wat(t, "hello")
	gw := testenv.StartPushgateway(t, testenv.PushgatewayOptions{})
	var jobs []config.Job
	for i := range 12 {
		jobs = append(jobs, config.Job{Name: fmt.Sprintf("job-%d", i), Every: time.Minute, Method: "put",
			Collectors: []config.Collector{testCollector("c", hello, "1")}})
	}
	jobs = append(jobs, config.Job{Name: "everywhere", Every: time.Minute, Method: "put", Replicated: true,
		Collectors: []config.Collector{testCollector("c", hello, "1")}})
	for idx := range 3 {
		cfg := &config.Config{
			Gateway: config.Gateway{URL: gw.URL, Timeout: 5 * time.Second},
			Shard:   &config.Shard{Index: idx, Count: 3},
		}
		for _, j := range jobs {
			j.Grouping = map[string]string{"agent": strconv.Itoa(idx)} // what ${HOSTNAME} tells apart
			cfg.Jobs = append(cfg.Jobs, j)
		}
		a := newAgent(t, cfg, Options{})
		if n := len(a.Jobs()); n < 2 || n > 12 {
			t.Errorf("agent %d runs %d jobs (%v); want some of the 12 and the replicated one", idx, n, a.Jobs())
		}
		start(t, a)
	}
	// Interval jobs run once at start: 12 sharded groups and 3 replicated.
	var groups []testenv.Group
	testenv.Eventually(t, 30*time.Second, "every agent's first runs", func() bool {
		groups = gw.Groups(t)
		return len(groups) >= 15
	})
	time.Sleep(500 * time.Millisecond)
	groups = gw.Groups(t)
	byJob := map[string][]string{}
	perAgent := map[string]int{}
	for _, g := range groups {
		byJob[g.Labels["job"]] = append(byJob[g.Labels["job"]], g.Labels["agent"])
		if g.Labels["job"] != "everywhere" {
			perAgent[g.Labels["agent"]]++
		}
	}
	for _, j := range jobs[:12] {
		if len(byJob[j.Name]) != 1 {
			t.Errorf("%s ran on agents %v; want exactly one", j.Name, byJob[j.Name])
		}
	}
	if len(byJob["everywhere"]) != 3 {
		t.Errorf("the replicated job ran on agents %v; want all three", byJob["everywhere"])
	}
	if len(perAgent) != 3 {
		t.Errorf("sharded jobs per agent = %v; want every agent to have some", perAgent)
	}
}

func TestCollectNamesTheShardOfAJobRunElsewhere(t *testing.T) {
	hello := wat(t, "hello")
	cfg := &config.Config{Gateway: config.Gateway{URL: "http://127.0.0.1:1", Timeout: time.Second}, Shard: &config.Shard{Index: 0, Count: 2}}
	for i := range 6 {
		cfg.Jobs = append(cfg.Jobs, config.Job{Name: fmt.Sprintf("job-%d", i), Every: time.Minute, Method: "put",
			Collectors: []config.Collector{testCollector("c", hello, "1")}})
	}
	a := newAgent(t, cfg, Options{})
	for _, j := range cfg.Jobs {
		_, err := a.Collect(context.Background(), j.Name)
		owned := cfg.Owned(j)
		if owned != (err == nil) {
			t.Errorf("%s: owned %v, Collect error %v", j.Name, owned, err)
		}
		if !owned && (err == nil || !strings.Contains(err.Error(), "belongs to shard 1 of 2")) {
			t.Errorf("%s: %v; want the error to name its shard", j.Name, err)
		}
	}
	if len(a.Status()) != len(a.Jobs()) || len(a.Jobs()) == len(cfg.Jobs) || len(a.Jobs()) == 0 {
		t.Errorf("agent runs %v of %d jobs", a.Jobs(), len(cfg.Jobs))
	}
}
