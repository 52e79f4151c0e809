package main

import (
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
)

// minVersions are the oldest releases of modules the commands may build
// with: releases with published vulnerabilities are below them.
// golang.org/x/image (the charts' TIFF and font code, through gonum's
// plot) had two in v0.30.0; v0.48.0 is the release moved to (issue 11).
var minVersions = map[string]string{
	"golang.org/x/image": "v0.48.0",
}

// The binary builds with no module older than minVersions allows.
func TestNoModuleBelowItsFixedRelease(t *testing.T) {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		t.Skip("no build information in this binary")
	}
	seen := map[string]bool{}
	for _, dep := range info.Deps {
		if dep.Replace != nil {
			dep = dep.Replace
		}
		want, ok := minVersions[dep.Path]
		if !ok {
			continue
		}
		seen[dep.Path] = true
		if older(dep.Version, want) {
			t.Errorf("%s is %s; want %s or later", dep.Path, dep.Version, want)
		}
	}
	for path := range minVersions {
		if !seen[path] {
			t.Errorf("%s is not in the build: update minVersions", path)
		}
	}
}

// older reports whether v is an earlier release than w, both vX.Y.Z.
func older(v, w string) bool {
	a, b := release(v), release(w)
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

func release(v string) [3]int {
	var r [3]int
	core, _, _ := strings.Cut(strings.TrimPrefix(v, "v"), "-")
	for i, part := range strings.SplitN(core, ".", 3) {
		r[i], _ = strconv.Atoi(part)
	}
	return r
}
