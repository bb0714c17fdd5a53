package config

import (
	"fmt"
	"math/bits"
	"time"

	"github.com/robfig/cron/v3"
)

// Expiry of stale groups (expire_after). A group that has not been pushed to
// for expire_after is deleted by the job's other replicas. The limit must be
// long enough that a replica that is alive but slow is never taken for dead:
// at least expireFactor times the longest time between two of its pushes
// (the interval, plus jitter, which delays a run by up to jitter), and never
// under minExpireAfter.
const (
	expireFactor   = 3
	minExpireAfter = time.Minute
)

// expireAfter reads an expire_after (a duration, 0s for off) into dst and
// returns it as written, for messages. A bad value is reported and leaves
// dst as it was.
func (l *loader) expireAfter(p string, v any, dst *time.Duration) string {
	d, raw, ok := l.duration(p, v)
	switch {
	case !ok:
	case d < 0:
		l.add(p, "must not be negative (0s turns expiry off), got %s", quote(raw))
	case d > 0 && d < minExpireAfter:
		l.add(p, "must be at least %s, so that a replica that is merely slow is not deleted (0s turns expiry off), got %s", minExpireAfter, quote(raw))
	default:
		*dst = d
	}
	return raw
}

// checkExpireAfter checks a job's expire_after against its schedule. gap is
// the longest time between two runs (0 when the schedule is invalid, which
// is reported already). raw is expire_after as written in the job, or ""
// when the value came from the defaults section: then the message points at
// the job and says where the value is.
func (l *loader) checkExpireAfter(p string, j Job, gap time.Duration, raw string) {
	if j.ExpireAfter <= 0 || gap <= 0 {
		return
	}
	least := max(expireFactor*(gap+j.Jitter), minExpireAfter)
	if j.ExpireAfter >= least {
		return
	}
	var between string
	switch {
	case j.Every > 0 && j.Jitter > 0:
		between = fmt.Sprintf("every %s + jitter %s", j.Every, j.Jitter)
	case j.Every > 0:
		between = fmt.Sprintf("every %s", j.Every)
	case j.Jitter > 0:
		between = fmt.Sprintf("%s from the cron schedule + jitter %s", gap, j.Jitter)
	default:
		between = fmt.Sprintf("%s from the cron schedule", gap)
	}
	rule := fmt.Sprintf("must be at least %s: %d × the longest time between runs (%s), and never under %s, so that a replica that is merely slow is not deleted",
		least, expireFactor, between, minExpireAfter)
	if raw == "" {
		l.add(p, "expire_after %s from defaults is too short for this job: it %s; set expire_after for this job (0s turns expiry off)", j.ExpireAfter, rule)
	} else {
		l.add(p+".expire_after", "%s; got %s", rule, quote(raw))
	}
}

// longestGap returns the longest time between two consecutive runs of a cron
// schedule (in UTC), or 0 if it cannot tell.
//
// A cron schedule runs at the same times of day (its second, minute and hour
// fields) on every day it allows (day of month, month, day of week), so the
// longest gap is either between two runs of one day or from the last run of
// an allowed day to the first run of the next. That is exact and cheap, where
// walking the runs one by one is neither: a schedule that runs every second
// during office hours has its longest gap at weekends, 100,000 runs away.
func longestGap(s cron.Schedule) time.Duration {
	spec, ok := s.(*cron.SpecSchedule)
	if !ok {
		return 0
	}
	secs, mins, hours := setBits(spec.Second, 60), setBits(spec.Minute, 60), setBits(spec.Hour, 24)
	if len(secs) == 0 || len(mins) == 0 || len(hours) == 0 {
		return 0
	}
	var gap int64 // seconds
	for i := 1; i < len(secs); i++ {
		gap = max(gap, secs[i]-secs[i-1])
	}
	firstInHour := mins[0]*60 + secs[0]
	lastInHour := mins[len(mins)-1]*60 + secs[len(secs)-1]
	for i := 1; i < len(mins); i++ {
		gap = max(gap, (mins[i]-mins[i-1])*60+secs[0]-secs[len(secs)-1])
	}
	for i := 1; i < len(hours); i++ {
		gap = max(gap, (hours[i]-hours[i-1])*3600+firstInHour-lastInHour)
	}
	firstInDay := hours[0]*3600 + firstInHour
	lastInDay := hours[len(hours)-1]*3600 + lastInHour

	// Allowed days over 28 years: the period of weekdays and leap years
	// (within 1901–2099), so every pattern of days occurs.
	const days = 28*365 + 7
	y, m, d, wd := 2000, time.January, 1, time.Saturday
	prev := int64(-1)
	for i := range int64(days) {
		if dayMatches(spec, m, d, wd) {
			if prev >= 0 {
				gap = max(gap, (i-prev)*86400+firstInDay-lastInDay)
			}
			prev = i
		}
		d++
		wd = (wd + 1) % 7
		if d > daysIn(y, m) {
			d, m = 1, m+1
			if m > time.December {
				m, y = time.January, y+1
			}
		}
	}
	if prev < 0 {
		return 0
	}
	return time.Duration(gap) * time.Second
}

// starBit marks a field written as "*" in robfig/cron's SpecSchedule.
const starBit = 1 << 63

// dayMatches is robfig/cron's rule: day of month and day of week must both
// match when either is "*", and either may match otherwise.
func dayMatches(s *cron.SpecSchedule, m time.Month, d int, wd time.Weekday) bool {
	if s.Month&(1<<uint(m)) == 0 {
		return false
	}
	dom := s.Dom&(1<<uint(d)) != 0
	dow := s.Dow&(1<<uint(wd)) != 0
	if s.Dom&starBit != 0 || s.Dow&starBit != 0 {
		return dom && dow
	}
	return dom || dow
}

func daysIn(y int, m time.Month) int {
	switch m {
	case time.February:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case time.April, time.June, time.September, time.November:
		return 30
	}
	return 31
}

// setBits lists the set bits below n, in order.
func setBits(mask uint64, n int) []int64 {
	mask &= 1<<uint(n) - 1
	out := make([]int64, 0, bits.OnesCount64(mask))
	for i := range n {
		if mask&(1<<uint(i)) != 0 {
			out = append(out, int64(i))
		}
	}
	return out
}
