package testenv

import (
	"os"
	"testing"
)

// RunCLI calls a subcommand stuck when its CPU time stops growing: the
// reading must grow while a process works.
func TestCPUTicksGrowWhileAProcessWorks(t *testing.T) {
	pid := os.Getpid()
	start := cpuTicks(pid)
	if start < 0 {
		t.Fatalf("cannot read the CPU time of pid %d", pid)
	}
	x := 0
	for cpuTicks(pid) == start {
		for i := range 1_000_000 {
			x += i
		}
	}
	_ = x
	if cpuTicks(1<<30) != -1 {
		t.Fatal("a process that does not exist has a CPU time")
	}
}
