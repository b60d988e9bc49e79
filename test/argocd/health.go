// Package argocd runs the Argo CD health check of PersonaBinding the way Argo CD
// runs a resource customization from argocd-cm: in gopher-lua, with only the
// base, table and package libraries and a safe os (no string library).
package argocd

import (
	"fmt"
	"os"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// Health is what the script returns.
type Health struct {
	Status  string
	Message string
}

// Evaluate runs script with obj as the global "obj".
func Evaluate(script string, obj map[string]any) (Health, error) {
	L := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer L.Close()
	for name, open := range map[string]lua.LGFunction{
		lua.BaseLibName: lua.OpenBase,
		lua.TabLibName:  lua.OpenTable,
		lua.LoadLibName: lua.OpenPackage,
		lua.OsLibName:   openSafeOS,
	} {
		L.Push(L.NewFunction(open))
		L.Push(lua.LString(name))
		L.Call(1, 0)
	}
	L.SetGlobal("obj", toLua(L, obj))
	if err := L.DoString(script); err != nil {
		return Health{}, err
	}
	table, ok := L.Get(-1).(*lua.LTable)
	if !ok {
		return Health{}, fmt.Errorf("the script returned %s, not a table", L.Get(-1).Type())
	}
	return Health{Status: lua.LVAsString(table.RawGetString("status")), Message: lua.LVAsString(table.RawGetString("message"))}, nil
}

// ReadScript reads a health.lua file.
func ReadScript(path string) (string, error) {
	b, err := os.ReadFile(path)
	return string(b), err
}

// openSafeOS gives the script the clock and nothing that touches the system.
func openSafeOS(state *lua.LState) int {
	mod := state.RegisterModule(lua.OsLibName, map[string]lua.LGFunction{
		"time": func(s *lua.LState) int {
			s.Push(lua.LNumber(time.Now().Unix()))
			return 1
		},
	})
	state.Push(mod)
	return 1
}

// toLua converts decoded JSON or YAML into Lua values.
func toLua(state *lua.LState, v any) lua.LValue {
	switch x := v.(type) {
	case map[string]any:
		t := state.NewTable()
		for k, val := range x {
			t.RawSetString(k, toLua(state, val))
		}
		return t
	case []any:
		t := state.NewTable()
		for _, val := range x {
			t.Append(toLua(state, val))
		}
		return t
	case string:
		return lua.LString(x)
	case bool:
		return lua.LBool(x)
	case float64:
		return lua.LNumber(x)
	case int64:
		return lua.LNumber(x)
	case int:
		return lua.LNumber(x)
	}
	return lua.LNil
}
