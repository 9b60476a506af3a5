package pidfd

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
)

// Identity names a process for the life of the system, in a form that can
// be stored (a state file, a database) and turned back into a PidFd later
// with [OpenIdentity]. It holds the boot it belongs to, the PID, the start
// time and, where the kernel has IDs, the ID that [PidFd.ID] returns; the
// zero Identity names nothing. [PidFd.Identity] makes one.
type Identity struct {
	Boot      [16]byte // /proc/sys/kernel/random/boot_id
	PID       int      // in the PID namespace where the identity was taken
	StartTime uint64   // clock ticks after boot (/proc/PID/stat)
	ID        uint64   // PidFd.ID, 0 where the kernel has none
}

const identityVersion = 1

// encodable refuses an identity that the encodings could not carry back
// exactly: a PID is a pid_t, and a negative one names no process.
func (id Identity) encodable() error {
	if id.PID < 0 || id.PID > math.MaxInt32 {
		return fmt.Errorf("pidfd: cannot encode an identity with PID %d, not a pid_t of a process: %w", id.PID, os.ErrInvalid)
	}
	return nil
}

// MarshalBinary encodes the identity in 37 bytes: a version, the boot ID,
// the PID, the start time and the ID, big-endian. It refuses, with
// [os.ErrInvalid], a PID that no process can have: negative, or beyond 31
// bits.
func (id Identity) MarshalBinary() ([]byte, error) {
	if err := id.encodable(); err != nil {
		return nil, err
	}
	b := make([]byte, 0, 37)
	b = append(b, identityVersion)
	b = append(b, id.Boot[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(id.PID))
	b = binary.BigEndian.AppendUint64(b, id.StartTime)
	return binary.BigEndian.AppendUint64(b, id.ID), nil
}

// UnmarshalBinary decodes what MarshalBinary made, and nothing else.
func (id *Identity) UnmarshalBinary(b []byte) error {
	bad := fmt.Errorf("pidfd: not an encoded identity (%d bytes): %w", len(b), os.ErrInvalid)
	if len(b) != 37 || b[0] != identityVersion {
		return bad
	}
	var out Identity
	copy(out.Boot[:], b[1:17])
	pid := binary.BigEndian.Uint32(b[17:21])
	if pid > math.MaxInt32 {
		return bad
	}
	out.PID = int(pid)
	out.StartTime = binary.BigEndian.Uint64(b[21:29])
	out.ID = binary.BigEndian.Uint64(b[29:37])
	*id = out
	return nil
}

// MarshalText encodes the identity as "pidfd1-BOOT-PID-START-ID", the boot
// ID in lower-case hex and the numbers in decimal. It refuses what
// MarshalBinary refuses.
func (id Identity) MarshalText() ([]byte, error) {
	if err := id.encodable(); err != nil {
		return nil, err
	}
	return fmt.Appendf(nil, "pidfd%d-%x-%d-%d-%d", identityVersion, id.Boot, id.PID, id.StartTime, id.ID), nil
}

// UnmarshalText decodes what MarshalText made, and nothing else: an
// identity has one text, without signs, leading zeros, upper-case hex or
// blanks.
func (id *Identity) UnmarshalText(text []byte) error {
	parts := strings.Split(string(text), "-")
	bad := fmt.Errorf("pidfd: not an identity: %q: %w", text, os.ErrInvalid)
	if len(parts) != 5 || parts[0] != fmt.Sprintf("pidfd%d", identityVersion) || len(parts[1]) != 32 {
		return bad
	}
	var out Identity
	if _, err := hex.Decode(out.Boot[:], []byte(parts[1])); err != nil {
		return bad
	}
	pid, err := strconv.ParseInt(parts[2], 10, 32)
	if err != nil {
		return bad
	}
	out.PID = int(pid)
	if out.StartTime, err = strconv.ParseUint(parts[3], 10, 64); err != nil {
		return bad
	}
	if out.ID, err = strconv.ParseUint(parts[4], 10, 64); err != nil {
		return bad
	}
	// The parsers above are lenient ("+1", "01", "0A"): accept only the
	// text that MarshalText writes for what was read.
	if canonical, err := out.MarshalText(); err != nil || !bytes.Equal(canonical, text) {
		return bad
	}
	*id = out
	return nil
}
