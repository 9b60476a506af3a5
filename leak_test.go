//go:build linux

package pidfd

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pidfd-go/pidfd/internal/leakcheck"
)

// watchLeaks is leakcheck.Check for the test files that build on every
// system.
func watchLeaks(t *testing.T) { leakcheck.Check(t) }

// TestEveryTestChecksLeaks holds the suite to its rule: every test checks
// that it leaked no descriptor, goroutine or child, and is counted in the
// "tests:" line, skips included. So each Test function of the module's
// test files calls leakcheck.Check (or watchLeaks), and skips nothing
// before that call.
func TestEveryTestChecksLeaks(t *testing.T) {
	leakcheck.Check(t)
	if _, err := os.Stat("leak_test.go"); err != nil {
		t.Skipf("the module's sources are not here (a test binary run elsewhere, as in the kernel VMs): %v", err)
	}
	var files []string
	for _, dir := range []string{".", "cmd/pidfd", "examples/authserver"} {
		found, err := filepath.Glob(filepath.Join(dir, "*_test.go"))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, found...)
	}
	if len(files) < 10 {
		t.Fatalf("found only %d test files: run from the repository root", len(files))
	}
	fset := token.NewFileSet()
	checked := 0
	for _, file := range files {
		f, err := parser.ParseFile(fset, file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Recv != nil || !strings.HasPrefix(fn.Name.Name, "Test") || fn.Name.Name == "TestMain" {
				continue
			}
			checked++
			check, skip := token.NoPos, token.NoPos
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				switch name := callName(call); {
				case (name == "leakcheck.Check" || name == "watchLeaks") && !check.IsValid():
					check = call.Pos()
				case (name == "t.Skip" || name == "t.Skipf" || name == "t.SkipNow") && !skip.IsValid():
					skip = call.Pos()
				}
				return true
			})
			switch {
			case !check.IsValid():
				t.Errorf("%s: %s never calls leakcheck.Check", fset.Position(fn.Pos()), fn.Name.Name)
			case skip.IsValid() && skip < check:
				t.Errorf("%s: %s can skip before leakcheck.Check, uncounted", fset.Position(skip), fn.Name.Name)
			}
		}
	}
	t.Logf("%d test functions in %d files", checked, len(files))
}

// callName returns "pkg.Func" or "recv.Method" or "Func" for a call.
func callName(call *ast.CallExpr) string {
	switch f := call.Fun.(type) {
	case *ast.Ident:
		return f.Name
	case *ast.SelectorExpr:
		if x, ok := f.X.(*ast.Ident); ok {
			return x.Name + "." + f.Sel.Name
		}
	}
	return ""
}
