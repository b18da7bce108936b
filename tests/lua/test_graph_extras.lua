-- Lua binding tests of source callbacks, planar processing, GraphFile
-- around a code-built graph, non-converged masters, the graph getters,
-- meters inside the graph and the demo song.  Run by test_mixstage.lua:
--   require("test_graph_extras")(test, raises, close)
return function(test, raises, close)
  local m = require "mixstage"
  local FS = 48000

  local function noise(frames, channels, seed, amp)
    local b = m.Buffer(frames, channels)
    local x = seed
    for i = 1, frames * channels do
      x = (x * 1103515245 + 12345) % 2147483648
      b[i] = (x / 2147483648.0 - 0.5) * 2 * (amp or 0.2)
    end
    return b
  end

  test("source callback equals a buffer source; errors surface", function()
    local x = noise(5000, 2, 11)
    local g = m.Graph(FS, 256)
    local s = g:add_strip("Pull", 2)
    s:insert("compressor").threshold = -20
    local calls, last = 0, -1
    s:set_source_callback(function(buf, pos)
      calls = calls + 1
      assert(buf.channels == 2 and buf.frames >= 1 and buf.frames <= 256)
      assert(pos == last + 1 or pos == 0, "chunks tile the program")
      last = pos + buf.frames - 1
      for f = 1, buf.frames do
        if pos + f <= x.frames then
          buf:set(f, 1, x:get(pos + f, 1)); buf:set(f, 2, x:get(pos + f, 2))
        end
      end
      return pos + buf.frames >= x.frames
    end, 2, x.frames)
    assert(s.source_frames == 5000 and s.source_path == nil)
    local got = g:render(0, 0)
    local ref = m.Graph(FS, 256)
    local r = ref:add_strip("Pull", 2)
    r:insert("compressor").threshold = -20
    r:set_source(x)
    assert(got:hash() == ref:render(0, 0):hash(), "bit-identical to the buffer source")
    assert(calls > 0 and got.frames == 5000)
    assert(g:render(0, 0, true, 2):hash() == got:hash(), "same with two render threads")

    local seen = 0
    s:set_source_callback(function(buf, pos)
      seen = math.max(seen, pos)
      if pos >= 2048 then error("no more audio at " .. pos) end
    end, 1, 10 * FS)
    local ok, err = pcall(g.render, g, 0, 0)
    assert(not ok and tostring(err):find("no more audio at 2048"), tostring(err))
    assert(seen < FS // 2, "the render stopped early")
    ok, err = pcall(g.bounce, g, "mix-stems")
    assert(not ok and tostring(err):find("no more audio"))
    raises("ChannelsError", s.set_source_callback, s, function() end, 3)
    raises("InvalidArgumentError", s.set_source_callback, s, nil)
    s:set_source_callback(function() end, 1, 1000)
    assert(g:render(0, 0).frames == 1000)
  end)

  test("process_planar equals process bit for bit", function()
    local function graph()
      local g = m.Graph(FS, 512)
      local a = g:add_strip("A", 2)
      a:set_source(noise(3000, 2, 3))
      a.pan = -0.4
      a:insert("eq")
      local b = g:add_strip("B", 1)
      b:set_source(noise(3000, 1, 4))
      g.mix_bus:insert("limiter", "placeholder-limiter")
      g:prepare()
      return g
    end
    local g1, g2 = graph(), graph()
    for _, n in ipairs({ 512, 100, 7, 512 }) do
      local inter = m.Buffer(n, 2)
      local l, r = m.Buffer(n, 1), m.Buffer(n, 1)
      g1:process(inter)
      g2:process_planar({ l, r })
      for f = 1, n do
        assert(inter:get(f, 1) == l[f] and inter:get(f, 2) == r[f], "frame " .. f)
      end
    end
    raises("ChannelsError", g2.process_planar, g2, { m.Buffer(8, 1) })
    raises("InvalidArgumentError", g2.process_planar, g2, { m.Buffer(8, 2), m.Buffer(8, 1) })
    raises("RangeError", g2.process_planar, g2, { m.Buffer(8, 1), m.Buffer(8, 1) }, 9)
  end)

  test("GraphFile around a code-built graph", function()
    local dir = os.tmpname(); os.remove(dir); os.execute("mkdir -p " .. dir)
    local x = noise(FS // 2, 2, 5)
    m.write_audio(dir .. "/pad.wav", x, FS, { sample_type = "float32" })
    local g = m.Graph(FS)
    local pad = g:add_strip("Pad", 2)
    pad:set_source(x)
    pad.fader_db = -3
    local rendered = g:render(0, FS // 4):hash()
    local doc = m.graphfile_wrap(g)
    raises("StateError", m.graphfile_wrap, g)
    doc:set_source_path("Pad", "pad.wav")
    doc:save(dir .. "/song.json")
    doc = nil
    collectgarbage(); collectgarbage()
    assert(pad.fader_db == -3 and g:render(0, FS // 4):hash() == rendered)
    local loaded = m.load_graph(dir .. "/song.json")
    assert(loaded:find_strip("Pad").source_path == dir .. "/pad.wav")
    assert(loaded:render(0, FS // 4):hash() == rendered, "float32 WAV: the same samples")
    os.execute("rm -rf " .. dir)
  end)

  test("a master that does not converge keeps its report", function()
    local g = m.Graph(FS)
    g:add_strip("Song", 2):set_source(noise(FS, 2, 6, 0.08))
    g.mix_bus:insert("limiter", "mastering")
    -- two renders (the fewest allowed) cannot land within 0.05 LU of -5 LUFS
    -- from a -27 LUFS noise mix: that far up the limiter is not linear
    local e = raises("StateError", g.master, g, { target_lufs = -5, tolerance_lu = 0.05,
                                                   max_iterations = 2, audio = true })
    assert(e.report and e.report.converged == false and e.report.iteration_count == 2)
    assert(e.report.audio.frames == e.report.frames)
    assert(math.abs(e.report.integrated_lufs + 5) > 0.05)
    e = raises("InvalidArgumentError", m.Graph(FS).master, m.Graph(FS))
    assert(e.report == nil)
  end)

  test("getters: source path, sidechain key, lane points", function()
    local dir = os.tmpname(); os.remove(dir); os.execute("mkdir -p " .. dir)
    m.write_audio(dir .. "/k.wav", noise(1000, 1, 7), FS)
    local g = m.Graph(FS)
    local kick = g:add_strip("Kick", 1)
    kick:set_source_file(dir .. "/k.wav")
    assert(kick.source_path == dir .. "/k.wav" and m.strip_source_path(kick) == kick.source_path)
    local bass = g:add_strip("Bass", 1)
    local duck = bass:insert("compressor")
    assert(duck:sidechain() == nil)
    duck:sidechain(kick, "post")
    local k, tap = duck:sidechain()
    assert(k.name == "Kick" and tap == "post")
    local grp = g:add_bus("Drums")
    duck:sidechain(grp)
    k, tap = duck:sidechain()
    assert(k.name == "Drums" and tap == "pre" and m.node_sidechain_strip(duck) == nil)
    duck:clear_sidechain()
    raises("NotFoundError", m.node_sidechain_tap, duck)
    assert(duck:find_lane("threshold") == nil)
    local lane = duck:lane("threshold")
    lane:add_point(0, -10)
    lane:add_point(4800, -30, "exponential")
    lane:add_point(2400, -20, "step")
    assert(duck:find_lane("threshold") ~= nil and m.node_find_lane(duck, 0) ~= nil)
    local f, v, c = lane:point(2)
    assert(f == 2400 and v == -20 and c == "step")
    local pts = lane:points()
    assert(#pts == 3 and pts[3].frame == 4800 and pts[3].curve == "exponential" and pts[1].value == -10)
    raises("RangeError", lane.point, lane, 4)
    assert(bass:find_lane("fader") == nil and bass:lane("fader") and bass:find_lane("fader"))
    assert(m.strip_find_lane(bass, "fader") and m.bus_find_lane(grp, "pan") == nil)
    local snd = bass:add_send(g:add_return("Verb"))
    assert(snd:find_lane() == nil and snd:lane() and m.send_find_lane(snd))
    os.execute("rm -rf " .. dir)
  end)

  test("meters inside the graph and gain-reduction history", function()
    local g = m.Graph(FS)
    local s = g:add_strip("Tone", 2)
    local x = m.Buffer(FS, 2)
    for f = 1, FS do
      local v = 0.1 * math.sin(2 * math.pi * 1000 * (f - 1) / FS)
      x:set(f, 1, v); x:set(f, 2, v)
    end
    s:set_source(x)
    local comp = s:insert("compressor")
    comp.threshold = -30
    comp:enable_gr_history(2)
    local meter = m.Meter(2, FS, { series = false })
    g.mix_bus:attach_meter(meter, "post")
    assert(meter.attached)
    local out = g:render(0, 0)
    local ref = m.Meter(2, FS, { series = false, max_block = FS })
    ref:push(out)
    assert(meter:report().integrated_lufs == ref:report().integrated_lufs, "the meter saw the render")
    local gr, first, hop = comp:gr_history()
    assert(gr.frames == FS // 32 and gr.channels == 1 and first == 0 and hop == 32)
    assert(gr[gr.frames] > 3, "10 dB over the threshold: several dB of reduction")
    comp:clear_gr_history()
    assert(comp:gr_history().frames == 0)
    local eq = s:insert("eq")
    raises("UnsupportedError", eq.enable_gr_history, eq, 1)
    local pre = m.Meter(2, FS)
    s:attach_meter(pre, "pre")
    pre = nil
    collectgarbage(); collectgarbage()
    g:render(0, 0) -- the graph kept the meter alive
    s:detach_meter("pre")
    raises("ChannelsError", s.attach_meter, s, m.Meter(1, FS), "pre")
    local other = g:add_strip("O", 2)
    raises("InvalidArgumentError", other.attach_meter, other, meter, "pre") -- already on the mix bus
    g.mix_bus:detach_meter()
    assert(not meter.attached)
  end)

  test("demo song", function()
    assert(m.demo_song_seconds() == 16.0)
    local g = m.demo_song(44100)
    assert(g.sample_rate == 44100 and g:strip_count() >= 6)
    raises("RangeError", m.demo_song, 1000)
    local dir = os.tmpname(); os.remove(dir)
    m.demo_song_write(dir, 44100)
    local f = assert(io.open(dir .. "/demo-song.mixstage.json")); f:close()
    raises("InputOutputError", m.demo_song_write, dir .. "/no/such")
    os.execute("rm -rf " .. dir)
  end)
end
