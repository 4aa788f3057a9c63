// Command lua runs a Lua 5.1 script with gopher-lua, the interpreter Argo CD evaluates resource health
// checks with (github.com/yuin/gopher-lua, required by argoproj/argo-cd's go.mod). The Argo CD health
// tests (test/unit/argocd-health.test.ts) run the chart's health.lua scripts with it, so they behave as
// they will in Argo CD, and `npm test` needs no Lua from the operating system.
//
//	lua SCRIPT [ARGS...]   arg[0] is SCRIPT, arg[1..] the ARGS (as the reference `lua` command sets them)
package main

import (
	"fmt"
	"os"

	lua "github.com/yuin/gopher-lua"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: lua SCRIPT [ARGS...]")
		os.Exit(2)
	}
	state := lua.NewState()
	defer state.Close()
	args := state.NewTable()
	for i, a := range os.Args[1:] {
		state.RawSetInt(args, i, lua.LString(a))
	}
	state.SetGlobal("arg", args)
	if err := state.DoFile(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
