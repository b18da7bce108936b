-- render_stems.lua: builds a small graph, renders the mix into a Buffer,
-- then renders each strip solo'd as its own buffer (solo is real API; per-
-- strip stems by render profile arrive with the profiles work).
--   LUA_CPATH="build/bindings/lua/.libs/?.so;;" lua5.4 examples/lua/render_stems.lua
local m = require "mixstage"

local FS, SECONDS = 48000, 2
local N = FS * SECONDS

local function synth(channels, fn)
  local b = m.Buffer(N, channels)
  for f = 1, N do
    local v = fn((f - 1) / FS)
    for c = 1, channels do b:set(f, c, v) end
  end
  return b
end

local g = m.Graph(FS, 1024, 120)
local kick = g:add_strip("Kick", 1)
kick:set_source(synth(1, function(t)
  local ph = t % 0.5                       -- a kick every beat at 120 BPM
  return 0.9 * math.exp(-ph * 30) * math.sin(2 * math.pi * (50 + 120 * math.exp(-ph * 40)) * ph)
end))
local bass = g:add_strip("Bass", 1)
bass:set_source(synth(1, function(t) return 0.4 * math.sin(2 * math.pi * 55 * t) end))
local duck = bass:insert("compressor", "strip")
duck.threshold = -30; duck.ratio = 6; duck.attack = 2; duck.release = 120
duck:sidechain(kick, "pre")
local pad = g:add_strip("Pad", 2)
pad:set_source(synth(2, function(t)
  return 0.12 * (math.sin(2 * math.pi * 220 * t) + math.sin(2 * math.pi * 277.18 * t))
end))
pad.fader_db = -4
local verb = g:add_return("Plate")
verb:insert("reverb", "mix-fx").decay = 1.8
pad:add_send(verb, -8, "post", "mix-fx")
g.mix_bus:insert("limiter", "placeholder-limiter").ceiling = -1

local function db(x) return x > 0 and 20 * math.log(x, 10) or -math.huge end

local mix = g:render(0, FS)                 -- program + at most 1 s of tail
print(string.format("mix: %d frames x %d ch, peak %.1f dBFS", mix.frames, mix.channels, db(mix:peak())))

for _, s in ipairs(g:strips()) do
  s.solo = true
  local stem = g:render(0, FS)
  s.solo = false
  print(string.format("  %-5s solo: peak %6.1f dBFS  (%s)", s.name, db(stem:peak()), stem:hash()))
end
