// Command lua runs Lua 5.1 with gopher-lua, the interpreter Argo CD evaluates resource health checks with
// (github.com/yuin/gopher-lua, required by argoproj/argo-cd's go.mod), so the chart's health.lua scripts
// are tested as they will run in Argo CD and `npm test` needs no Lua from the operating system.
//
//	lua SCRIPT [ARGS...]         every standard library; arg[0] is SCRIPT, arg[1..] the ARGS
//	lua health SCRIPT OBJECT     as Argo CD runs a health check from argocd-cm (util/lua/lua.go, runLua):
//	                             only the package, base and table libraries (useOpenLibs is false for
//	                             resource.customizations unless set), the object as the global `obj`
//	                             (decoded from OBJECT, a JSON file, as Argo CD decodes the unstructured
//	                             object), a 1 s deadline; prints the returned {status, message} as JSON.
//	                             Argo CD's "safe" os library is left out: the scripts here do not use it.
//	lua action SCRIPT OBJECT     as Argo CD runs a resource action's discovery.lua or action.lua
//	                             (util/lua/lua.go, ExecuteResourceAction and ExecuteResourceActionDiscovery):
//	                             the same libraries plus Argo CD's "safe" os library (os.time and os.date
//	                             only, also through require("os"); util/lua/oslib_safe.go), `obj`, a 1 s
//	                             deadline; prints the returned table as JSON the way gopher-json encodes it
//	                             (a table with keys 1..n is an array, an empty table is []).
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	lua "github.com/yuin/gopher-lua"
)

func main() {
	if len(os.Args) < 2 {
		fail(2, "usage: lua SCRIPT [ARGS...] | lua health SCRIPT OBJECT.json | lua action SCRIPT OBJECT.json")
	}
	if os.Args[1] == "action" {
		if len(os.Args) != 4 {
			fail(2, "usage: lua action SCRIPT OBJECT.json")
		}
		action(os.Args[2], os.Args[3])
		return
	}
	if os.Args[1] == "health" {
		if len(os.Args) != 4 {
			fail(2, "usage: lua health SCRIPT OBJECT.json")
		}
		health(os.Args[2], os.Args[3])
		return
	}
	run(os.Args[1], os.Args[2:])
}

func fail(code int, message string) {
	fmt.Fprintln(os.Stderr, message)
	os.Exit(code)
}

func run(script string, args []string) {
	state := lua.NewState()
	defer state.Close()
	table := state.NewTable()
	state.RawSetInt(table, 0, lua.LString(script))
	for i, a := range args {
		state.RawSetInt(table, i+1, lua.LString(a))
	}
	state.SetGlobal("arg", table)
	if err := state.DoFile(script); err != nil {
		fail(1, err.Error())
	}
}

func health(scriptFile, objectFile string) {
	state := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer state.Close()
	result := runArgoScript(state, scriptFile, objectFile, false)
	out := map[string]interface{}{"status": field(result, "status"), "message": field(result, "message")}
	encoded, _ := json.Marshal(out)
	fmt.Println(string(encoded))
}

// runArgoScript runs a script as Argo CD's util/lua runLua does: the package, base and table libraries
// (and, for actions, the safe os library), the object decoded from objectFile as the global `obj`, a 1 s
// deadline. It returns the table the script returns.
func runArgoScript(state *lua.LState, scriptFile, objectFile string, withSafeOs bool) *lua.LTable {
	script, err := os.ReadFile(scriptFile)
	if err != nil {
		fail(1, err.Error())
	}
	raw, err := os.ReadFile(objectFile)
	if err != nil {
		fail(1, err.Error())
	}
	var object interface{}
	if err := json.Unmarshal(raw, &object); err != nil {
		fail(1, err.Error())
	}
	// In Argo CD's order: package first (the others register into it).
	libraries := []struct {
		name string
		open lua.LGFunction
	}{{lua.LoadLibName, lua.OpenPackage}, {lua.BaseLibName, lua.OpenBase}, {lua.TabLibName, lua.OpenTable}}
	if withSafeOs {
		libraries = append(libraries, struct {
			name string
			open lua.LGFunction
		}{lua.OsLibName, openSafeOs})
	}
	for _, library := range libraries {
		if err := state.CallByParam(lua.P{Fn: state.NewFunction(library.open), NRet: 0, Protect: true}, lua.LString(library.name)); err != nil {
			fail(1, err.Error())
		}
	}
	if withSafeOs {
		state.PreloadModule(lua.OsLibName, loadSafeOs)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	state.SetContext(ctx)
	state.SetGlobal("obj", decode(state, object))
	if err := state.DoString(string(script)); err != nil {
		fail(1, err.Error())
	}
	result, ok := state.Get(-1).(*lua.LTable)
	if !ok {
		fail(1, fmt.Sprintf("expect table output from Lua script, not %s", state.Get(-1).Type().String()))
	}
	return result
}

func field(table *lua.LTable, name string) interface{} {
	value := table.RawGetString(name)
	if value == lua.LNil {
		return nil
	}
	return value.String()
}

// decode turns a decoded JSON value into Lua values the way Argo CD's decodeValue does.
func decode(state *lua.LState, value interface{}) lua.LValue {
	switch v := value.(type) {
	case bool:
		return lua.LBool(v)
	case float64:
		return lua.LNumber(v)
	case string:
		return lua.LString(v)
	case []interface{}:
		table := state.CreateTable(len(v), 0)
		for _, item := range v {
			table.Append(decode(state, item))
		}
		return table
	case map[string]interface{}:
		table := state.CreateTable(0, len(v))
		for key, item := range v {
			table.RawSetH(lua.LString(key), decode(state, item))
		}
		return table
	}
	return lua.LNil
}
