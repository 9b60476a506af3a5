package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// A fakeBoot is what one boot of a fake machine does.
type fakeBoot int

const (
	passes       fakeBoot = iota // starts init; the tests exit 0
	fails                        // starts init; the tests exit 1
	diesEarly                    // stops before init starts (a boot oops)
	hangsEarly                   // never starts init, never stops by itself
	diesAfter                    // starts init, then stops without a result
	passesSlowly                 // starts init, then takes 3 start timeouts to pass
)

const fakeStartTimeout = 200 * time.Millisecond

// fakeMachine returns a bootFunc that plays boots in turn, and the count of
// boots made.
func fakeMachine(t *testing.T, boots ...fakeBoot) (bootFunc, *int) {
	n := new(int)
	return func(ctx context.Context, started func()) (int, error) {
		if *n == len(boots) {
			t.Fatalf("boot %d: the script has only %d", *n+1, len(boots))
		}
		b := boots[*n]
		*n++
		switch b {
		case passes:
			started()
			return 0, nil
		case fails:
			started()
			return 1, nil
		case diesEarly:
			return 0, errors.New("the machine stopped without a result (exit status 1)")
		case hangsEarly:
			<-ctx.Done()
			return 0, errors.New("the machine stopped without a result (signal: killed)")
		case diesAfter:
			started()
			return 0, errors.New("the machine stopped without a result (exit status 1)")
		case passesSlowly:
			started()
			select {
			case <-ctx.Done():
				return 0, errors.New("stopped while its tests ran")
			case <-time.After(3 * fakeStartTimeout):
				return 0, nil
			}
		}
		panic("unknown fake boot")
	}, n
}

func TestBootUntilStarted(t *testing.T) {
	const retried = "vmtest: Linux 6.12 did not start the tests: "
	for _, tt := range []struct {
		name    string
		boots   []fakeBoot
		code    int
		err     string // "" for none
		retried string // the reason the retry gives, "" if none
	}{
		{"first boot passes", []fakeBoot{passes}, 0, "", ""},
		{"tests fail: no retry", []fakeBoot{fails}, 1, "", ""},
		{"dies before init, then passes", []fakeBoot{diesEarly, passes}, 0, "", "exit status 1"},
		{"dies before init, then the tests fail", []fakeBoot{diesEarly, fails}, 1, "", "exit status 1"},
		{"hangs before init, then passes", []fakeBoot{hangsEarly, passes}, 0, "", "init had not started within 200ms"},
		{"dies before init twice: one retry only", []fakeBoot{diesEarly, diesEarly}, 0, "without a result", "exit status 1"},
		{"hangs, then dies, before init", []fakeBoot{hangsEarly, diesEarly}, 0, "without a result", "init had not started within 200ms"},
		{"dies, then hangs, before init", []fakeBoot{diesEarly, hangsEarly}, 0, "init had not started within 200ms", "exit status 1"},
		{"dies after init: no retry", []fakeBoot{diesAfter}, 0, "without a result", ""},
		{"tests outlast the start timeout", []fakeBoot{passesSlowly}, 0, "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			boot, n := fakeMachine(t, tt.boots...)
			var log strings.Builder
			code, err := bootUntilStarted(context.Background(), fakeStartTimeout, &log, "Linux 6.12", boot)
			if *n != len(tt.boots) {
				t.Errorf("%d boots; want %d", *n, len(tt.boots))
			}
			if code != tt.code {
				t.Errorf("code %d; want %d", code, tt.code)
			}
			if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Errorf("error %v; want %q", err, tt.err)
			}
			if tt.retried == "" {
				if log.Len() > 0 {
					t.Errorf("said %q; want nothing", log.String())
				}
				return
			}
			if !strings.HasPrefix(log.String(), retried) || !strings.Contains(log.String(), tt.retried) ||
				!strings.Contains(log.String(), "; retrying: booting it once more (boot 2 of 2)\n") || strings.Count(log.String(), "\n") != 1 {
				t.Errorf("said %q; want one line %q…%q…", log.String(), retried, tt.retried)
			}
		})
	}
}

// A run out of time is not a failed boot: no retry.
func TestBootUntilStartedOutOfTime(t *testing.T) {
	boot, n := fakeMachine(t, hangsEarly, passes)
	ctx, cancel := context.WithTimeout(context.Background(), fakeStartTimeout)
	defer cancel()
	var log strings.Builder
	if _, err := bootUntilStarted(ctx, time.Hour, &log, "Linux 6.12", boot); err == nil {
		t.Errorf("no error from a run out of time")
	}
	if *n != 1 || log.Len() > 0 {
		t.Errorf("%d boots, said %q; want 1 boot and nothing said", *n, log.String())
	}
}
