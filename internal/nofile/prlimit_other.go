//go:build !linux || !(amd64 || arm64 || 386)

package nofile

// Only StartProcessAutoKill needs the limits, on the architectures it runs on.
func prlimitNofile(lim *Limit) (errno uintptr) {
	return 1
}
