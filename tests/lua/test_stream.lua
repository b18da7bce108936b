-- Lua binding tests of the streamed-delivery calls: a bounce written as a
-- delivery without rendering again (Graph:deliver_bounce) and the recovery
-- of a delivery folder (deliver_recover).
local m = require "mixstage"

local function raises(kind, fn, ...)
  local ok, err = pcall(fn, ...)
  assert(not ok, "expected " .. kind .. ", got success")
  assert(type(err) == "table" and err.kind == kind, "expected " .. kind .. ", got " .. tostring(err))
  return err
end
local function slurp(p) local f = assert(io.open(p, "rb")); local s = f:read("a"); f:close(); return s end

-- A small graph: a decaying tone and noise into a plate return.
local frames = 24000
local g = m.Graph(48000, 256)
local tone, noise = m.Buffer(frames, 1), m.Buffer(frames, 2)
local x = 12345
for i = 1, frames do
  tone[i] = 0.5 * math.sin(2 * math.pi * 220 * (i - 1) / 48000) * math.exp(-(i - 1) / 12000)
end
for i = 1, 2 * frames do
  x = (x * 1103515245 + 12345) % 2147483648
  noise[i] = (x / 2147483648.0 - 0.5) * 0.2
end
local a = g:add_strip("Tone", 2); a:set_source(tone)
local b = g:add_strip("Noise", 2); b:set_source(noise)
local plate = g:add_return("Plate")
plate:insert("reverb", "mix-fx")
a:add_send(plate, -6)

local dir = os.tmpname(); os.remove(dir); os.execute("mkdir -p " .. dir)
local opts = { tail = 24000 }
local bounce = g:bounce("mix-stems", opts)
g:deliver_bounce(bounce, "mix-stems", dir .. "/from-bounce", opts)
g:deliver("mix-stems", dir .. "/direct", opts)
-- the same files byte for byte (reproducible renders, dither seeded by name)
for _, n in ipairs({ "Tone.wav", "Noise.wav", "Plate.wav", "reference.wav" }) do
  assert(slurp(dir .. "/from-bounce/" .. n) == slurp(dir .. "/direct/" .. n), n .. " differs")
end
local mj = slurp(dir .. "/from-bounce/manifest.json")
assert(mj:find('"null_check_residual_dbfs": null', 1, true), "a bounce has no null check")
-- another length than the bounce's: refused
raises("InvalidArgumentError", g.deliver_bounce, g, bounce, "mix-stems", dir .. "/x", { tail = 100 })
-- recovery of a settled folder leaves it as it is; a missing folder raises
local before = slurp(dir .. "/direct/manifest.json")
m.deliver_recover(dir .. "/direct")
assert(slurp(dir .. "/direct/manifest.json") == before)
raises("InputOutputError", m.deliver_recover, dir .. "/no-such-folder")
-- several profiles in one pass: each folder byte-identical to a delivery
-- of its profile alone; the progress runs once (one shared render)
local seen, back = 0, false
local last = -1
g:deliver_profiles({ { "production", dir .. "/p" }, { "mix-stems", dir .. "/s" } },
                   { tail = 24000, progress = function(done, total)
                       if done < last then back = true end
                       last, seen = done, seen + 1
                     end })
assert(seen > 0 and not back, "one pass: the progress never goes back")
g:deliver("production", dir .. "/alone-p", opts)
assert(slurp(dir .. "/p/mix.wav") == slurp(dir .. "/alone-p/mix.wav"), "production mix differs")
assert(slurp(dir .. "/p/manifest.json") == slurp(dir .. "/alone-p/manifest.json"), "production manifest differs")
for _, n in ipairs({ "Tone.wav", "Noise.wav", "Plate.wav", "reference.wav", "manifest.json" }) do
  assert(slurp(dir .. "/s/" .. n) == slurp(dir .. "/direct/" .. n), n .. " differs (profiles)")
end
raises("NotFoundError", g.deliver_profiles, g, { { "no-such-profile", dir .. "/q" } })
os.execute("rm -rf " .. dir)
print("stream: ok")
