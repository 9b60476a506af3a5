//go:build linux

#include "textflag.h"

// The offsets in the plan: steps, n, done, errno; a step is six words,
// the last the return it must give (0: any but an error).
#define PLAN_STEPS 0
#define PLAN_N 4
#define PLAN_DONE 8
#define PLAN_ERRNO 12
#define STEP_WANT 20
#define STEP_SIZE 24

// func clone3(args *cloneArgs, size uintptr, p *plan) (pid, errno uintptr)
TEXT ·clone3(SB),NOSPLIT|NOFRAME,$0-20
	MOVL	args+0(FP), BX
	MOVL	size+4(FP), CX
	MOVL	p+8(FP), BP
	MOVL	$435, AX // SYS_clone3
	INT	$0x80
	TESTL	AX, AX
	JEQ	child
	CMPL	AX, $0xfffff001
	JLS	parent
	NEGL	AX
	MOVL	$-1, pid+12(FP)
	MOVL	AX, errno+16(FP)
	RET
parent:
	MOVL	AX, pid+12(FP)
	MOVL	$0, errno+16(FP)
	RET

	// The child: it shares the parent's memory and stack pointer and
	// writes to neither its stack nor anything but the plan. INT $0x80
	// keeps every register but AX.
child:
	MOVL	PLAN_STEPS(BP), DI
next:
	MOVL	PLAN_DONE(BP), AX
	CMPL	AX, PLAN_N(BP)
	JEQ	exit // no step left: the last, execve, returned
	MOVL	0(DI), AX
	MOVL	4(DI), BX
	MOVL	8(DI), CX
	MOVL	12(DI), DX
	MOVL	16(DI), SI
	INT	$0x80
	CMPL	STEP_WANT(DI), $0
	JEQ	anyButError
	CMPL	AX, STEP_WANT(DI)
	JEQ	succeeded
	MOVL	STEP_WANT(DI), AX // fail with what was wanted
	JMP	failed
anyButError:
	CMPL	AX, $0xfffff001
	JCC	failed
succeeded:
	INCL	PLAN_DONE(BP)
	ADDL	$STEP_SIZE, DI
	JMP	next
failed:
	NEGL	AX
	MOVL	AX, PLAN_ERRNO(BP)
exit:
	MOVL	$127, BX
	MOVL	$252, AX // SYS_exit_group
	INT	$0x80
	JMP	exit
