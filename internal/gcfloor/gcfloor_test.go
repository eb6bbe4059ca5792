package gcfloor

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func read(name string) uint64 {
	s := []metrics.Sample{{Name: name}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func gogc() int {
	p := debug.SetGCPercent(-1)
	debug.SetGCPercent(p)
	return p
}

// collectUntil runs collections until ok holds (the tuner adjusts on the
// cleanup goroutines, after a cycle), or fails after 10 s naming what it
// saw.
func collectUntil(t *testing.T, what string, ok func(goal uint64, percent int) bool) {
	t.Helper()
	start := time.Now()
	for {
		runtime.GC()
		goal, percent := read("/gc/heap/goal:bytes"), gogc()
		if ok(goal, percent) {
			return
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("%s: after %v of collections the heap goal is %d bytes with GOGC=%d (live heap %d bytes)",
				what, time.Since(start).Round(time.Millisecond), goal, percent, read(liveHeap))
		}
		time.Sleep(time.Millisecond) // let the cleanups run
	}
}

// collectThrice runs three collections, letting the cleanups run after each.
func collectThrice() {
	for range 3 {
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
}

// The tests change the process's collector: none runs in parallel.

func TestStart_ASmallHeapGrowsToTheFloorAndALargeOneKeepsGOGC(t *testing.T) {
	const floor = 64 << 20
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	stop := Start(floor)
	defer stop()

	// A test binary's live heap is a few megabytes: the goal is raised to
	// the floor (within the 5% the tuner lets pass).
	collectUntil(t, "small heap", func(goal uint64, percent int) bool {
		return goal >= floor*95/100 && goal <= floor*110/100 && percent > 100
	})

	// A live heap above half the floor has a goal above it with GOGC=100
	// alone: the tuner gives GOGC back.
	big := make([]byte, 48<<20)
	for i := range big {
		big[i] = 1
	}
	collectUntil(t, "large heap", func(goal uint64, percent int) bool {
		return percent == 100 && goal >= 2*48<<20
	})
	runtime.KeepAlive(big)
}

func TestStart_StopRestoresTheOperatorsGOGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(150))
	stop := Start(64 << 20)
	collectUntil(t, "small heap", func(_ uint64, percent int) bool { return percent > 150 })
	stop()
	if p := gogc(); p != 150 {
		t.Fatalf("GOGC after stop: %d, want the 150 in force at Start", p)
	}
	// And it stays so: the tuner's next cleanup does nothing.
	collectThrice()
	if p := gogc(); p != 150 {
		t.Fatalf("GOGC after stop and three collections: %d, want 150", p)
	}
}

func TestStart_OffAndZeroDoNothing(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	Start(64 << 20)()
	runtime.GC()
	if p := gogc(); p != -1 {
		t.Fatalf("with GOGC=off, Start set GOGC=%d", p)
	}
	debug.SetGCPercent(100)
	stop := Start(0)
	defer stop()
	collectThrice()
	if p := gogc(); p != 100 {
		t.Fatalf("with a floor of 0, GOGC=%d, want 100", p)
	}
}

func TestStart_AnEnormousFloorNeverTurnsTheCollectorOff(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	stop := Start(1 << 63)
	defer stop()
	collectUntil(t, "an enormous floor", func(_ uint64, percent int) bool { return percent > 100 })
	if p := gogc(); p < 0 {
		t.Fatalf("GOGC=%d: the collector is off", p)
	}
}

func TestPercentFor(t *testing.T) {
	for _, c := range []struct {
		floor, live, roots uint64
		base, want         int
	}{
		{64 << 20, 2 << 20, 2 << 20, 100, 1550}, // (64-2)/(2+2) × 100
		{64 << 20, 40 << 20, 0, 100, 100},       // 40 MiB live: GOGC=100's goal (80 MiB) is above the floor
		{64 << 20, 40 << 20, 0, 200, 200},       // the operator's GOGC when it is more
		{64 << 20, 64 << 20, 0, 100, 100},       // at the floor
		{64 << 20, 1 << 10, 1 << 10, 100, 1600}, // a tiny heap: the runtime's least goal (4 MiB × 16) is the floor
		{64 << 20, 0, 0, 100, 1600},             // nothing scanned yet
		{1 << 20, 0, 0, 100, 100},               // a floor under the runtime's least goal changes nothing
		{1 << 62, 0, 0, 100, 26_214_400},        // above MaxFloor: MaxFloor (1 TiB / 4 MiB × 100), no overflow
		{1 << 63, 1 << 30, 0, 100, 102_300},     // (1 TiB - 1 GiB) / 1 GiB × 100
	} {
		if got := percentFor(c.floor, c.live, c.roots, c.base); got != c.want {
			t.Errorf("percentFor(%d, %d, %d, %d) = %d, want %d", c.floor, c.live, c.roots, c.base, got, c.want)
		}
	}
}

func TestStart_OverlappingStartsKeepTheHighestFloorAndTheLastStopRestores(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	stopLow := Start(16 << 20)
	stopHigh := Start(64 << 20)
	collectUntil(t, "two floors", func(goal uint64, _ int) bool { return goal >= 60<<20 && goal <= 70<<20 })
	stopHigh()
	stopHigh() // a second call changes nothing
	collectUntil(t, "the lower floor alone", func(goal uint64, percent int) bool {
		return goal >= 15<<20 && goal <= 18<<20 && percent > 100
	})
	stopLow()
	if p := gogc(); p != 100 {
		t.Fatalf("GOGC after the last stop: %d, want 100", p)
	}
}

// A finalizer of another package that blocks (all finalizers share one
// goroutine) must not freeze the GOGC the floor set: with a heap past the
// floor, GOGC goes back to the operator's.
func TestStart_ABlockedFinalizerElsewhereDoesNotFreezeTheFloor(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	release := make(chan struct{})
	defer close(release)
	blocked := make(chan struct{})
	runtime.SetFinalizer(&struct{ _ *int }{}, func(any) { close(blocked); <-release })
	collectUntil(t, "the finalizer goroutine blocked", func(uint64, int) bool {
		select {
		case <-blocked:
			return true
		default:
			return false
		}
	})
	stop := Start(64 << 20)
	defer stop()
	collectUntil(t, "small heap", func(_ uint64, percent int) bool { return percent > 100 })
	big := make([]byte, 48<<20)
	for i := range big {
		big[i] = 1
	}
	collectUntil(t, "large heap", func(_ uint64, percent int) bool { return percent == 100 })
	runtime.KeepAlive(big)
}
