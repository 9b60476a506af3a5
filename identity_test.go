//go:build linux

package pidfd

import (
	"bytes"
	"errors"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/pidfd-go/pidfd/internal/leakcheck"
	"github.com/pidfd-go/pidfd/internal/testchild"
)

func TestIDAndEqual(t *testing.T) {
	leakcheck.Check(t)
	self, err := Self()
	if err != nil {
		t.Fatal(err)
	}
	defer self.Close()
	again, err := Self()
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	cmd, child := startChild(t, testchild.Exit, "0")

	if !self.Equal(again) || self.Equal(child) || child.Equal(self) || self.Equal(nil) {
		t.Errorf("Equal: self~self %v, self~child %v, child~self %v, self~nil %v; want true, false, false, false",
			self.Equal(again), self.Equal(child), child.Equal(self), self.Equal(nil))
	}
	if !self.equalByPID(again) || self.equalByPID(child) {
		t.Error("Equal by PID (kernels without pidfs) is wrong")
	}

	id, err := self.ID()
	if !KernelFeatures().IDs {
		if !errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("ID without pidfs = %d, %v; want errors.ErrUnsupported", id, err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if id2, err := again.ID(); err != nil || id2 != id {
		t.Errorf("two pidfds of one process: IDs %d and %d (%v)", id, id2, err)
	}
	childID, err := child.ID()
	if err != nil || childID == id {
		t.Errorf("child ID %d (%v), self ID %d; want different", childID, err, id)
	}
	if kernelIs64Bit() {
		if ino := fdinfoIno(t, self); ino != id {
			t.Errorf("ID = %d; fdinfo shows inode %d", id, ino)
		}
	}
	if _, err := child.Wait(); err != nil {
		t.Fatal(err)
	}
	if after, err := child.ID(); err != nil || after != childID {
		t.Errorf("ID after reaping = %d, %v; want %d", after, err, childID)
	}
	_ = cmd
}

func fdinfoIno(t *testing.T, p *PidFd) uint64 {
	t.Helper()
	data, err := os.ReadFile("/proc/self/fdinfo/" + strconv.Itoa(int(p.Fd())))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, "ino:"); ok {
			ino, err := strconv.ParseUint(strings.TrimSpace(rest), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return ino
		}
	}
	t.Fatal("no ino: line in fdinfo")
	return 0
}

func TestIdentity(t *testing.T) {
	leakcheck.Check(t)
	_, child := startChild(t, testchild.Sleep)
	id, err := child.Identity()
	if err != nil {
		t.Fatal(err)
	}
	if id.PID != mustPIDOf(t, child) || id.StartTime == 0 || (KernelFeatures().IDs && id.ID == 0) {
		t.Errorf("Identity = %+v", id)
	}
	bin, _ := id.MarshalBinary()
	text, _ := id.MarshalText()
	var fromBin, fromText Identity
	if err := fromBin.UnmarshalBinary(bin); err != nil || fromBin != id {
		t.Errorf("binary round trip = %+v, %v; want %+v", fromBin, err, id)
	}
	if err := fromText.UnmarshalText(text); err != nil || fromText != id {
		t.Errorf("text round trip of %s = %+v, %v", text, fromText, err)
	}
	for name, stored := range map[string]Identity{"as taken": id, "without pidfs ID": {Boot: id.Boot, PID: id.PID, StartTime: id.StartTime}} {
		again, err := OpenIdentity(stored)
		if err != nil {
			t.Fatalf("OpenIdentity(%s): %v", name, err)
		}
		if !again.Equal(child) {
			t.Errorf("OpenIdentity(%s) opened another process", name)
		}
		again.Close()
	}
	otherBoot := id
	otherBoot.Boot[0] ^= 1
	if p, err := OpenIdentity(otherBoot); !errors.Is(err, os.ErrProcessDone) {
		p.Close()
		t.Errorf("OpenIdentity from another boot = %v; want os.ErrProcessDone", err)
	}
	child.Kill()
	child.Wait()
	if p, err := OpenIdentity(id); !errors.Is(err, os.ErrProcessDone) {
		p.Close()
		t.Errorf("OpenIdentity of a reaped process = %v; want os.ErrProcessDone", err)
	}
	for _, bad := range []string{"", "pidfd1", "pidfd2-00-1-2-3", "pidfd1-zz-1-2-3", string(text) + "-4"} {
		var x Identity
		if err := x.UnmarshalText([]byte(bad)); !errors.Is(err, os.ErrInvalid) {
			t.Errorf("UnmarshalText(%q) = %v; want os.ErrInvalid", bad, err)
		}
	}
	var x Identity
	if err := x.UnmarshalBinary(bin[:20]); !errors.Is(err, os.ErrInvalid) {
		t.Errorf("UnmarshalBinary(short) = %v; want os.ErrInvalid", err)
	}
}

// TestIdentityEncodings checks that each encoding carries every identity it
// accepts back exactly, refuses the others when marshalling, and that
// UnmarshalText takes only the one text MarshalText writes.
func TestIdentityEncodings(t *testing.T) {
	leakcheck.Check(t)
	boot := [16]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	for _, id := range []Identity{
		{},
		{Boot: boot, PID: 1, StartTime: 1234, ID: 5678},
		{Boot: boot, PID: math.MaxInt32, StartTime: math.MaxUint64, ID: math.MaxUint64},
	} {
		bin, err := id.MarshalBinary()
		var fromBin Identity
		if err != nil || fromBin.UnmarshalBinary(bin) != nil || fromBin != id {
			t.Errorf("binary round trip of %+v: %+v, %v", id, fromBin, err)
		}
		text, err := id.MarshalText()
		var fromText Identity
		if err != nil || fromText.UnmarshalText(text) != nil || fromText != id {
			t.Errorf("text round trip of %+v via %q: %+v, %v", id, text, fromText, err)
		}
	}

	// A PID is a pid_t: negative ones name no process, and neither encoding
	// can carry more than 31 bits.
	one := 1 // shifted at run time: 1<<32 is no int constant on 32-bit platforms
	badPIDs := []int{-1, math.MinInt32, math.MinInt}
	if strconv.IntSize == 64 {
		badPIDs = append(badPIDs, math.MaxInt32+one, one<<32, one<<32+1002, math.MaxInt)
	}
	for _, pid := range badPIDs {
		id := Identity{Boot: boot, PID: pid, StartTime: 1234, ID: 5678}
		if b, err := id.MarshalBinary(); !errors.Is(err, os.ErrInvalid) || b != nil {
			t.Errorf("MarshalBinary of PID %d = %x, %v; want os.ErrInvalid", pid, b, err)
		}
		if b, err := id.MarshalText(); !errors.Is(err, os.ErrInvalid) || b != nil {
			t.Errorf("MarshalText of PID %d = %q, %v; want os.ErrInvalid", pid, b, err)
		}
	}
	bin, err := Identity{Boot: boot, PID: 1002}.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	bin[17] |= 0x80 // the PID's sign bit: MarshalBinary never sets it
	var x Identity
	if err := x.UnmarshalBinary(bin); !errors.Is(err, os.ErrInvalid) {
		t.Errorf("UnmarshalBinary of a negative PID = %+v, %v; want os.ErrInvalid", x, err)
	}

	const canonical = "pidfd1-000102030405060708090a0b0c0d0e0f-1002-1234-5678"
	if err := x.UnmarshalText([]byte(canonical)); err != nil || x != (Identity{Boot: boot, PID: 1002, StartTime: 1234, ID: 5678}) {
		t.Fatalf("UnmarshalText(%q) = %+v, %v", canonical, x, err)
	}
	for _, text := range []string{
		"pidfd1-000102030405060708090a0b0c0d0e0f-+1002-1234-5678",
		"pidfd1-000102030405060708090a0b0c0d0e0f-01002-1234-5678",
		"pidfd1-000102030405060708090a0b0c0d0e0f-1002-01234-5678",
		"pidfd1-000102030405060708090a0b0c0d0e0f-1002-1234-05678",
		"pidfd1-000102030405060708090a0b0c0d0e0f-1002-+1234-5678",
		"pidfd1-000102030405060708090a0b0c0d0e0f-00-1234-5678",
		"pidfd1-000102030405060708090a0b0c0d0e0f-1_002-1234-5678",
		"pidfd1-000102030405060708090a0b0c0d0e0f-2147483648-1234-5678",
		"pidfd1-000102030405060708090A0B0C0D0E0F-1002-1234-5678",
		"pidfd1-000102030405060708090a0b0c0d0e0F-1002-1234-5678",
		"PIDFD1-000102030405060708090a0b0c0d0e0f-1002-1234-5678",
		"pidfd01-000102030405060708090a0b0c0d0e0f-1002-1234-5678",
		" pidfd1-000102030405060708090a0b0c0d0e0f-1002-1234-5678",
		"pidfd1-000102030405060708090a0b0c0d0e0f-1002-1234-5678\n",
		"pidfd1-000102030405060708090a0b0c0d0e0f- 1002-1234-5678",
		"pidfd1-000102030405060708090a0b0c0d0e0f-1002-1234-5678\x00",
	} {
		var x Identity
		if err := x.UnmarshalText([]byte(text)); !errors.Is(err, os.ErrInvalid) {
			t.Errorf("UnmarshalText(%q) = %+v, %v; want os.ErrInvalid", text, x, err)
		}
	}
}

// FuzzIdentityText checks that the text form is canonical: any text that
// UnmarshalText accepts is exactly what MarshalText writes for the result.
func FuzzIdentityText(f *testing.F) {
	f.Add("pidfd1-000102030405060708090a0b0c0d0e0f-42-1234-5678")
	f.Add("pidfd1-000102030405060708090a0b0c0d0e0f-+42-1234-5678")
	f.Add("pidfd1-000102030405060708090A0B0C0D0E0F-42-01234-5678")
	f.Add("")
	f.Fuzz(func(t *testing.T, text string) {
		var id Identity
		if id.UnmarshalText([]byte(text)) != nil {
			return
		}
		again, err := id.MarshalText()
		if err != nil || string(again) != text {
			t.Fatalf("%q decodes to %+v, which encodes to %q, %v", text, id, again, err)
		}
	})
}

// FuzzIdentityEncodings checks that both encodings carry back exactly every
// identity they accept, that they accept the same identities, and that any
// bytes UnmarshalBinary accepts are exactly what MarshalBinary writes.
func FuzzIdentityEncodings(f *testing.F) {
	f.Add([]byte("0123456789abcdef"), 42, uint64(1234), uint64(5678), []byte{})
	f.Add([]byte{}, -1, uint64(0), uint64(0), append([]byte{identityVersion}, make([]byte, 36)...))
	f.Add([]byte{}, math.MinInt32, uint64(0), uint64(0), append([]byte{identityVersion}, bytes.Repeat([]byte{0xff}, 36)...))
	f.Fuzz(func(t *testing.T, boot []byte, pid int, start, pidfsID uint64, encoded []byte) {
		id := Identity{PID: pid, StartTime: start, ID: pidfsID}
		copy(id.Boot[:], boot)
		bin, binErr := id.MarshalBinary()
		text, textErr := id.MarshalText()
		if (binErr == nil) != (textErr == nil) {
			t.Fatalf("%+v: MarshalBinary %v, MarshalText %v; want both or neither", id, binErr, textErr)
		}
		if binErr == nil {
			var fromBin, fromText Identity
			if err := fromBin.UnmarshalBinary(bin); err != nil || fromBin != id {
				t.Fatalf("%+v encodes to %x, which decodes to %+v, %v", id, bin, fromBin, err)
			}
			if err := fromText.UnmarshalText(text); err != nil || fromText != id {
				t.Fatalf("%+v encodes to %q, which decodes to %+v, %v", id, text, fromText, err)
			}
		} else if !errors.Is(binErr, os.ErrInvalid) || !errors.Is(textErr, os.ErrInvalid) {
			t.Fatalf("%+v: MarshalBinary %v, MarshalText %v; want os.ErrInvalid", id, binErr, textErr)
		}
		var decoded Identity
		if decoded.UnmarshalBinary(encoded) != nil {
			return
		}
		if again, err := decoded.MarshalBinary(); err != nil || !bytes.Equal(again, encoded) {
			t.Fatalf("%x decodes to %+v, which encodes to %x, %v", encoded, decoded, again, err)
		}
	})
}
