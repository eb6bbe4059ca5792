// Package gcfloor keeps the garbage collector's heap goal at or above a
// floor.
//
// The collector starts a cycle when the heap reaches its goal: by default
// twice the live heap (GOGC=100), and never less than 4 MiB. A server whose
// live heap is a few megabytes but which allocates a few kilobytes a
// request, as sessiond under load, then collects dozens of times a second,
// and each cycle also scans the goroutine stacks and the globals whatever
// the heap holds. Raising GOGC for good would multiply a large live heap as
// well. The floor instead raises GOGC only as far as a goal of floor bytes
// needs, after each cycle, from the live heap that cycle found: a small
// heap grows to the floor between collections, and a heap whose goal is
// above the floor anyway is collected as GOGC says.
//
// A memory limit (GOMEMLIMIT) still wins over the floor: the runtime
// collects sooner whenever the total nears it. With GOGC=off there is no
// goal to raise, and Start does nothing.
//
// No library does this: the runtime has a limit (GOMEMLIMIT) but no floor,
// and the tuners published (bytedance/gopkg's gctuner and the like) steer
// GOGC toward a threshold as a fraction of a memory limit, with a
// dependency on a grab-bag module.
package gcfloor

import (
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"sync"
)

// MaxFloor is the highest floor: 1 TiB.
const MaxFloor = 1 << 40

// runtimeMinimum is the runtime's least heap goal at GOGC=100 (its
// defaultHeapMinimum); the least goal scales with GOGC.
const runtimeMinimum = 4 << 20

// Start keeps the heap goal at floor bytes at least, from the end of the
// next collection on, until stop is called. The collector is the
// process's: while several Starts overlap (servers run in one test
// binary), the highest of their floors holds, and the stop of the last
// restores the GOGC that was in force at the first. A floor of 0 does
// nothing, and stop may be called more than once.
func Start(floor uint64) (stop func()) {
	if floor == 0 {
		return func() {}
	}
	floor = min(floor, MaxFloor)
	mu.Lock()
	defer mu.Unlock()
	if len(floors) == 0 {
		// The GOGC in force: GOGC's value, or what SetGCPercent last set.
		// Read, not set: SetGCPercent(-1) would turn the collector off
		// for a moment.
		s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
		metrics.Read(s)
		p := int64(s[0].Value.Uint64())
		if p < 0 {
			return func() {}
		}
		base, current = int(p), int(p)
	}
	floors = append(floors, floor)
	if !armed {
		armed = true
		arm()
	}
	var once sync.Once
	return func() { once.Do(func() { release(floor) }) }
}

var (
	mu      sync.Mutex
	floors  []uint64 // of the Starts not yet stopped
	base    int      // GOGC when the first of them started
	current int      // the GOGC last set
	armed   bool     // a sentinel is out: adjust will run after a collection
	samples = []metrics.Sample{{Name: liveHeap}, {Name: stacks}, {Name: globals}}
)

const (
	liveHeap = "/gc/heap/live:bytes"
	stacks   = "/gc/scan/stack:bytes"
	globals  = "/gc/scan/globals:bytes"
)

func release(floor uint64) {
	mu.Lock()
	defer mu.Unlock()
	i := slices.Index(floors, floor)
	floors = slices.Delete(floors, i, i+1)
	if len(floors) == 0 {
		debug.SetGCPercent(base)
		current = base
	}
}

// sentinel is an object nothing refers to: the collector finds it
// unreachable at the cycle after it was made, and its cleanup, run once
// that cycle has ended, adjusts GOGC and makes the next one. A cleanup
// (runtime.AddCleanup) rather than a finalizer: cleanups run on goroutines
// of their own, so that no slow finalizer of another package (a database
// driver's, say) can hold a raised GOGC in force while the heap grows. It
// holds a pointer so that it is never one of the runtime's tiny
// allocations (whose cleanups may never run).
type sentinel struct{ _ *int }

func arm() {
	runtime.AddCleanup(&sentinel{}, func(struct{}) {
		if adjust() {
			arm()
		}
	}, struct{}{})
}

// adjust sets GOGC for the goal the highest floor needs, and reports
// whether any Start still runs.
func adjust() bool {
	mu.Lock()
	defer mu.Unlock()
	if len(floors) == 0 {
		armed = false
		return false
	}
	metrics.Read(samples)
	want := percentFor(slices.Max(floors), samples[0].Value.Uint64(), samples[1].Value.Uint64()+samples[2].Value.Uint64(), base)
	// SetGCPercent recomputes the pacer under the heap lock; small
	// changes from cycle to cycle are not worth it.
	if want != current && math.Abs(float64(want-current)) >= 0.05*float64(current) {
		debug.SetGCPercent(want)
		current = want
	}
	return true
}

// percentFor returns the GOGC whose goal is floor for a live heap of live
// bytes with roots (stacks and globals) of roots bytes, and base when that
// is more. The runtime's goal is live + (live + roots) × GOGC/100, and at
// least 4 MiB × GOGC/100: a GOGC above floor/4 MiB × 100 would put the
// goal above the floor however small the heap.
func percentFor(floor, live, roots uint64, base int) int {
	if live >= floor {
		return base
	}
	floor = min(floor, MaxFloor) // no overflow below
	p := floor * 100 / runtimeMinimum
	if scannable := live + roots; scannable > 0 {
		p = min(p, (floor-live)*100/scannable)
	}
	return max(int(p), base)
}
