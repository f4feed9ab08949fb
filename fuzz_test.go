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

// TestFuzzBriefly runs each fuzz target for a short fixed time (go test
// -fuzz), so that the test command fuzzes on every run; their seed corpora
// run as plain tests in their own packages besides. A failing input is
// written to the package's testdata/fuzz, where it stays a test.
func TestFuzzBriefly(t *testing.T) {
	for _, f := range fuzzTargets {
		t.Run(f.pkg+"/"+f.target, func(t *testing.T) {
			// New inputs are not minimized: the fuzz time running out in the
			// middle of that fails the run (on a busy machine, often). A
			// failing input is reported as found.
			cmd := exec.Command("go", "test", "-run", "^$", "-fuzz", "^"+f.target+"$", "-fuzztime", "4s", "-fuzzminimizetime", "0", f.pkg)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
		})
	}
}
