package e2e

import (
	"os"
	"path/filepath"
	"testing"
)

// helperSource is a tiny static HTTP client copied into a container (docker
// cp) and run there with docker exec, to reach a node's API on the
// container's own loopback while the node is cut off from every network
// (a disconnected container loses its published ports too). The image is
// FROM scratch: there is no curl or shell to do it.
//
//	e2e-http METHOD PATH [JSON-BODY]   prints the status code, a newline, the body
const helperSource = `package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: e2e-http METHOD PATH [BODY]")
		os.Exit(2)
	}
	var body io.Reader
	if len(os.Args) > 3 {
		body = strings.NewReader(os.Args[3])
	}
	req, err := http.NewRequest(os.Args[1], "http://127.0.0.1:5000"+os.Args[2], body)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	// docker exec runs with the container's environment, token included.
	if tok := os.Getenv("GOSSIPCHAIN_HTTP_TOKEN"); tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := (&http.Client{Timeout: 150 * time.Second}).Do(req)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("%d\n%s", resp.StatusCode, b)
}
`

// httpHelper builds the helper once per run.
func httpHelper(t *testing.T) string {
	t.Helper()
	helperOnce.Do(func() {
		dir := filepath.Join(workDir, "helper")
		if helperErr = os.MkdirAll(dir, 0o755); helperErr != nil {
			return
		}
		if helperErr = os.WriteFile(filepath.Join(dir, "main.go"), []byte(helperSource), 0o644); helperErr != nil {
			return
		}
		if helperErr = os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module e2ehttp\n\ngo 1.22\n"), 0o644); helperErr != nil {
			return
		}
		out := filepath.Join(dir, "e2e-http")
		// GOWORK=off: the helper is its own module, outside any workspace.
		if helperErr = goBuild(dir, out, []string{"GOWORK=off", "GOFLAGS="}, "."); helperErr == nil {
			helperPath = out
		}
	})
	if helperErr != nil {
		t.Fatalf("building the HTTP helper: %v", helperErr)
	}
	return helperPath
}
