package report

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// File names WriteFiles uses inside its directory.
const (
	ResultsJSON = "results.json"
	ResultsCSV  = "results.csv"
)

// WriteFiles writes every artefact of a report into dir, creating it if
// needed: ResultsJSON, ResultsCSV, ChartSVG and ChartPNG. order is the
// strategies' order for the chart.
func WriteFiles(dir string, rep Report, order []string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	write := func(name string, fn func(io.Writer) error) error {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		if err := fn(f); err != nil {
			f.Close()
			return fmt.Errorf("write %s: %w", name, err)
		}
		return f.Close()
	}
	if err := write(ResultsJSON, func(w io.Writer) error { return WriteJSON(w, rep) }); err != nil {
		return err
	}
	if err := write(ResultsCSV, func(w io.Writer) error { return WriteCSV(w, rep.Results) }); err != nil {
		return err
	}
	return WriteChart(dir, rep, order)
}
