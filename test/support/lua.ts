/**
 * The Lua 5.1 interpreter for the Argo CD health checks and actions: gopher-lua, the interpreter Argo CD
 * itself runs them with, built from the Go module in tools/lua/ (pinned there) and cached (go-tool.ts;
 * `LUA` names another interpreter, e.g. Debian's lua5.1, for the health checks).
 */
import { ensureGoTool } from './go-tool.ts';

/** Time for a hook that may build the interpreter (module download and compile on 2 busy cores). */
export const LUA_BUILD_TIMEOUT_MS = 10 * 60_000;

/** The path of the Lua 5.1 interpreter, built once per machine. */
export function ensureLua(): Promise<string> {
  return ensureGoTool({ name: 'lua', pinned: 'github.com/yuin/gopher-lua', envVar: 'LUA', description: 'the Lua 5.1 interpreter (gopher-lua)' });
}
