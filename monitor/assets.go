package monitor

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"sync"
	"time"
)

// The dashboard: a page, a script and a style sheet, served from the
// binary. It draws its charts in SVG and loads nothing from elsewhere.
//
//go:embed dashboard
var dashboardFiles embed.FS

// staticFile is one embedded file, ready to serve.
type staticFile struct {
	body        []byte
	contentType string
	etag        string // of the content: a browser revalidates, and gets 304 until a new binary
}

// staticFiles reads the embedded files once.
var staticFiles = sync.OnceValue(func() map[string]staticFile {
	types := map[string]string{
		".html": "text/html; charset=utf-8",
		".js":   "text/javascript; charset=utf-8",
		".css":  "text/css; charset=utf-8",
		".svg":  "image/svg+xml",
	}
	files := map[string]staticFile{}
	entries, _ := fs.ReadDir(dashboardFiles, "dashboard")
	for _, e := range entries {
		body, _ := dashboardFiles.ReadFile("dashboard/" + e.Name())
		sum := sha256.Sum256(body)
		files[e.Name()] = staticFile{body: body, contentType: types[path.Ext(e.Name())],
			etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
	}
	return files
})

// hasAsset reports whether name is a file of the dashboard (the page is
// served at the prefix itself, not by its name).
func hasAsset(name string) bool {
	_, ok := staticFiles()[name]
	return ok && name != "index.html"
}

// serveAsset answers with an embedded file, or 304 to a browser that has it.
func serveAsset(w http.ResponseWriter, r *http.Request, name string) {
	f := staticFiles()[name]
	h := w.Header()
	h.Set("Content-Type", f.contentType)
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", f.etag)
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(f.body))
}
