package main

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

type target struct {
	name, url, cookie string
}

type result struct {
	rps, p50, p99 float64 // requests/s, milliseconds
	errors        string
	requests      int64
	// cpu is the CPU time (user and system) of the target's server
	// process per request, in microseconds; 0 when unknown. Unlike
	// requests/s it does not move with the machine's other load, only
	// with the work a request costs the server.
	cpu float64
	// ref is the reference's requests/s beside this run (see against);
	// 0 when the run had no reference.
	ref float64
}

// measure runs wrk with argsFor(target) against every target, rounds
// times, the targets interleaved within each round so that drift in the
// machine's speed hits them alike; results[i] holds target i's rounds.
func (b *bench) measure(label string, targets []target, rounds int, argsFor func(target) []string) [][]result {
	results := make([][]result, len(targets))
	for r := range rounds {
		for i, t := range targets {
			pid := b.pidOf(t.url)
			before := cpuTicks(pid)
			res := b.wrkWith(argsFor(t), t.url)
			if after := cpuTicks(pid); before >= 0 && after >= 0 && res.requests > 0 {
				res.cpu = float64(after-before) * 1e6 / clockTicks / float64(res.requests)
			}
			results[i] = append(results[i], res)
			fmt.Fprintf(os.Stderr, "%s round %d %-70s %10.0f req/s p50 %.2fms p99 %.2fms cpu %.1fus/req %s\n", label, r+1, t.name, res.rps, res.p50, res.p99, res.cpu, res.errors)
		}
	}
	return results
}

// pidOf returns the process serving url (a base URL and a path), or 0.
func (b *bench) pidOf(url string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	for base, pid := range b.pids {
		if url == base || strings.HasPrefix(url, base+"/") {
			return pid
		}
	}
	return 0
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times: 100 on Linux.
const clockTicks = 100

// cpuTicks returns the user and system time of process pid so far, in
// clock ticks, or -1.
func cpuTicks(pid int) int64 {
	if pid == 0 {
		return -1
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	return parseCPUTicks(string(stat))
}

// parseCPUTicks reads utime and stime (fields 14 and 15) of a
// /proc/PID/stat line; the command name, field 2, may hold spaces.
func parseCPUTicks(stat string) int64 {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(stat[i+1:]) // field 3 onwards
	if len(f) < 13 {
		return -1
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	return utime + stime
}

func (b *bench) wrkWith(args []string, url string) result {
	out, err := exec.Command("wrk", append(args, url)...).CombinedOutput()
	if err != nil {
		failf("wrk: %v\n%s", err, out)
	}
	return parseWrk(string(out))
}

var (
	requestsRE = regexp.MustCompile(`(?m)^\s*(\d+) requests in `)
	rpsRE      = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
	latRE      = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$`)
	errorsRE   = regexp.MustCompile(`(?m)^\s*(Non-2xx or 3xx responses: \d+|Socket errors: .*)$`)
)

func parseWrk(out string) result {
	var r result
	m := rpsRE.FindStringSubmatch(out)
	if m == nil {
		failf("cannot parse wrk output:\n%s", out)
	}
	r.rps, _ = strconv.ParseFloat(m[1], 64)
	if m := requestsRE.FindStringSubmatch(out); m != nil {
		r.requests, _ = strconv.ParseInt(m[1], 10, 64)
	}
	for _, l := range latRE.FindAllStringSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(l[2], 64)
		switch l[3] {
		case "us":
			v /= 1000
		case "s":
			v *= 1000
		}
		if l[1] == "50" {
			r.p50 = v
		} else {
			r.p99 = v
		}
	}
	var errs []string
	for _, e := range errorsRE.FindAllStringSubmatch(out, -1) {
		errs = append(errs, e[1])
	}
	r.errors = strings.Join(errs, "; ")
	return r
}

// against runs the targets as measure does, with the first one, the
// reference, run again at the end of each round, and sets each run's ref:
// the reference's rate at the run's place in its round, on the line
// between the round's opening and closing runs of the reference. A round
// of the validation section runs eleven targets and the closing run (66 s
// at -duration 6s), and this machine's speed drifts by several percent
// within that; a target run late in the round is so paired with what the
// reference would have done beside it, not with a run a minute earlier.
// It returns the targets' results and the closing runs.
func (b *bench) against(label string, targets []target, rounds int, argsFor func(target) []string) (results [][]result, closing []result) {
	return withReference(b.measure(label, append(slices.Clone(targets), closingRun(targets[0])), rounds, argsFor))
}

// closingRun is the reference run again at the end of a round.
func closingRun(ref target) target {
	ref.name += " (again, closing the round)"
	return ref
}

// withReference takes the results of n targets and, last, the closing
// runs of the reference (the first target): it sets the ref of every run
// of the n targets from the reference's opening run (the first target's)
// and closing run of the same round, and returns the n targets' results
// and the closing runs apart. Target i of n stands at i/n of the way from
// the opening run to the closing one.
func withReference(results [][]result) ([][]result, []result) {
	n := len(results) - 1
	for i := range n {
		for r := range results[i] {
			if r >= len(results[n]) || r >= len(results[0]) {
				break
			}
			open, end := results[0][r].rps, results[n][r].rps
			results[i][r].ref = open + (end-open)*float64(i)/float64(n)
		}
	}
	return results[:n], results[n]
}

// ratioOf returns the requests/s of rs against their reference round by
// round (each run's ref, see against): "0.85× (0.80–0.88)", the median of
// the rounds' ratios and their range. Runs without a reference are left
// out.
func ratioOf(rs []result) string {
	var ratios []float64
	for _, r := range rs {
		if r.ref > 0 {
			ratios = append(ratios, r.rps/r.ref)
		}
	}
	if len(ratios) == 0 {
		return "—"
	}
	slices.Sort(ratios)
	if len(ratios) == 1 {
		return fmt.Sprintf("%.2f×", ratios[0])
	}
	return fmt.Sprintf("%.2f× (%.2f–%.2f)", median(ratios), ratios[0], ratios[len(ratios)-1])
}

// median returns the median of sorted vs: the middle value, or the mean
// of the two middle values of an even count (never the better of them).
func median(vs []float64) float64 {
	m := len(vs) / 2
	if len(vs)%2 == 0 {
		return (vs[m-1] + vs[m]) / 2
	}
	return vs[m]
}

// printDrift says how far the reference's closing runs were from its
// opening runs (see against), the drift within a round that pairing each
// target with the reference beside it takes out, and warns of errors in
// the closing runs (they set the reference of their whole round).
func (b *bench) printDrift(ref target, opening, closing []result) {
	drift := make([]result, min(len(opening), len(closing)))
	for r := range drift {
		drift[r] = result{rps: closing[r].rps, ref: opening[r].rps}
	}
	fmt.Fprintf(b.out, "The reference's run closing each round against the one opening it: %s. Each target's rate is taken against the line between the two, at the target's place in the round.\n\n", ratioOf(drift))
	b.warnErrors([]target{closingRun(ref)}, [][]result{closing})
}

func medianOf(rs []result) result {
	pick := func(f func(result) float64) float64 {
		vs := make([]float64, len(rs))
		for i, r := range rs {
			vs[i] = f(r)
		}
		slices.Sort(vs)
		return median(vs)
	}
	return result{
		rps: pick(func(r result) float64 { return r.rps }),
		p50: pick(func(r result) float64 { return r.p50 }),
		p99: pick(func(r result) float64 { return r.p99 }),
		cpu: pick(func(r result) float64 { return r.cpu }),
	}
}
