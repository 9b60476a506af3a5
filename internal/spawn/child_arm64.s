//go:build linux

#include "textflag.h"

// The offsets in the plan: steps, n, done, errno; a step is six words,
// the last the return it must give (0: any but an error).
#define PLAN_STEPS 0
#define PLAN_N 8
#define PLAN_DONE 16
#define PLAN_ERRNO 24
#define STEP_WANT 40
#define STEP_SIZE 48

// func clone3(args *cloneArgs, size uintptr, p *plan) (pid, errno uintptr)
TEXT ·clone3(SB),NOSPLIT|NOFRAME,$0-40
	MOVD	args+0(FP), R0
	MOVD	size+8(FP), R1
	MOVD	p+16(FP), R9
	MOVD	$435, R8 // SYS_clone3
	SVC
	CBZ	R0, child
	CMN	$4095, R0
	BCC	parent
	NEG	R0, R0
	MOVD	$-1, R2
	MOVD	R2, pid+24(FP)
	MOVD	R0, errno+32(FP)
	RET
parent:
	MOVD	R0, pid+24(FP)
	MOVD	ZR, errno+32(FP)
	RET

	// The child: it shares the parent's memory and stack pointer and
	// writes to neither its stack nor anything but the plan. SVC keeps
	// every register but R0.
child:
	MOVD	PLAN_STEPS(R9), R10
next:
	MOVD	PLAN_DONE(R9), R11
	MOVD	PLAN_N(R9), R12
	CMP	R12, R11
	BEQ	exit // no step left: the last, execve, returned
	MOVD	0(R10), R8
	MOVD	8(R10), R0
	MOVD	16(R10), R1
	MOVD	24(R10), R2
	MOVD	32(R10), R3
	SVC
	MOVD	STEP_WANT(R10), R13
	CBZ	R13, anyButError
	CMP	R13, R0
	BEQ	succeeded
	MOVD	R13, R0 // fail with what was wanted
	B	failed
anyButError:
	CMN	$4095, R0
	BCS	failed
succeeded:
	ADD	$1, R11
	MOVD	R11, PLAN_DONE(R9)
	ADD	$STEP_SIZE, R10
	B	next
failed:
	NEG	R0, R0
	MOVD	R0, PLAN_ERRNO(R9)
exit:
	MOVD	$127, R0
	MOVD	$94, R8 // SYS_exit_group
	SVC
	B	exit
