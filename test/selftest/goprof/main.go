// goprof writes a CPU profile and a heap profile with runtime/pprof, so the
// test harness can check its independent decoder (test/lib/pprofdec.py) and
// its `go tool pprof` parsing against real pprof data not made by cprof.
//
// usage: goprof CPU_PROFILE HEAP_PROFILE
//
// The CPU profile samples burnCPU (about 300 ms of busy work); the heap
// profile records every allocation (MemProfileRate = 1) made by allocHeap.
package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"time"
)

var sink uint64
var keep [][]byte

//go:noinline
func burnCPU(d time.Duration) uint64 {
	end := time.Now().Add(d)
	x := uint64(1)
	for time.Now().Before(end) {
		for i := 0; i < 100000; i++ {
			x = x*6364136223846793005 + 1442695040888963407
		}
	}
	return x
}

//go:noinline
func allocHeap(n, size int) {
	for i := 0; i < n; i++ {
		keep = append(keep, make([]byte, size))
	}
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: goprof CPU_PROFILE HEAP_PROFILE")
		os.Exit(2)
	}
	runtime.MemProfileRate = 1

	cf, err := os.Create(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := pprof.StartCPUProfile(cf); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sink += burnCPU(300 * time.Millisecond)
	pprof.StopCPUProfile()
	cf.Close()

	allocHeap(1000, 4096)
	runtime.GC() // heap profiles show data as of the last GC

	hf, err := os.Create(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := pprof.WriteHeapProfile(hf); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	hf.Close()
	fmt.Println(len(keep), sink != 0)
}
