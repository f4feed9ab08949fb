package main

import (
	"os/exec"
	"testing"
)

// fuzzTargets are the fuzz tests of the webhook receivers, the upstream
// decoders and request parsing.
var fuzzTargets = []struct{ pkg, target string }{
	{"./events", "FuzzWebhooks"},
	{"./sources/woocommerce", "FuzzDecode"},
	{"./sources/hubspot", "FuzzDecode"},
	{"./sources/erpnext", "FuzzDecode"},
	{"./gateway", "FuzzRequest"},
}

// TestFuzzBriefly runs each fuzz target for a fixed number of inputs (go
// test -fuzz), so that the test command fuzzes on every run; their seed
// corpora run as plain tests in their own packages besides. A failing input
// is written to the package's testdata/fuzz, where it stays a test.
func TestFuzzBriefly(t *testing.T) {
	for _, f := range fuzzTargets {
		t.Run(f.pkg+"/"+f.target, func(t *testing.T) {
			// A count, not a time: Go 1.26's fuzzing coordinator can report
			// its own deadline as "context deadline exceeded" when a busy
			// worker stops late (go.dev/issue/75804). New inputs are not
			// minimized, which also ran into that deadline. A failing input
			// is reported as found.
			cmd := exec.Command("go", "test", "-run", "^$", "-fuzz", "^"+f.target+"$", "-fuzztime", "10000x", "-fuzzminimizetime", "0", f.pkg)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
		})
	}
}
