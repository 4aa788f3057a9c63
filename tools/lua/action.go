package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// action runs a resource action script (discovery.lua or action.lua) against the object in objectFile and
// prints what it returns as JSON.
func action(scriptFile, objectFile string) {
	state := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer state.Close()
	encoded, err := json.Marshal(encode(runArgoScript(state, scriptFile, objectFile, true)))
	if err != nil {
		fail(1, err.Error())
	}
	fmt.Println(string(encoded))
}

// The functions of Argo CD's safe os library: the time and the date, nothing that reads or exits.
var safeOsFunctions = map[string]lua.LGFunction{"time": osTime, "date": osDate}

func openSafeOs(l *lua.LState) int {
	l.Push(l.RegisterModule(lua.OsLibName, safeOsFunctions))
	return 1
}

// loadSafeOs makes require("os") give the same functions.
func loadSafeOs(l *lua.LState) int {
	l.Push(l.SetFuncs(l.NewTable(), safeOsFunctions))
	return 1
}

func osTime(l *lua.LState) int {
	l.Push(lua.LNumber(time.Now().Unix()))
	return 1
}

// osDate formats the current time (UTC with a leading "!") with the strftime conversions the scripts here
// use; others are kept as written.
func osDate(l *lua.LState) int {
	format := l.OptString(1, "%c")
	now := time.Now()
	if strings.HasPrefix(format, "!") {
		now = now.UTC()
		format = format[1:]
	}
	layouts := map[byte]string{'Y': "2006", 'm': "01", 'd': "02", 'H': "15", 'M': "04", 'S': "05", 'X': "15:04:05", 'F': "2006-01-02", 'c': "02 Jan 06 15:04 MST"}
	var out strings.Builder
	for i := 0; i < len(format); i++ {
		if format[i] != '%' || i == len(format)-1 {
			out.WriteByte(format[i])
			continue
		}
		i++
		if layout, ok := layouts[format[i]]; ok {
			out.WriteString(now.Format(layout))
		} else if format[i] == '%' {
			out.WriteByte('%')
		} else {
			out.WriteByte('%')
			out.WriteByte(format[i])
		}
	}
	l.Push(lua.LString(out.String()))
	return 1
}

// encode turns a Lua value into a JSON-ready value: a table whose keys are 1..n is an array (an empty one
// too), any other table an object.
func encode(value lua.LValue) interface{} {
	switch v := value.(type) {
	case lua.LBool:
		return bool(v)
	case lua.LNumber:
		return float64(v)
	case lua.LString:
		return string(v)
	case *lua.LTable:
		if n := v.Len(); n > 0 || isEmpty(v) {
			items := make([]interface{}, 0, n)
			for i := 1; i <= n; i++ {
				items = append(items, encode(v.RawGetInt(i)))
			}
			if countKeys(v) == n {
				return items
			}
		}
		object := map[string]interface{}{}
		v.ForEach(func(key, item lua.LValue) { object[key.String()] = encode(item) })
		return object
	}
	return nil
}

func isEmpty(table *lua.LTable) bool { return countKeys(table) == 0 }

func countKeys(table *lua.LTable) int {
	n := 0
	table.ForEach(func(_, _ lua.LValue) { n++ })
	return n
}
