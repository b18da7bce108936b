#!/bin/sh
# The Lua re-entry tests under valgrind memcheck (see valgrind_reentry.sh).
# test_mixstage.lua closes its Lua state at exit, so every object's
# finaliser runs and a definite or indirect leak is an error too.
# About 4 s of CPU.
. "$(dirname "$0")/lua_env.sh"
. "$(dirname "$0")/valgrind_reentry.sh"
# The tests whose names contain this text; none found fails the script.
MIXSTAGE_LUA_TESTS="callbacks cannot edit"
export MIXSTAGE_LUA_TESTS
$vg --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
  "$(command -v "$lua")" "$s/tests/lua/test_mixstage.lua"
