package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

func TestParseFlags(t *testing.T) {
	o, err := parseFlags([]string{"-duration", "6s", "-rounds", "2", "-postgres", "postgres://x", "-skip-proxy"})
	if err != nil {
		t.Fatal(err)
	}
	if o.duration.String() != "6s" || o.rounds != 2 || o.pgURL != "postgres://x" || !o.skipProxy || o.conns != 64 || o.threads != 2 {
		t.Errorf("parseFlags: %+v", o)
	}
	for _, args := range [][]string{
		{"-rounds", "0"},
		{"-duration", "0s"},
		{"-connections", "0"},
		{"-sqlite-writers", "0"},
		{"-no-such-flag"},
		{"stray"},
	} {
		if _, err := parseFlags(args); err == nil {
			t.Errorf("parseFlags(%q): no error", args)
		}
	}
}

func TestRunRefusesBadArguments(t *testing.T) {
	var out bytes.Buffer
	for _, args := range [][]string{
		{"serve-trivial"},           // no address
		{"serve-proxy", "http://x"}, // no address
		{"serve-app", "a", "b"},     // one too many
		{"-rounds", "0"},            // before anything is built
	} {
		if err := run(args, &out); err == nil {
			t.Errorf("run(%q): no error", args)
		}
	}
	if out.Len() != 0 {
		t.Errorf("a refused run wrote a report: %q", out.String())
	}
}

const wrkOutput = `Running 6s test @ http://127.0.0.1:40000/api/auth/session-v2
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.10ms    1.20ms  30.00ms   90.00%
    Req/Sec    15.20k     1.10k   17.00k    70.00%
  Latency Distribution
     50%  845.00us
     75%    1.90ms
     90%    3.10ms
     99%    1.02s
  181234 requests in 6.00s, 30.10MB read
  Non-2xx or 3xx responses: 12
Requests/sec:  30205.67
Transfer/sec:      5.01MB
`

func TestParseWrk(t *testing.T) {
	r := parseWrk(wrkOutput)
	if r.rps != 30205.67 || r.p50 != 0.845 || r.p99 != 1020 || r.requests != 181234 {
		t.Errorf("parseWrk: %+v", r)
	}
	if !strings.Contains(r.errors, "Non-2xx or 3xx responses: 12") {
		t.Errorf("parseWrk errors: %q", r.errors)
	}
}

func TestParseWrkFailsOnGarbage(t *testing.T) {
	defer func() {
		if _, ok := recover().(failure); !ok {
			t.Error("parseWrk of garbage did not fail")
		}
	}()
	parseWrk("connection refused")
}

func TestMedianOf(t *testing.T) {
	m := medianOf([]result{{rps: 3, p50: 1, p99: 9}, {rps: 1, p50: 3, p99: 7}, {rps: 2, p50: 2, p99: 8}})
	if m.rps != 2 || m.p50 != 2 || m.p99 != 8 {
		t.Errorf("medianOf: %+v", m)
	}
	// An even count: the mean of the two middle rounds, not the better.
	if m := medianOf([]result{{rps: 4}, {rps: 1}, {rps: 3}, {rps: 2}}); m.rps != 2.5 {
		t.Errorf("medianOf of four rounds: %v, want 2.5", m.rps)
	}
}

func TestParseCPUTicks(t *testing.T) {
	// A command name with a space and a parenthesis, as /proc allows.
	stat := "4242 (sessiond (x) y) S 1 4242 4242 0 -1 4194560 1000 0 0 0 1234 567 0 0 20 0 8 0 100 1000000 2000 18446744073709551615"
	if got := parseCPUTicks(stat); got != 1234+567 {
		t.Errorf("parseCPUTicks = %d, want %d", got, 1234+567)
	}
	if got := parseCPUTicks("garbage"); got != -1 {
		t.Errorf("parseCPUTicks(garbage) = %d", got)
	}
	if got := cpuTicks(os.Getpid()); got < 0 {
		t.Errorf("cpuTicks of this process: %d", got)
	}
}

func TestRatioOf_PairsTheRounds(t *testing.T) {
	rs := func(pairs ...float64) []result {
		var out []result
		for i := 0; i < len(pairs); i += 2 {
			out = append(out, result{rps: pairs[i], ref: pairs[i+1]})
		}
		return out
	}
	for _, c := range []struct {
		runs []result
		want string
	}{
		// Round by round: 90/100, 80/80, 60/100. The ratio of the
		// medians would say 80/100 = 0.80×.
		{rs(90, 100, 80, 80, 60, 100), "0.90× (0.60–1.00)"},
		{rs(90, 100, 60, 100), "0.75× (0.60–0.90)"}, // two rounds: their mean
		{rs(50, 100), "0.50×"},
		{rs(50, 0, 60, 100), "0.60×"}, // a run without a reference is left out
		{nil, "—"},
	} {
		if got := ratioOf(c.runs); got != c.want {
			t.Errorf("ratioOf(%v) = %q, want %q", c.runs, got, c.want)
		}
	}
}

func TestWithReference_PairsEachRunWithTheReferenceBesideIt(t *testing.T) {
	run := func(rps ...float64) []result {
		var out []result
		for _, r := range rps {
			out = append(out, result{rps: r})
		}
		return out
	}
	// Three targets and the closing run of the reference, two rounds:
	// in the first the machine slowed from 100 to 70 over the round, in
	// the second it held at 100.
	results, closing := withReference([][]result{run(100, 100), run(90, 90), run(80, 80), run(70, 100)})
	if len(results) != 3 || len(closing) != 2 || closing[0].rps != 70 {
		t.Fatalf("withReference returned %d targets and closing runs %v", len(results), closing)
	}
	want := [][]float64{{100, 100}, {90, 100}, {80, 100}} // 100 - 30×i/3
	for i := range want {
		for r := range want[i] {
			if got := results[i][r].ref; got != want[i][r] {
				t.Errorf("target %d, round %d: ref %v, want %v", i, r, got, want[i][r])
			}
		}
	}
	if got := ratioOf(results[2]); got != "0.90× (0.80–1.00)" { // round 1: 80/80, round 2: 80/100
		t.Errorf("the third target against the reference beside it: %s", got)
	}
}
