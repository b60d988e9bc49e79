package main

import (
	"io"
	"os"
)

// isTerminal reports whether w is a character device, where colour helps,
// and NO_COLOR (no-color.org) is not set.
func isTerminal(w io.Writer) bool {
	if os.Getenv("NO_COLOR") != "" {
		return false
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
