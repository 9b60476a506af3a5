//go:build linux

#include "textflag.h"

// func prlimitNofile(lim *Limit) (errno uintptr)
TEXT ·prlimitNofile(SB),NOSPLIT,$0-8
	MOVL	$0, BX // this process
	MOVL	$7, CX // RLIMIT_NOFILE
	MOVL	$0, DX // no new limits
	MOVL	lim+0(FP), SI
	MOVL	$340, AX // SYS_prlimit64
	INT	$0x80
	MOVL	AX, errno+4(FP)
	RET
