#!/bin/sh
# Runs the Lua binding tests against the build tree.
# Exit 77 (skipped) when the Lua binding is not built.
. "$(dirname "$0")/lua_env.sh"
"$lua" "$s/tests/lua/test_mixstage.lua" || exit 1
"$lua" "$s/tests/lua/test_edit.lua" || exit 1
"$lua" "$s/tests/lua/test_stream.lua" >/dev/null || exit 1
"$lua" "$s/tests/lua/test_stream_blocks.lua" >/dev/null || exit 1
for ex in render_stems game_loop; do
  "$lua" "$s/examples/lua/$ex.lua" >/dev/null || { echo "examples/lua/$ex.lua failed"; exit 1; }
done
exit 0
