package pidfd

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Identity names a process for the life of the system, in a form that can
// be stored (a state file, a database) and turned back into a PidFd later
// with [OpenIdentity]. It holds the boot it belongs to, the PID, the start
// time and, on pidfs kernels, the 64-bit ID; the zero Identity names nothing.
type Identity struct {
	Boot      [16]byte // /proc/sys/kernel/random/boot_id
	PID       int      // in the PID namespace where the identity was taken
	StartTime uint64   // clock ticks after boot (/proc/PID/stat)
	ID        uint64   // pidfs ID, 0 where the kernel has none
}

const identityVersion = 1

// MarshalBinary encodes the identity in 37 bytes: a version, the boot ID,
// the PID, the start time and the ID, big-endian.
func (id Identity) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, 37)
	b = append(b, identityVersion)
	b = append(b, id.Boot[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(id.PID))
	b = binary.BigEndian.AppendUint64(b, id.StartTime)
	return binary.BigEndian.AppendUint64(b, id.ID), nil
}

// UnmarshalBinary decodes what MarshalBinary made.
func (id *Identity) UnmarshalBinary(b []byte) error {
	if len(b) != 37 || b[0] != identityVersion {
		return fmt.Errorf("pidfd: not an encoded identity (%d bytes): %w", len(b), os.ErrInvalid)
	}
	var out Identity
	copy(out.Boot[:], b[1:17])
	out.PID = int(int32(binary.BigEndian.Uint32(b[17:21])))
	out.StartTime = binary.BigEndian.Uint64(b[21:29])
	out.ID = binary.BigEndian.Uint64(b[29:37])
	*id = out
	return nil
}

// MarshalText encodes the identity as "pidfd1-BOOT-PID-START-ID", hex boot
// ID and decimal numbers.
func (id Identity) MarshalText() ([]byte, error) {
	return fmt.Appendf(nil, "pidfd%d-%x-%d-%d-%d", identityVersion, id.Boot, id.PID, id.StartTime, id.ID), nil
}

// UnmarshalText decodes what MarshalText made.
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
	*id = out
	return nil
}
