-- Lua binding tests of Graph:bounce_stream: a bounce handed over block by
-- block (bounded memory), equal to Graph:bounce() sample for sample; an
-- error in the function stops the render and propagates; the graph is
-- usable after.
local m = require "mixstage"

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

-- Streams `profile` and checks every output against g:bounce(profile)
-- sample for sample (exact equality: the same render).
local function check(profile, o)
  local whole = g:bounce(profile, { tail = 12000 })
  local pos, calls, longest = {}, 0, 0
  local next_frame = 0
  local desc = g:bounce_stream(profile, function(frame, blocks)
    assert(frame == next_frame, "blocks out of order: " .. frame .. " after " .. next_frame)
    calls = calls + 1
    local n
    for name, buf in pairs(blocks) do
      n = n or buf.frames
      assert(buf.frames == n, "outputs of one block differ in length")
      local ref = whole:get(name)
      local base = (pos[name] or 0)
      for i = 1, buf.frames * buf.channels do
        if buf[i] ~= ref[base + i] then
          error(profile .. " " .. name .. ": sample " .. (base + i) .. " differs: " .. buf[i] .. " vs " .. ref[base + i])
        end
      end
      pos[name] = base + buf.frames * buf.channels
    end
    if n > longest then longest = n end
    next_frame = frame + n
  end, o)
  assert(desc.frames == whole.frames and next_frame == whole.frames, profile .. ": length differs")
  assert(calls > 10 and longest <= 1024, profile .. ": not delivered block by block")
  for i = 1, whole.count do
    local n = whole:name(i)
    assert(desc:name(i) == n and desc:kind(n) == whole:kind(n), profile .. ": outputs differ")
    assert(pos[n] == whole.frames * whole.channels, profile .. " " .. n .. ": not every sample seen")
  end
  return desc
end
check("mix-stems", { tail = 12000 })
check("final", { tail = 12000 })
check("production", { tail = 12000, threads = 2 })

-- the null check in the same pass: the residual null_check() measures
local desc = check("mix-stems", { tail = 12000, null_check = true })
assert(desc.null_residual == g:null_check("mix-stems", { tail = 12000 }), "null residual differs")
assert(check("mix-stems", { tail = 12000 }).null_residual == nil)
-- a streamed bounce holds no audio: a clear error, not a crash
local ok, err = pcall(desc.get, desc, "Tone")
assert(not ok and err.kind == "StateError" and tostring(err):find("streamed"), tostring(err))

-- an error in the function stops the render and propagates unchanged
local calls = 0
ok, err = pcall(g.bounce_stream, g, "mix-stems", function()
  calls = calls + 1
  if calls == 3 then error({ why = "enough" }) end
end, { tail = 12000 })
assert(not ok and type(err) == "table" and err.why == "enough", "the error did not propagate: " .. tostring(err))
assert(calls == 3, "called again after the error: " .. calls)
-- the graph is busy while the function runs: edits raise StateError
ok, err = pcall(g.bounce_stream, g, "final", function() g:add_strip("Late", 1) end, { tail = 0 })
assert(not ok and err.kind == "StateError", tostring(err))
-- and usable after: the same render again
check("mix-stems", { tail = 12000 })
print("test_stream_blocks.lua: ok")
