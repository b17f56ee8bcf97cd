package main

import (
	"os"
	"runtime"
	"testing"
)

// The test binary must run as the target: `xbuild test` sets TARGETARCH, and GOARCH builds
// the test binary for it. A host build of this test fails here.
func TestRunsAsTarget(t *testing.T) {
	want := os.Getenv("TARGETARCH")
	if want == "" {
		t.Fatal("TARGETARCH is not set: run through xbuild test")
	}
	if runtime.GOARCH != want {
		t.Fatalf("test binary is %s, target is %s", runtime.GOARCH, want)
	}
	t.Logf("test binary ran as GOARCH=%s", runtime.GOARCH)
}
