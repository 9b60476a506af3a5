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
	MOVQ	args+0(FP), DI
	MOVQ	size+8(FP), SI
	MOVQ	p+16(FP), R12
	MOVQ	$435, AX // SYS_clone3
	SYSCALL
	TESTQ	AX, AX
	JEQ	child
	CMPQ	AX, $0xfffffffffffff001
	JLS	parent
	NEGQ	AX
	MOVQ	$-1, pid+24(FP)
	MOVQ	AX, errno+32(FP)
	RET
parent:
	MOVQ	AX, pid+24(FP)
	MOVQ	$0, errno+32(FP)
	RET

	// The child: it shares the parent's memory and stack pointer and
	// writes to neither its stack nor anything but the plan. SYSCALL
	// keeps every register but AX, CX and R11.
child:
	MOVQ	PLAN_STEPS(R12), R13
next:
	MOVQ	PLAN_DONE(R12), R14
	CMPQ	R14, PLAN_N(R12)
	JEQ	exit // no step left: the last, execve, returned
	MOVQ	0(R13), AX
	MOVQ	8(R13), DI
	MOVQ	16(R13), SI
	MOVQ	24(R13), DX
	MOVQ	32(R13), R10
	SYSCALL
	MOVQ	STEP_WANT(R13), BX
	TESTQ	BX, BX
	JEQ	anyButError
	CMPQ	AX, BX
	JEQ	succeeded
	MOVQ	BX, AX // fail with what was wanted
	JMP	failed
anyButError:
	CMPQ	AX, $0xfffffffffffff001
	JCC	failed
succeeded:
	INCQ	PLAN_DONE(R12)
	ADDQ	$STEP_SIZE, R13
	JMP	next
failed:
	NEGQ	AX
	MOVQ	AX, PLAN_ERRNO(R12)
exit:
	MOVQ	$127, DI
	MOVQ	$231, AX // SYS_exit_group
	SYSCALL
	JMP	exit
