package report

import (
	"bytes"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Handler serves a results store: at / the index of its runs and
// campaigns, listed afresh on each request; each run directory's report
// (rendered on the fly for runs stored before reports existed); and the
// store's files. Nothing outside the store is reachable, symbolic links
// included (os.Root), and names starting with a dot are hidden.
type Handler struct {
	dir   string
	root  *os.Root
	files http.Handler
}

// NewHandler opens the store dir; Close releases it.
func NewHandler(dir string) (*Handler, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("results store: %w", err)
	}
	return &Handler{dir: dir, root: root, files: http.FileServerFS(root.FS())}, nil
}

// Close releases the store.
func (h *Handler) Close() error { return h.root.Close() }

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Cache-Control", "no-cache")
	clean := path.Clean("/" + r.URL.Path)
	rel := strings.TrimPrefix(clean, "/")
	for _, part := range strings.Split(rel, "/") {
		if strings.HasPrefix(part, ".") {
			http.NotFound(w, r)
			return
		}
	}
	fsys := h.root.FS()
	switch {
	case rel == "" || rel == IndexFile:
		h.page(w, r, func(b *bytes.Buffer) error { return RenderIndex(b, fsys, h.dir) })
		return
	case exists(fsys, rel+"/"+resultsFile) && !exists(fsys, rel+"/"+IndexFile):
		if !strings.HasSuffix(r.URL.Path, "/") {
			http.Redirect(w, r, path.Base(clean)+"/", http.StatusMovedPermanently)
			return
		}
		sub, err := fs.Sub(fsys, rel)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		h.page(w, r, func(b *bytes.Buffer) error { return Render(b, sub, filepath.Join(h.dir, filepath.FromSlash(rel))) })
		return
	}
	h.files.ServeHTTP(w, r)
}

// page renders a page into memory first, so that an error is a clean 500.
func (h *Handler) page(w http.ResponseWriter, r *http.Request, render func(*bytes.Buffer) error) {
	var buf bytes.Buffer
	if err := render(&buf); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if r.Method == http.MethodHead {
		return
	}
	w.Write(buf.Bytes())
}
