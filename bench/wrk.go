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
}

// measure runs wrk with argsFor(target) against every target, rounds
// times, the targets interleaved within each round so that drift in the
// machine's speed hits them alike; results[i] holds target i's rounds.
func (b *bench) measure(label string, targets []target, rounds int, argsFor func(target) []string) [][]result {
	results := make([][]result, len(targets))
	for r := range rounds {
		for i, t := range targets {
			res := b.wrkWith(argsFor(t), t.url)
			results[i] = append(results[i], res)
			fmt.Fprintf(os.Stderr, "%s round %d %-70s %10.0f req/s p50 %.2fms p99 %.2fms %s\n", label, r+1, t.name, res.rps, res.p50, res.p99, res.errors)
		}
	}
	return results
}

func (b *bench) wrkWith(args []string, url string) result {
	out, err := exec.Command("wrk", append(args, url)...).CombinedOutput()
	if err != nil {
		failf("wrk: %v\n%s", err, out)
	}
	return parseWrk(string(out))
}

var (
	rpsRE    = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
	latRE    = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$`)
	errorsRE = regexp.MustCompile(`(?m)^\s*(Non-2xx or 3xx responses: \d+|Socket errors: .*)$`)
)

func parseWrk(out string) result {
	var r result
	m := rpsRE.FindStringSubmatch(out)
	if m == nil {
		failf("cannot parse wrk output:\n%s", out)
	}
	r.rps, _ = strconv.ParseFloat(m[1], 64)
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

func medianOf(rs []result) result {
	pick := func(f func(result) float64) float64 {
		vs := make([]float64, len(rs))
		for i, r := range rs {
			vs[i] = f(r)
		}
		slices.Sort(vs)
		return vs[len(vs)/2]
	}
	return result{
		rps: pick(func(r result) float64 { return r.rps }),
		p50: pick(func(r result) float64 { return r.p50 }),
		p99: pick(func(r result) float64 { return r.p99 }),
	}
}
