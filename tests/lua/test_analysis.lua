-- Lua binding tests of gain staging, assessment and A/B (assess.h), meters
-- (analysis.h), mastering (master.h), playback previews (translate.h) and
-- graph files (graphfile.h).  Run by test_mixstage.lua with its helpers:
--   require("test_analysis")(test, raises, close)
return function(test, raises, close)
  local m = require "mixstage"
  local FS = 48000

  local function sine(freq, seconds, amp, channels)
    channels = channels or 1
    local n = math.floor(FS * seconds)
    local b = m.Buffer(n, channels)
    for i = 0, n - 1 do
      local v = amp * math.sin(2 * math.pi * freq * i / FS)
      for c = 1, channels do b:set(i + 1, c, v) end
    end
    return b
  end
  -- Deterministic uniform noise (LCG), independent per channel.
  local function noise(seconds, amp, seed, channels)
    channels = channels or 1
    local n = math.floor(FS * seconds)
    local b = m.Buffer(n, channels)
    local x = seed
    for i = 1, n * channels do
      x = (x * 1103515245 + 12345) % 2147483648
      b[i] = (x / 2147483648.0 - 0.5) * 2 * amp
    end
    return b
  end
  local function scaled(buf, g)
    local b = m.Buffer(buf.frames, buf.channels)
    for i = 1, #buf do b[i] = buf[i] * g end
    return b
  end

  test("gain staging brings -40 dBFS to -18 dBFS RMS", function()
    -- RMS -40 dBFS sine; whole periods in 1 s, so exact to float rounding
    local x = sine(1000, 1.0, math.sqrt(2) * 10 ^ (-40 / 20))
    local r = m.gain_stage(x)
    assert(close(r.rms_before_dbfs, -40, 1e-3) and close(r.clip_gain_db, 22, 1e-3), r.clip_gain_db)
    assert(close(r.rms_after_dbfs, -18, 1e-3) and r.peak_limited == false)
    assert(close(m.gain_stage(x, { target_rms_dbfs = -20 }).clip_gain_db, 20, 1e-3))
    local g = m.Graph(FS)
    local s = g:add_strip("Quiet", 1)
    s:set_source(x)
    local rep = g:gain_stage({ apply = true })
    assert(#rep.strips == 1 and rep.strips[1].name == "Quiet" and rep.strips[1].index == 1)
    -- the render path is neutral: 0.01 dB covers float32 rounding
    assert(close(s.clip_gain_db, 22, 0.01), s.clip_gain_db)
    raises("InvalidArgumentError", m.gain_stage, x, { target_rms_dbfs = math.huge })
  end)

  test("mono compatibility, phase and masking", function()
    local a = noise(1.0, 0.2, 7)
    local st = m.Buffer(a.frames, 2)
    local inv = m.Buffer(a.frames, 2)
    for i = 1, a.frames do
      st:set(i, 1, a[i]); st:set(i, 2, a[i])
      inv:set(i, 1, a[i]); inv:set(i, 2, -a[i])
    end
    local mc = m.mono_compat(st)
    assert(close(mc.correlation, 1, 1e-9) and close(mc.mono_loss_db, 0, 1e-9))
    assert(close(m.mono_compat(inv).correlation, -1, 1e-9) and m.mono_compat(inv).mono_loss_db == math.huge)
    -- b: a delayed 48 frames and inverted
    local b = m.Buffer(a.frames, 1)
    for i = 49, a.frames do b[i] = -a[i - 48] end
    local p = m.phase_pair(a, b, FS)
    assert(p.offset_frames == 48 and p.sign == -1 and p.polarity_flip and p.time_offset, p.offset_frames)
    local pairs = m.masking_rank({ sine(100, 1, 0.3), sine(5000, 1, 0.3), sine(100, 1, 0.2) }, FS)
    assert(#pairs == 3)
    -- indices are 1-based in Lua: the two 100 Hz tones compete most
    assert(pairs[1].a == 1 and pairs[1].b == 3 and close(pairs[1].band_hz, 100, 1e-9), pairs[1].a)
    assert(#pairs[1].overlap_db == m.THIRD_OCTAVE_BANDS)
    -- a sine reads its RMS (peak - 3.01 dB) in its band; 0.1 dB for leakage
    local lv = m.band_levels(sine(1000, 1, 0.1, 2), FS, false)
    assert(#lv == m.OCTAVE_BANDS and close(lv[6], -23.01, 0.1) and m.octave_hz(5) == 1000, lv[6])
    raises("InvalidArgumentError", m.phase_pair, a, sine(1000, 0.5, 0.1), FS)
  end)

  test("graph assessment flags a polarity flip", function()
    local g = m.Graph(FS)
    local a = noise(1.0, 0.1, 9)
    g:add_strip("Top", 1):set_source(a)
    g:add_strip("Bottom", 1):set_source(scaled(a, -1))
    local r = g:assess()
    assert(r.strips[1] == "Top" and r.strips[2] == "Bottom")
    assert(#r.phase == 1 and r.phase[1].a_name == "Top" and r.phase[1].polarity_flip)
    assert(#r.masking == 1)
  end)

  test("A/B of a buffer against itself is zero", function()
    local a = noise(3.0, 0.2, 11, 2)
    local r = m.ab_compare(a, a, FS)
    assert(r.match_gain_db == 0 and r.loudness_diff_lu == 0 and r.crest_diff_db == 0)
    for i = 1, m.OCTAVE_BANDS do assert(r.band_diff_db[i] == 0) end
    -- half the level: 6.02 dB of match gain (scaling by 0.5 is exact)
    local h = m.ab_compare(a, scaled(a, 0.5), FS)
    assert(close(h.match_gain_db, 6.0206, 1e-3) and close(h.band_diff_matched_db[6], 0, 1e-3))
    raises("RangeError", m.ab_compare, a, m.Buffer(a.frames, 2), FS)
    local dir = os.tmpname(); os.remove(dir); os.execute("mkdir -p " .. dir)
    local w = m.ab_write_pair(a, scaled(a, 0.5), FS, dir, "wav", "float32")
    assert(close(w.gain_a_db, -6.0206, 1e-3) and w.gain_b_db == 0)
    local ra = m.read_audio(w.a_path)
    local rb = m.read_audio(w.b_path)
    assert(ra.frames == a.frames and close(ra:peak(), rb:peak(), 1e-6))
    os.execute("rm -rf " .. dir)
  end)

  test("meters read a -23 dBFS stereo 1 kHz sine as -23.0 LUFS", function()
    -- EBU Tech 3341 case 1 (+-0.1 LU allowed; libebur128 is within 0.01)
    local x = sine(1000, 3.0, 10 ^ (-23 / 20), 2)
    local r = m.meter(x, FS)
    assert(close(r.integrated_lufs, -23, 0.05), r.integrated_lufs)
    assert(#r.rms_dbfs_per_channel == 2 and close(r.rms_dbfs_per_channel[1], -26.0103, 1e-3) and close(r.correlation, 1, 1e-9))
    local st = m.measure(x, FS) -- one key, one figure: as measure() names them
    for _, k in ipairs({ "peak_dbfs", "true_peak_dbtp", "rms_dbfs", "clipped_samples" }) do
      assert(close(r[k], st[k], 0.02), k)
    end
    assert(#r.momentary_series == 30 and r.clipped_total == 0)
    assert(close(m.meter(sine(1000, 3.0, 10 ^ (-23 / 20)), FS, { layout = "dual-mono" }).integrated_lufs, -23, 0.05))
    assert(close(m.meter(x, FS, { channel_roles = { "left", "unused" } }).integrated_lufs, -26.01, 0.05))
    -- a streaming meter agrees within 0.05 LU (histogram gating)
    local meter = m.Meter(2, FS, { max_block = 4800 })
    local blk = m.Buffer(4800, 2)
    for f = 0, x.frames - 1, 4800 do
      for i = 1, 4800 do blk:set(i, 1, x:get(f + i, 1)); blk:set(i, 2, x:get(f + i, 2)) end
      meter:push(blk)
    end
    assert(close(meter:report().integrated_lufs, r.integrated_lufs, 0.05))
    assert(close(meter:loudness_now().momentary_lufs, -23, 0.05))
    raises("ChannelsError", meter.push, meter, m.Buffer(10, 1))
    raises("NotFoundError", m.meter, x, FS, { layout = "surround" })
    assert(m.channel_role_name(m.CHANNEL_LFE) == "lfe" and m.channel_role_name(99) == nil)
  end)

  local function song(seed, level)
    local g = m.Graph(FS)
    local s = g:add_strip("Song", 2)
    local n = noise(1.0, level, seed, 2)
    local tone = sine(220, 1.0, level, 2)
    for i = 1, #n do n[i] = n[i] + tone[i] end
    s:set_source(n)
    g.mix_bus:insert("limiter", "mastering")
    return g
  end

  test("a master lands on its target", function()
    local r = song(21, 0.1):master({ audio = true })
    -- the report's contract: within the tolerance and true-peak safe
    assert(r.converged and math.abs(r.integrated_lufs + 14) <= r.tolerance_lu, r.integrated_lufs)
    assert(r.true_peak_dbtp <= -1 + 1e-9 and r.audio.frames == r.frames and r.audio.channels == 2)
    assert(close(m.measure(r.audio, FS).integrated_lufs, r.integrated_lufs, 1e-6))
    assert(#r.steps == r.iteration_count and r.streaming[1].service == "Spotify")
    local e = song(22, 0.1):master({ preset = "ebu-r128", tolerance_lu = 0.1 })
    assert(math.abs(e.integrated_lufs + 23) <= 0.1)
    local s23 = song(23, 0.1)
    raises("NotFoundError", s23.master, s23, { preset = "loudest" })
    local g = m.Graph(FS)
    raises("InvalidArgumentError", g.master, g)
    local presets = m.master_presets()
    assert(#presets == 4 and presets[1] == "streaming")
    local sr = m.streaming_report(-10, -0.5)
    assert(sr[1].service == "Spotify" and sr[1].gain_db == -4)
    local al = m.album_master({ song(31, 0.1), song(32, 0.05) }, { target_lufs = -16 })
    assert(#al.songs == 2 and math.abs(al.combined_lufs + 16) <= 0.3)
  end)

  test("translate's phone preview is mono", function()
    local x = noise(0.5, 0.2, 41, 2)
    local ph = m.translate(x, FS, "phone")
    assert(ph.frames == x.frames and ph.channels == 2)
    for i = 1, ph.frames do assert(ph:get(i, 1) == ph:get(i, 2)) end
    assert(m.mono_compat(m.translate(x, FS, m.PLAYBACK_EARBUDS)).correlation < 0.1)
    assert(m.response_db("phone", 100, FS) < -40 and m.response_db("phone", 3000, FS) > 0)
    local sys = m.playback_systems()
    assert(#sys == 5 and sys[2].name == "phone" and #sys[2].description > 0)
    assert(m.playback_system_find("phone") == m.PLAYBACK_PHONE)
    raises("NotFoundError", m.playback_system_find, "cinema")
    local e = raises("NotFoundError", m.translate, x, FS, "cinema")
    assert(e.message:find("phone", 1, true))
    local dir = os.tmpname(); os.remove(dir); os.execute("mkdir -p " .. dir)
    local paths = m.translate_write(noise(0.1, 0.1, 5, 2), FS, dir, "mix")
    assert(#paths == 5 and paths[2] == dir .. "/mix-phone.wav" and m.read_audio(paths[2]).frames == 4800)
    os.execute("rm -rf " .. dir)
  end)

  test("graph files round trip and render identically", function()
    local function build()
      local g = m.Graph(FS, 256, 96)
      local verb = g:add_return("Verb")
      verb:insert("reverb", "mix-fx")
      local kick = g:add_strip("Kick", 1)
      kick.fader_db = -3.5
      kick:insert("compressor").threshold = -20
      local pad = g:add_strip("Pad", 2)
      pad:add_send(verb, -12)
      return g
    end
    local g = build()
    local text = g:to_json()
    assert(text:find('"tempo": 96', 1, true))
    local g2 = m.load_graph_string(text)
    assert(g2:to_json() == text)
    local path = os.tmpname()
    g:save(path)
    local g3 = m.load_graph(path)
    os.remove(path)
    assert(g3:to_json() == text and g3:find_strip("Kick"):node_at(0).threshold == -20)
    local kick, pad = sine(60, 0.5, 0.5), noise(0.5, 0.05, 3, 2)
    for _, x in ipairs({ g, g2, g3 }) do
      x:find_strip("Kick"):set_source(kick)
      x:find_strip("Pad"):set_source(pad)
    end
    local ref = g:render(0, FS // 2)
    assert(ref:peak() > 0.01)
    assert(g2:render(0, FS // 2):hash() == ref:hash() and g3:render(0, FS // 2):hash() == ref:hash())
    local e = raises("FormatError", m.load_graph_string, '{"format": "mixstage-graph", "version": 1, "bogus": 1}')
    assert(e.message:find("bogus", 1, true))
    -- a GraphFile keeps source paths and custom profiles
    local dir = os.tmpname(); os.remove(dir); os.execute("mkdir -p " .. dir)
    m.write_audio(dir .. "/kick.wav", kick, FS, { sample_type = "float32" })
    local f = io.open(dir .. "/g.json", "w")
    f:write((text:gsub('"source": null', '"source": "kick.wav"', 1)))
    f:close()
    local gf = m.GraphFile(dir .. "/g.json")
    assert(gf:to_json():find('"source": "kick.wav"', 1, true))
    local gg = gf.graph
    gf = nil
    collectgarbage()
    -- the graph keeps its document; float32 WAV source: exact samples
    assert(gg:find_strip("Kick").source_frames == kick.frames)
    local gf2 = m.GraphFile(dir .. "/g.json")
    local p = m.Profile("drums-only", "mix-stems")
    gf2:add_profile(p, "mix-stems")
    assert(gf2.profile_count == 1 and gf2:profile_names()[1] == "drums-only")
    assert(gf2:profile("drums-only").name == "drums-only")
    raises("NotFoundError", gf2.profile, gf2, "none")
    raises("NotFoundError", gf2.set_source_path, gf2, "Nope", "x.wav")
    gf2:save(dir .. "/h.json")
    assert(m.GraphFile(dir .. "/h.json"):profile_names()[1] == "drums-only")
    os.execute("rm -rf " .. dir)
  end)
end
