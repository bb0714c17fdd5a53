package config

import (
	"testing"
	"time"
)

func TestLongestGap(t *testing.T) {
	const day = 24 * time.Hour
	cases := []struct {
		spec string
		want time.Duration
	}{
		{"* * * * *", time.Minute},
		{"*/5 * * * *", 5 * time.Minute},
		{"7,52 * * * *", 45 * time.Minute},                     // :52 to :07 of the next hour is 15m
		{"0 30 2 * * *", day},                                  // with seconds
		{"*/10 * 9-17 * * 1-5", 63*time.Hour + 10*time.Second}, // Fri 17:59:50 to Mon 09:00:00
		{"0 9 * * 1-5", 3 * day},                               // the weekend
		{"0 0 31 * *", 61 * day},                               // Aug 31 to Oct 31
		{"0 0 29 2 *", (4*365 + 1) * day},                      // leap days
		{"0 0 1 * 1", 7 * day},                                 // day-of-month OR day-of-week
		{"0 0 13 * 5", 7 * day},                                // same rule: any 13th or any Friday
		{"30 4 1,15 * *", 17 * day},                            // the 15th to the 1st after a 31-day month
		{"0 0,12 * * *", 12 * time.Hour},                       // two runs a day
		{"15 10,14 * * 0", 7*day - 4*time.Hour},                // Sunday 14:15 to next Sunday 10:15
		{"*/20 */6 * * *", 6*time.Hour - 40*time.Minute},       // 00:40 to 06:00
		{"5-10 * * * * *", time.Minute - 5*time.Second},        // :10 to :05 of the next minute
		{"0 0 0 1 1 *", 366 * day},                             // yearly, across a leap year
		{"59 23 31 12 *", 366 * day},                           // the same at the end of the year
		{"0 12 * 2 *", 365*day - 28*day + day},                 // Feb 28 to Feb 1 of the next year
	}
	for _, tc := range cases {
		s, err := parseCron(tc.spec)
		if err != nil {
			t.Fatalf("%s: %v", tc.spec, err)
		}
		if got := longestGap(s); got != tc.want {
			t.Errorf("longestGap(%q) = %v, want %v", tc.spec, got, tc.want)
		}
	}
}

// TestLongestGapMatchesRuns checks longestGap against the runs robfig/cron
// computes, for schedules whose runs over a few years are few enough to walk.
func TestLongestGapMatchesRuns(t *testing.T) {
	for _, spec := range []string{
		"*/7 3,9 * * *", "0 9 * * 1-5", "0 0 31 * *", "13 3 29 2 *", "0 0 1 * 1", "0 0 13 * 5",
		"0 0 8-18/5 * * 1-5", "0 0 1,15 * *", "5 4 * 1,6 *", "0 0 30 * 0", "45 23 * * 6",
	} {
		s, err := parseCron(spec)
		if err != nil {
			t.Fatalf("%s: %v", spec, err)
		}
		var walked time.Duration
		end := time.Date(2028, 1, 1, 0, 0, 0, 0, time.UTC)
		prev := s.Next(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).Add(-time.Second))
		for n := s.Next(prev); n.Before(end); prev, n = n, s.Next(n) {
			walked = max(walked, n.Sub(prev))
		}
		if got := longestGap(s); got != walked {
			t.Errorf("longestGap(%q) = %v, walking the runs gives %v", spec, got, walked)
		}
	}
}
