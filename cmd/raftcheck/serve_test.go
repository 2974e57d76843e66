package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestServeBadFlagsExit3(t *testing.T) {
	for _, args := range [][]string{
		{"serve", "--addr", "not an address"},
		{"serve", "--results", "/does/not/exist"},
		{"serve", "--bogus"},
		{"serve", "extra"},
	} {
		if code, out := raftcheck(t, args...); code != exitHarness || !strings.Contains(out, "raftcheck") {
			t.Errorf("raftcheck %q: exit %d, want 3 with a message; output:\n%s", args, code, out)
		}
	}
}

// serving is a raftcheck serve running in the test.
type serving struct {
	URL  string // http://127.0.0.1:PORT
	stop func() int
}

// startServe runs `raftcheck serve --addr 127.0.0.1:0` on results and
// reads the address it prints.
func startServe(t *testing.T, results string) serving {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--results", results}, pw, pw)
		pw.Close()
	}()
	addr := make(chan string, 1)
	read := make(chan struct{}) // closed when serve's output ends
	go func() {
		defer close(read)
		re := regexp.MustCompile(`at (http://\S+?)/? `)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
			t.Log(sc.Text())
		}
	}()
	var url string
	select {
	case url = <-addr:
	case <-time.After(10 * time.Second):
	}
	if url == "" {
		cancel()
		t.Fatal("raftcheck serve did not print its address")
	}
	stopped := false
	s := serving{URL: url, stop: func() int {
		if stopped {
			return exitValid
		}
		stopped = true
		cancel()
		select {
		case c := <-code:
			<-read
			return c
		case <-time.After(10 * time.Second):
			t.Error("raftcheck serve did not stop")
			return -1
		}
	}}
	t.Cleanup(func() { s.stop() })
	return s
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v\n%s", url, resp.StatusCode, err, b)
	}
	return string(b)
}

// A run written while serve runs appears on reload, links to its report,
// and serve exits 0 when stopped.
func TestServeListsNewRuns(t *testing.T) {
	dir := t.TempDir()
	s := startServe(t, dir)
	if page := httpGet(t, s.URL+"/"); !strings.Contains(page, "no runs yet") {
		t.Fatalf("index of an empty store:\n%s", page)
	}
	if code, out := raftcheck(t, "test", "--backend", "sim", "--seed", "3", "--time-limit", "5s", "--results", dir); code != exitValid {
		t.Fatalf("sim run: exit %d\n%s", code, out)
	}
	latest, err := os.Readlink(filepath.Join(dir, "latest"))
	if err != nil {
		t.Fatal(err)
	}
	index := httpGet(t, s.URL+"/")
	link := filepath.ToSlash(latest) + "/index.html"
	if !strings.Contains(index, `href="`+link+`"`) || !strings.Contains(index, `class="run valid"`) {
		t.Fatalf("index does not list the new run %s:\n%s", link, index)
	}
	if page := httpGet(t, s.URL+"/"+link); !strings.Contains(page, ">VALID<") || !strings.Contains(page, "<svg") {
		t.Errorf("report of the new run:\n%.2000s", page)
	}
	if code := s.stop(); code != exitValid {
		t.Errorf("serve exited %d after a clean shutdown, want 0", code)
	}
}

// chromium finds a Chromium to drive, or skips.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no chromium or chromium-browser on PATH: the real-browser test of raftcheck serve is skipped (apt-get install chromium)")
	return ""
}

// browse loads url in headless Chromium, saves a screenshot to png and
// returns the DOM as rendered. One run does both where Chromium allows
// it; older ones take a second run for the screenshot.
func browse(t *testing.T, bin, url, png string) string {
	t.Helper()
	args := []string{"--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1280,2000",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-breakpad",
		"--user-data-dir=" + t.TempDir()}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stderr strings.Builder
	cmd := exec.CommandContext(ctx, bin, append(args, "--screenshot="+png, "--dump-dom", url)...)
	cmd.Stderr = &stderr
	dom, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom %s: %v\n%s", url, err, stderr.String())
	}
	if _, err := os.Stat(png); err != nil {
		if out, err := exec.CommandContext(ctx, bin, append(args, "--screenshot="+png, url)...).CombinedOutput(); err != nil {
			t.Fatalf("chromium --screenshot %s: %v\n%s", url, err, out)
		}
	}
	if st, err := os.Stat(png); err != nil || st.Size() == 0 {
		t.Fatalf("no screenshot of %s: %v", url, err)
	}
	return string(dom)
}

// evidence copies a file to $RAFTCHECK_EVIDENCE_DIR when it is set.
func evidence(t *testing.T, path string) {
	t.Helper()
	dir := os.Getenv("RAFTCHECK_EVIDENCE_DIR")
	if dir == "" {
		return
	}
	b, err := os.ReadFile(path)
	if err == nil {
		err = os.MkdirAll(dir, 0o755)
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, filepath.Base(path)), b, 0o644)
	}
	if err != nil {
		t.Errorf("copy evidence: %v", err)
	}
}

// The index and a report, as headless Chromium renders them from serve.
func TestServeInBrowser(t *testing.T) {
	bin := chromium(t)
	dir := t.TempDir()
	if code, out := raftcheck(t, "test", "--backend", "sim", "--seed", "3", "--time-limit", "5s", "--results", dir); code != exitValid {
		t.Fatalf("sim run: exit %d\n%s", code, out)
	}
	s := startServe(t, dir)
	if code, out := raftcheck(t, "sim", "--seeds", "5", "--unsafe", "stale-reads", "--time-limit", "10s", "--results", dir); code != exitInvalid {
		t.Fatalf("stale reads: exit %d\n%s", code, out)
	}
	invalid, err := os.Readlink(filepath.Join(dir, "latest"))
	if err != nil {
		t.Fatal(err)
	}
	shots := t.TempDir()
	index := browse(t, bin, s.URL+"/", filepath.Join(shots, "serve-index.png"))
	for _, want := range []string{"raftcheck results", "2 runs: 1 valid, 1 invalid", "raftnode-register-sim-unsafe-stale-reads",
		`class="run invalid"`, `class="run valid"`, filepath.ToSlash(invalid) + "/index.html"} {
		if !strings.Contains(index, want) {
			t.Errorf("index as rendered lacks %q", want)
		}
	}
	page := browse(t, bin, s.URL+"/"+filepath.ToSlash(invalid)+"/index.html", filepath.Join(shots, "serve-report.png"))
	for _, want := range []string{`class="verdict invalid"`, "INVALID", "--unsafe stale-reads", "<svg", `id="latency-plot"`,
		`id="rate-plot"`, `<tr class="fault">`, `href="history.html"`, `id="failing-keys"`} {
		if !strings.Contains(page, want) {
			t.Errorf("report as rendered lacks %q", want)
		}
	}
	for _, png := range []string{"serve-index.png", "serve-report.png"} {
		t.Logf("screenshot: %s", filepath.Join(shots, png))
		evidence(t, filepath.Join(shots, png))
	}
	if code := s.stop(); code != exitValid {
		t.Errorf("serve exited %d, want 0", code)
	}
}
