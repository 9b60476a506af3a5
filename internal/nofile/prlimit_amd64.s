//go:build linux

#include "textflag.h"

// func prlimitNofile(lim *Limit) (errno uintptr)
TEXT ·prlimitNofile(SB),NOSPLIT,$0-16
	MOVQ	$0, DI // this process
	MOVQ	$7, SI // RLIMIT_NOFILE
	MOVQ	$0, DX // no new limits
	MOVQ	lim+0(FP), R10
	MOVQ	$302, AX // SYS_prlimit64
	SYSCALL
	MOVQ	AX, errno+8(FP)
	RET
