# Sourced by tests/lua_tests.sh and tests/lua_examples.sh: exits 77
# (skipped) when the Lua binding or interpreter is missing, else sets $lua,
# $b (build dir), $s (source dir) and the module paths for the build tree.
if [ "$MIXSTAGE_WITH_LUA" != yes ]; then
  echo "Lua binding not built (see configure: Lua bindings)"; exit 77
fi
lua=${LUA:-lua5.4}
if [ "$lua" = no ] || ! command -v "$lua" >/dev/null 2>&1; then
  echo "no Lua 5.4 interpreter (apt-get install lua5.4)"; exit 77
fi
b=$(cd "${top_builddir:-.}" && pwd)
s=$(cd "${top_srcdir:-..}" && pwd)
LUA_CPATH="$b/bindings/lua/.libs/?.so;;"
LUA_PATH="$s/tests/lua/?.lua;;"
MIXSTAGE_BUILDDIR=$b
MIXSTAGE_SRCDIR=$s
export LUA_CPATH LUA_PATH MIXSTAGE_BUILDDIR MIXSTAGE_SRCDIR
