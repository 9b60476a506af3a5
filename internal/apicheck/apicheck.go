// Package apicheck lists the exported API of a Go package, one feature a
// line, in the manner of Go's own api files (api/go1.*.txt, cmd/api):
//
//	pkg pidfd, func Open(int) (*PidFd, error)
//	pkg pidfd, method (*PidFd) Wait() (*ExitStatus, error)
//	pkg pidfd, type Exit struct, Err error
//	pkg pidfd, const NamespaceCgroup Namespace
//	pkg pidfd, const NamespaceCgroup = 1
//	pkg pidfd, var ErrNotPidFd error
//
// The package is compiled by the go command for the GOOS and GOARCH asked
// for (go list -export) and its export data read with go/types, so the
// list is the package as the compiler sees it, whatever the source's
// spelling. A feature is a name with its signature: a changed signature
// is one feature gone and another added.
package apicheck

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/importer"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
)

// Features returns the sorted features of the package in dir, as built for
// goos and goarch (without cgo).
func Features(dir, goos, goarch string) ([]string, error) {
	pkg, err := load(dir, goos, goarch)
	if err != nil {
		return nil, err
	}
	w := &writer{pkg: pkg, seen: map[string]bool{}}
	scope := pkg.Scope()
	for _, name := range scope.Names() {
		if obj := scope.Lookup(name); obj.Exported() {
			w.object(obj)
		}
	}
	slices.Sort(w.features)
	return w.features, nil
}

// load compiles the package in dir and its dependencies with the go
// command and reads the package back from its export data.
func load(dir, goos, goarch string) (*types.Package, error) {
	cmd := exec.Command("go", "list", "-e", "-export", "-deps", "-json=ImportPath,Export,DepOnly,Error", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH="+goarch, "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("GOOS=%s GOARCH=%s go list -export: %v: %s", goos, goarch, err, bytes.TrimSpace(stderr.Bytes()))
	}
	type listed struct {
		ImportPath string
		Export     string
		DepOnly    bool
		Error      *struct{ Err string }
	}
	exports := map[string]string{}
	target := ""
	for dec := json.NewDecoder(bytes.NewReader(out)); ; {
		var p listed
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			return nil, fmt.Errorf("go list -json: %v", err)
		}
		if p.Error != nil {
			return nil, fmt.Errorf("GOOS=%s GOARCH=%s: %s: %s", goos, goarch, p.ImportPath, p.Error.Err)
		}
		exports[p.ImportPath] = p.Export
		if !p.DepOnly {
			target = p.ImportPath
		}
	}
	if target == "" || exports[target] == "" {
		return nil, fmt.Errorf("go list -export in %s: no export data for the package", dir)
	}
	lookup := func(path string) (io.ReadCloser, error) {
		file, ok := exports[path]
		if !ok || file == "" {
			return nil, fmt.Errorf("no export data for %q", path)
		}
		return os.Open(file)
	}
	return importer.ForCompiler(token.NewFileSet(), "gc", lookup).Import(target)
}

// A writer collects the features of one package.
type writer struct {
	pkg      *types.Package
	features []string
	seen     map[string]bool
}

func (w *writer) emit(format string, args ...any) {
	f := "pkg " + w.pkg.Name() + ", " + fmt.Sprintf(format, args...)
	if !w.seen[f] {
		w.seen[f] = true
		w.features = append(w.features, f)
	}
}

func (w *writer) object(obj types.Object) {
	switch obj := obj.(type) {
	case *types.Const:
		w.emit("const %s %s", obj.Name(), w.typ(obj.Type()))
		w.emit("const %s = %s", obj.Name(), obj.Val().ExactString())
	case *types.Var:
		w.emit("var %s %s", obj.Name(), w.typ(obj.Type()))
	case *types.Func:
		sig := obj.Type().(*types.Signature)
		w.emit("func %s%s%s", obj.Name(), w.typeParams(sig.TypeParams()), w.signature(sig))
	case *types.TypeName:
		w.typeName(obj)
	}
}

func (w *writer) typeName(obj *types.TypeName) {
	name := obj.Name()
	if obj.IsAlias() {
		rhs := obj.Type()
		if a, ok := rhs.(*types.Alias); ok {
			rhs = a.Rhs()
		}
		w.emit("type %s = %s", name, w.typ(rhs))
		return
	}
	named, ok := obj.Type().(*types.Named)
	if !ok {
		return
	}
	name += w.typeParams(named.TypeParams())
	switch u := named.Underlying().(type) {
	case *types.Struct:
		w.emit("type %s struct", name)
		w.fields(named, name, u)
	case *types.Interface:
		// All its methods, embedded interfaces' included; a constraint
		// with a type set is listed whole.
		var methods []string
		for m := range u.Methods() {
			if !m.Exported() {
				if !slices.Contains(methods, "unexported methods") {
					methods = append(methods, "unexported methods")
				}
				continue
			}
			methods = append(methods, m.Name())
			w.emit("type %s interface, %s%s", name, m.Name(), w.signature(m.Type().(*types.Signature)))
		}
		if !u.IsMethodSet() {
			w.emit("type %s %s", name, w.typ(u))
		}
		slices.Sort(methods)
		if len(methods) == 0 {
			w.emit("type %s interface {}", name)
		} else {
			w.emit("type %s interface { %s }", name, strings.Join(methods, ", "))
		}
		return
	default:
		w.emit("type %s %s", name, w.typ(u))
	}
	// The methods of the pointer's method set, promoted ones included: each
	// with the receiver it is declared on.
	valueSet := types.NewMethodSet(named)
	for sel := range types.NewMethodSet(types.NewPointer(named)).Methods() {
		m := sel.Obj()
		if !m.Exported() {
			continue
		}
		recv := obj.Name()
		if valueSet.Lookup(m.Pkg(), m.Name()) == nil {
			recv = "*" + recv
		}
		w.emit("method (%s) %s%s", recv, m.Name(), w.signature(m.Type().(*types.Signature)))
	}
}

// fields lists the exported fields of struct type name, and those an
// unexported embedded struct promotes into it: an embedded type that is
// not exported is not API, but what it promotes is.
func (w *writer) fields(named *types.Named, name string, s *types.Struct) {
	for i := range s.NumFields() {
		f := s.Field(i)
		switch {
		case f.Embedded() && f.Exported():
			w.emit("type %s struct, embedded %s", name, w.typ(f.Type()))
		case f.Embedded():
			t := f.Type()
			if p, ok := t.(*types.Pointer); ok {
				t = p.Elem()
			}
			if inner, ok := t.Underlying().(*types.Struct); ok {
				w.fields(named, name, inner)
			}
		case f.Exported():
			// Unless a shallower field of the same name hides it.
			if obj, _, _ := types.LookupFieldOrMethod(named, false, w.pkg, f.Name()); obj == f {
				w.emit("type %s struct, %s %s", name, f.Name(), w.typ(f.Type()))
			}
		}
	}
}

// signature writes a function's parameters and results by type alone.
func (w *writer) signature(sig *types.Signature) string {
	var b strings.Builder
	b.WriteString("(")
	for i := range sig.Params().Len() {
		if i > 0 {
			b.WriteString(", ")
		}
		t := sig.Params().At(i).Type()
		if sig.Variadic() && i == sig.Params().Len()-1 {
			b.WriteString("..." + w.typ(t.(*types.Slice).Elem()))
		} else {
			b.WriteString(w.typ(t))
		}
	}
	b.WriteString(")")
	switch res := sig.Results(); res.Len() {
	case 0:
	case 1:
		b.WriteString(" " + w.typ(res.At(0).Type()))
	default:
		b.WriteString(" (")
		for i := range res.Len() {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(w.typ(res.At(i).Type()))
		}
		b.WriteString(")")
	}
	return b.String()
}

func (w *writer) typeParams(list *types.TypeParamList) string {
	if list.Len() == 0 {
		return ""
	}
	var params []string
	for tp := range list.TypeParams() {
		params = append(params, tp.Obj().Name()+" "+w.typ(tp.Constraint()))
	}
	return "[" + strings.Join(params, ", ") + "]"
}

// typ writes a type with the package's own names unqualified, other
// packages' names qualified by their package name (os.File, unix.Signal),
// and the parameters and results of function types by type alone, so
// that renaming a parameter is no change.
func (w *writer) typ(t types.Type) string {
	var b strings.Builder
	w.writeType(&b, t)
	return b.String()
}

func (w *writer) writeType(b *strings.Builder, t types.Type) {
	switch t := t.(type) {
	case *types.Named:
		w.writeTypeName(b, t.Obj())
		if args := t.TypeArgs(); args.Len() > 0 {
			b.WriteString("[")
			for i := range args.Len() {
				if i > 0 {
					b.WriteString(", ")
				}
				w.writeType(b, args.At(i))
			}
			b.WriteString("]")
		}
	case *types.Alias:
		w.writeTypeName(b, t.Obj())
	case *types.TypeParam:
		b.WriteString(t.Obj().Name())
	case *types.Pointer:
		b.WriteString("*")
		w.writeType(b, t.Elem())
	case *types.Slice:
		b.WriteString("[]")
		w.writeType(b, t.Elem())
	case *types.Array:
		fmt.Fprintf(b, "[%d]", t.Len())
		w.writeType(b, t.Elem())
	case *types.Map:
		b.WriteString("map[")
		w.writeType(b, t.Key())
		b.WriteString("]")
		w.writeType(b, t.Elem())
	case *types.Chan:
		switch t.Dir() {
		case types.SendRecv:
			b.WriteString("chan ")
		case types.SendOnly:
			b.WriteString("chan<- ")
		case types.RecvOnly:
			b.WriteString("<-chan ")
		}
		if c, ok := t.Elem().(*types.Chan); ok && t.Dir() == types.SendRecv && c.Dir() == types.RecvOnly {
			b.WriteString("(")
			w.writeType(b, c)
			b.WriteString(")")
		} else {
			w.writeType(b, t.Elem())
		}
	case *types.Signature:
		b.WriteString("func")
		b.WriteString(w.signature(t))
	case *types.Struct:
		b.WriteString("struct{")
		for i := range t.NumFields() {
			if i > 0 {
				b.WriteString("; ")
			}
			f := t.Field(i)
			if !f.Embedded() {
				b.WriteString(f.Name() + " ")
			}
			w.writeType(b, f.Type())
			if tag := t.Tag(i); tag != "" {
				b.WriteString(" " + strconv.Quote(tag))
			}
		}
		b.WriteString("}")
	case *types.Interface:
		// An anonymous interface (as any is) or a constraint: as go/types
		// writes it, for there is no parameter name in it to drop.
		b.WriteString(types.TypeString(t, w.qualifier))
	default: // *types.Basic, and whatever a future Go adds
		b.WriteString(types.TypeString(t, w.qualifier))
	}
}

func (w *writer) writeTypeName(b *strings.Builder, obj *types.TypeName) {
	if obj.Pkg() != nil && obj.Pkg() != w.pkg {
		b.WriteString(obj.Pkg().Name() + ".")
	}
	b.WriteString(obj.Name())
}

func (w *writer) qualifier(p *types.Package) string {
	if p == w.pkg {
		return ""
	}
	return p.Name()
}

// Read returns the features listed in an api file: its lines but blank
// ones and those that start with "#".
func Read(file string) ([]string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var features []string
	lines := bufio.NewScanner(bytes.NewReader(data))
	for lines.Scan() {
		line := strings.TrimSpace(lines.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		features = append(features, line)
	}
	return features, lines.Err()
}

// Compare returns the features listed but not present (removed, or with a
// changed signature) and those present but not listed (new), each sorted.
func Compare(listed, present []string) (missing, added []string) {
	in := func(list []string) map[string]bool {
		m := make(map[string]bool, len(list))
		for _, f := range list {
			m[f] = true
		}
		return m
	}
	isListed, isPresent := in(listed), in(present)
	for f := range isListed {
		if !isPresent[f] {
			missing = append(missing, f)
		}
	}
	for f := range isPresent {
		if !isListed[f] {
			added = append(added, f)
		}
	}
	slices.Sort(missing)
	slices.Sort(added)
	return missing, added
}

// Append adds the features new to the api file, keeping every line it
// has (its header comment first, then the features, sorted). It never
// removes a line: a feature listed but no longer present stays, and
// Append returns an error naming it, so that a removal is a decision
// someone makes by editing the file, not a side effect.
func Append(file string, present []string) (added []string, err error) {
	listed, err := Read(file)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	header, err := readHeader(file)
	if err != nil {
		return nil, err
	}
	missing, added := Compare(listed, present)
	if len(added) > 0 {
		all := slices.Concat(listed, added)
		slices.Sort(all)
		all = slices.Compact(all)
		var b bytes.Buffer
		b.WriteString(header)
		for _, f := range all {
			b.WriteString(f + "\n")
		}
		if err := os.WriteFile(file, b.Bytes(), 0o644); err != nil {
			return nil, err
		}
	}
	if len(missing) > 0 {
		return added, fmt.Errorf("%s lists %d features the package no longer has (left in place; a removal or a changed signature breaks v1):\n\t%s",
			file, len(missing), strings.Join(missing, "\n\t"))
	}
	return added, nil
}

// readHeader returns the comment lines at the top of file, if any.
func readHeader(file string) (string, error) {
	data, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for line := range strings.Lines(string(data)) {
		if !strings.HasPrefix(line, "#") {
			break
		}
		b.WriteString(line)
	}
	return b.String(), nil
}
