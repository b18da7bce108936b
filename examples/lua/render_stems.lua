-- render_stems.lua: builds a small graph and renders its mix stems the way
-- the stem rules say (profile "mix-stems"): one stem per strip with its
-- production processing, design effects and sidechain ducking printed in,
-- the shared reverb return as its own FX stem, mix-bus limiting left out,
-- plus the production mix as the reference.  One bounce renders them all,
-- sample-aligned; the null check proves they add up.  With a directory
-- argument the stems are also delivered as files with a manifest.
--   LUA_CPATH="build/bindings/lua/.libs/?.so;;" lua5.4 examples/lua/render_stems.lua [DIR]
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
print(string.format("production mix: %d frames x %d ch, peak %.1f dBFS", mix.frames, mix.channels,
                    db(mix:peak())))

local stems = g:bounce("mix-stems", { tail = FS })
print(string.format("%s: %d outputs, %d frames each", stems.profile, stems.count, stems.frames))
for name, buf in stems:outputs() do
  print(string.format("  %-10s %-9s peak %6.1f dBFS  %s", name, stems:kind(name), db(buf:peak()),
                      stems:adds_up(name) and "adds up" or stems:note(name)))
end
-- the stems plus the FX stems minus the production mix (mix-bus stages
-- bypassed): numerical noise only
print(string.format("null check: residual peak %.1f dBFS", g:null_check("mix-stems", { tail = FS })))

if arg and arg[1] then
  g:deliver("mix-stems", arg[1], { tail = FS, format = "wav", sample_type = "pcm24" })
  print("delivered to " .. arg[1] .. " (with manifest.json)")
end
