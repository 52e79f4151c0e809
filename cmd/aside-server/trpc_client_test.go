package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestStockTRPCClient calls the monitoring procedures with the real
// @trpc/client (v11) in Node.js, unchanged: httpBatchLink batching,
// mutations with a bearer token, and the error envelope it decodes into
// TRPCClientError. make test installs Node.js and the client
// (scripts/services.sh).
func TestStockTRPCClient(t *testing.T) {
	dir := filepath.Join("testdata", "trpc-client")
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(dir, "node_modules", "@trpc", "client"))
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("Node.js or @trpc/client missing and CI is set (make test installs them): %v", err)
		}
		t.Skipf("Node.js or @trpc/client missing (make test installs them): %v", err)
	}
	s := start(t, env{"ASIDE_ADMIN_TOKEN": "node-admin-token"})
	var u user
	s.must(201, "POST", "/api/users", map[string]any{"openId": "from-node", "password": testPassword}, &u)
	s.must(200, "GET", fmt.Sprintf("/api/users/%d", u.ID), nil, nil)
	s.must(200, "GET", fmt.Sprintf("/api/users/%d", u.ID), nil, nil)

	cmd := exec.Command(node, "check.mjs", s.base, "node-admin-token")
	cmd.Dir = dir
	raw, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("node check.mjs: %v\n%s", err, stderr)
	}
	var got struct {
		Stats struct {
			Hits             uint64 `json:"hits"`
			HitRateFormatted string `json:"hitRateFormatted"`
		} `json:"stats"`
		Pattern, Clear struct {
			Success bool `json:"success"`
			Deleted int  `json:"deleted"`
		}
		Anonymous struct {
			Code       string `json:"code"`
			HTTPStatus int    `json:"httpStatus"`
		} `json:"anonymous"`
		BadPattern struct {
			Code string `json:"code"`
		} `json:"badPattern"`
	}
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	if got.Stats.Hits != 1 || got.Stats.HitRateFormatted != "50.00%" {
		t.Errorf("cacheStats through @trpc/client = %+v; want 1 hit, 50.00%%", got.Stats)
	}
	// user:<id>; the tombstone the user's creation left on its open id
	// goes too, but is no entry.
	if !got.Pattern.Success || got.Pattern.Deleted != 1 || !got.Clear.Success {
		t.Errorf("mutations through @trpc/client: pattern %+v, clear %+v; want success, the user's entry deleted", got.Pattern, got.Clear)
	}
	if got.Anonymous.Code != "UNAUTHORIZED" || got.Anonymous.HTTPStatus != 401 {
		t.Errorf("a mutation without the token through @trpc/client = %+v; want a TRPCClientError UNAUTHORIZED 401", got.Anonymous)
	}
	if got.BadPattern.Code != "BAD_REQUEST" {
		t.Errorf("an empty pattern through @trpc/client = %+v; want BAD_REQUEST", got.BadPattern)
	}
}
