package bench

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// The tutorial's resolve, measured in the same run as the coinbase-only
// sync it is compared with (issue 12): its Flask app end to end over HTTP
// (tutorial_flask.py), and its valid_chain with the JSON parsing in one
// process, with and without its prints (tutorial_resolve.py).

//go:embed tutorial_flask.py
var tutorialFlask []byte

//go:embed tutorial_resolve.py
var tutorialResolve []byte

// TutorialResult is the tutorial's resolve rates, in blocks/s; zero where
// a script could not run (Error says why).
type TutorialResult struct {
	HTTP      float64 `json:"http_blocks_per_s"`       // GET /nodes/resolve, Flask, with prints
	InProcess float64 `json:"in_process_blocks_per_s"` // valid_chain + JSON, with prints
	NoPrints  float64 `json:"no_prints_blocks_per_s"`  // valid_chain + JSON, without prints
	Error     string  `json:"error,omitempty"`
}

var blocksPerS = regexp.MustCompile(`= ([0-9,]+) blocks/s`)

// measureTutorial runs both scripts with python3 on a chain of n blocks.
func measureTutorial(ctx context.Context, dir string, n int, logf func(string, ...any)) *TutorialResult {
	r := &TutorialResult{}
	py, err := exec.LookPath("python3")
	if err != nil {
		r.Error = "python3 not found"
		return r
	}
	run := func(name string, script []byte) ([]float64, error) {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, script, 0o644); err != nil {
			return nil, err
		}
		cmd := exec.CommandContext(ctx, py, path, strconv.Itoa(n))
		var errb bytes.Buffer
		cmd.Stderr = &errb
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("%s: %v: %s", name, err, lastLine(errb.String()))
		}
		var rates []float64
		for _, m := range blocksPerS.FindAllStringSubmatch(errb.String(), -1) {
			v, _ := strconv.ParseFloat(strings.ReplaceAll(m[1], ",", ""), 64)
			rates = append(rates, v)
		}
		return rates, nil
	}
	logf("tutorial: /nodes/resolve over HTTP, %d blocks", n)
	if rates, err := run("tutorial_flask.py", tutorialFlask); err != nil {
		r.Error = err.Error()
	} else if len(rates) == 1 {
		r.HTTP = rates[0]
	}
	logf("tutorial: valid_chain in process, %d blocks", n)
	if rates, err := run("tutorial_resolve.py", tutorialResolve); err != nil {
		r.Error = strings.TrimPrefix(r.Error+"; "+err.Error(), "; ")
	} else if len(rates) == 2 {
		r.InProcess, r.NoPrints = rates[0], rates[1]
	}
	return r
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
