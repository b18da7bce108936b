-- Lua binding tests of the one vocabulary (fx-return, adds_up, bypass/mute,
-- -inf for silence), one calling style (positional or an options table)
-- and lanes / renders in seconds.  Run by test_mixstage.lua:
--   require("test_vocabulary")(test, raises, close)
return function(test, raises, close)
  local m = require "mixstage"
  local FS = 48000

  local function song()
    local g = m.Graph(FS, 256)
    local n = FS // 2
    local kick, pad = m.Buffer(n, 1), m.Buffer(n, 2)
    local x = 7
    for i = 1, n do
      local t = (i - 1) / FS
      kick[i] = t < 0.1 and math.sin(2 * math.pi * 55 * t) or 0
      for c = 1, 2 do
        x = (x * 1103515245 + 12345) % 2147483648
        pad:set(i, c, (x / 2147483648.0 - 0.5) * 0.2)
      end
    end
    g:add_strip("Kick", 1):set_source(kick)
    local p = g:add_strip("Pad", 2)
    p:set_source(pad)
    local plate = g:add_return("Plate")
    plate:insert("reverb", "mix-fx")
    p:add_send(plate, -12)
    return g
  end

  test("vocabulary: fx-return, adds_up, bypass and mute", function()
    local g = song()
    local b = g:bounce("mix-stems", { tail = FS // 4 })
    assert(b:kind("Plate") == "fx-return" and b:kind(3) == "fx-return" and b:kind("Kick") == "stem")
    assert(b:adds_up("Kick") and b:adds_up(2) and b:nulls("Plate"), "adds_up; nulls the old alias")
    -- positional and table forms are the same call
    local b2 = g:bounce("mix-stems", 0, FS // 4)
    assert(b2:get("Pad"):hash() == b:get("Pad"):hash())
    local p = m.Profile("mine", "mix-stems")
    p["mix-fx"] = "bypassed"
    assert(p["mix-fx"] == "bypass")
    p["mix-fx"] = "muted"
    assert(p["mix-fx"] == "mute")
    local man = m.Manifest()
    local st = m.measure(b:get("Plate"), FS)
    man:add_file("Plate.wav", "fx", p, st, { on = { "strip" }, bypass = { "bus-color" }, mute = { "mix-fx" } })
    local text = man:to_string()
    assert(text:find('"kind": "fx-return"', 1, true), text)
    assert(text:find('"bypass": %[%s*"bus%-color"%s*%]') and text:find('"mute": %[%s*"mix%-fx"%s*%]'), text)
    assert(not text:find('"bypassed"') and text:find('"manifest_version": 2'), text)
  end)

  test("silence is -math.huge, the null check too", function()
    local g = m.Graph(FS, 256)
    g:add_strip("Quiet", 2):set_source(m.Buffer(FS // 10, 2))
    assert(g:null_check("mix-stems") == -math.huge)
    assert(g:null_check("mix-stems", { frames = 4800 }) == -math.huge)
    local st = m.measure(m.Buffer(4800, 2), FS)
    assert(st.peak_dbfs == -math.huge and m.meter(m.Buffer(4800, 2), FS).peak_dbfs == -math.huge)
  end)

  test("render and lanes: positional or a table, frames or seconds", function()
    local g = m.Graph(FS, 256)
    local s = g:add_strip("S", 1)
    local src = m.Buffer(FS, 1)
    for i = 1, FS do src[i] = 0.5 end
    s:set_source(src)
    local lane = s:lane("fader")
    assert(lane.sample_rate == FS)
    lane:add_point{ seconds = 0.25, value = 0 }
    lane:add_point{ seconds = 0.5, value = -6, curve = "step" }
    lane:add_point(36000, -12)
    local f, v, c = lane:point(2)
    assert(f == 24000 and v == -6 and c == "step")
    assert(lane:value_at{ seconds = 0.75 } == -12 and lane:value_at(36000) == -12)
    -- a fractional frame is refused, not truncated nor taken as seconds
    local ok, err = pcall(lane.add_point, lane, 1.5, -3)
    assert(not ok and tostring(err):find("seconds"), tostring(err))
    ok, err = pcall(lane.add_point, lane, { frame = 10, seconds = 0.1, value = 0 })
    assert(not ok and tostring(err):find("not both"), tostring(err))
    assert(lane.point_count == 3)
    lane:add_point(48000.0, -12) -- an integral float is a frame
    local y = g:render{ seconds = 0.6, tail = 0 }
    local z = g:render(28800, 0)
    assert(y.frames == 28800 and y:hash() == z:hash())
    -- sample-accurate fader: the step lands on frame 24000 (1-based 24001)
    assert(close(y:get(24000, 1), y:get(12001, 1), 1e-6))
    assert(close(y:get(24001, 1), y:get(12001, 1) * 10 ^ (-6 / 20), 1e-6))
    ok, err = pcall(g.render, g, 0.5)
    assert(not ok and tostring(err):find("seconds"), tostring(err))
    assert(g:seconds_to_frames(0.5) == 24000 and g:frames_to_seconds(24000) == 0.5)
  end)

  test("deliver, meter, gain_stage, write_audio: positional or a table", function()
    local g = song()
    local dir = os.tmpname()
    os.remove(dir)
    g:deliver("mix-stems", dir, "flac", "pcm16")
    local st = m.measure_file(dir .. "/Kick.flac")
    assert(st.format == "flac" and st.sample_type == "pcm16")
    os.execute("rm -rf " .. dir)
    local x = m.Buffer(FS // 2, 2)
    for i = 1, x.frames * 2 do x[i] = 0.1 * math.sin(i * 0.05) end
    assert(m.meter(x, FS, "auto", nil, false).true_peak_dbtp == -math.huge)
    assert(m.meter(x, FS, { true_peak = false }).true_peak_dbtp == -math.huge)
    assert(m.meter(x, FS).true_peak_dbtp > -30)
    assert(m.gain_stage(x, -20).clip_gain_db == m.gain_stage(x, { target_rms_dbfs = -20 }).clip_gain_db)
    local f = os.tmpname()
    assert(m.write_audio(f, x, FS, "wav", "float32").sample_type == "float32")
    assert(m.write_audio(f, x, FS, { format = "wav", sample_type = "pcm16" }).sample_type == "pcm16")
    os.remove(f)
  end)
end
