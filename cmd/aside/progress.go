package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// progressEvery is how often a long action says how it goes.
var progressEvery = time.Second

// isTerminal reports whether w is a terminal, where a line can be
// rewritten in place.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// showProgress writes what report says, with the time taken, at once and
// then every progressEvery until the returned stop is called: on a
// terminal one line rewritten in place, elsewhere a line each time (a
// log keeps them all). stop ends the line.
func showProgress(w io.Writer, report func() string) (stop func()) {
	tty, start := isTerminal(w), time.Now()
	say := func() {
		line := fmt.Sprintf("%s (%s)", report(), time.Since(start).Round(100*time.Millisecond))
		if tty {
			fmt.Fprintf(w, "\r\x1b[K%s", line) // back to the start, clear the line
		} else {
			fmt.Fprintln(w, line)
		}
	}
	say()
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				say()
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			<-finished
			if tty {
				fmt.Fprintln(w)
			}
		})
	}
}
