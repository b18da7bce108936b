-- game_loop.lua: real-time style use.  Prepares the graph, then processes
-- 64-frame blocks in a loop (mixstage_graph_process) into one reusable
-- Buffer, moving a filter and a fader between blocks as a game would.
--   LUA_CPATH="build/bindings/lua/.libs/?.so;;" lua5.4 examples/lua/game_loop.lua
local m = require "mixstage"

local FS, BLOCK = 48000, 64
local g = m.Graph(FS, BLOCK)
local engine = g:add_strip("Engine", 1)
local src = m.Buffer(FS, 1)                -- 1 s of a sawtooth "engine" loop
for i = 1, FS do src[i] = 0.3 * (((i * 90 / FS) % 1) * 2 - 1) end
engine:set_source(src)
local eq = engine:insert("eq")
-- band 1 as a low-pass: its choices are listed by introspection
local choices = eq:param_info(0).choices    -- {"off", "highpass", "lowpass", ...}
for i, c in ipairs(choices) do if c == "lowpass" then eq.band1_type = i - 1 end end
eq.band1_freq = 200
g:prepare()

local out = m.Buffer(BLOCK, g.mix_channels)
local blocks = FS // BLOCK
local peak, first_quarter = 0, 0
for b = 1, blocks do
  -- the "game" changes parameters between blocks: throttle opens the filter
  local throttle = b / blocks
  eq.band1_freq = 200 + 4000 * throttle     -- control-safe, smoothed by the library
  engine.fader_db = -12 + 12 * throttle
  if g:process(out) then print("numeric fault in block " .. b) end
  peak = math.max(peak, out:peak())
  if b == blocks // 4 then first_quarter = peak end
end
print(string.format("processed %d blocks of %d frames, position %d", blocks, BLOCK, g.position))
print(string.format("peak after the first quarter %.3f, overall %.3f (filter and fader opened)",
                    first_quarter, peak))
