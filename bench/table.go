package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
)

// Print writes each result as a table.
func Print(w io.Writer, results []Result) {
	for i, r := range results {
		if i > 0 {
			fmt.Fprintln(w)
		}
		r.Table(w)
	}
}

// PrintJSON writes one JSON object for one result, an array for several.
func PrintJSON(w io.Writer, results []Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if len(results) == 1 {
		return enc.Encode(results[0])
	}
	return enc.Encode(results)
}

type table struct {
	title string
	load  float64
	rows  [][4]string
	notes []string
}

func newTable(title string, load float64) *table { return &table{title: title, load: load} }

func (t *table) row(metric, value, goal, status string) {
	t.rows = append(t.rows, [4]string{metric, value, goal, status})
}

func (t *table) note(format string, args ...any) {
	t.notes = append(t.notes, fmt.Sprintf(format, args...))
}

func (t *table) write(w io.Writer) {
	fmt.Fprintf(w, "== %s (load average before: %.2f)\n", t.title, t.load)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "metric\tvalue\tgoal\t")
	for _, r := range t.rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r[0], r[1], r[2], r[3])
	}
	tw.Flush()
	for _, n := range t.notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
}

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}
