package pidfd

import (
	"errors"
	"os"
	"sync"
	"testing"
)

// TestClose checks that Close behaves as os.File's does, on every system:
// the first call closes, every later one is os.ErrClosed, and nil or zero
// PidFds are os.ErrInvalid.
func TestClose(t *testing.T) {
	watchLeaks(t)
	var none *PidFd
	if err := none.Close(); err != os.ErrInvalid {
		t.Errorf("Close of a nil *PidFd = %v; want os.ErrInvalid", err)
	}
	if err := new(PidFd).Close(); err != os.ErrInvalid {
		t.Errorf("Close of a zero PidFd = %v; want os.ErrInvalid", err)
	}

	p, err := Self()
	if errors.Is(err, errors.ErrUnsupported) {
		t.Skip("no pidfd_open (Linux 5.3) on this system (checked that it says so)")
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("first Close = %v", err)
	}
	if err := p.Close(); err != os.ErrClosed {
		t.Errorf("second Close = %v; want os.ErrClosed", err)
	}

	// Of Closes that race, exactly one closes.
	p, err = Self()
	if err != nil {
		t.Fatal(err)
	}
	const racers = 8
	errs := make(chan error, racers)
	var start sync.WaitGroup
	start.Add(1)
	for range racers {
		go func() {
			start.Wait()
			errs <- p.Close()
		}()
	}
	start.Done()
	closed := 0
	for range racers {
		switch err := <-errs; err {
		case nil:
			closed++
		case os.ErrClosed:
		default:
			t.Errorf("racing Close = %v; want nil or os.ErrClosed", err)
		}
	}
	if closed != 1 {
		t.Errorf("%d of %d racing Closes closed; want 1", closed, racers)
	}
}
