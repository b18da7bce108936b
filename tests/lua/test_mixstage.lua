-- Tests of the Lua binding: every public call, errors, lifetimes, and
-- bit-exact agreement with the C library (tests/render_ref).
-- `lua5.4 test_mixstage.lua --ref-hash` prints the reference render's
-- "<frames> <channels> <hash>" (used by the Python tests to compare).
local m = require "mixstage"

local failures, count = 0, 0
-- MIXSTAGE_LUA_TESTS=TEXT runs only the tests whose name contains TEXT (the
-- valgrind run of tests/bindings_valgrind.sh); selecting none is a failure.
local only = os.getenv("MIXSTAGE_LUA_TESTS")
local function test(name, fn)
  if only and not name:find(only, 1, true) then return end
  count = count + 1
  local ok, err = xpcall(fn, debug.traceback)
  if not ok then
    failures = failures + 1
    io.stderr:write("FAIL ", name, ": ", tostring(err), "\n")
  end
end
local function raises(kind, fn, ...)
  local ok, err = pcall(fn, ...)
  assert(not ok, "expected " .. kind .. ", got success")
  assert(type(err) == "table" and err.kind == kind,
         "expected " .. kind .. ", got " .. tostring(err))
  return err
end
local function close(a, b, tol) return math.abs(a - b) <= tol end

-- The reference graph, built alike in C (tests/render_ref.c) and Python.
local function ref_graph()
  local frames = 24000
  local g = m.Graph(48000, 256)
  local kick = m.Buffer(frames, 1)
  for i = 0, frames - 1 do
    local k = i % 12000
    if k < 2400 then
      kick[i + 1] = (((k // 40) % 2 == 0) and 0.75 or -0.75) * (2400 - k) / 2400.0
    end
  end
  local pad = m.Buffer(frames, 2)
  local x = 12345
  for i = 1, 2 * frames do
    x = (x * 1103515245 + 12345) % 2147483648
    pad[i] = (x / 2147483648.0 - 0.5) * 0.25
  end
  local k = g:add_strip("Kick", 1)
  k:set_source(kick)
  k.fader_db = -2.0
  local p = g:add_strip("Pad", 2)
  p:set_source(pad)
  p.fader_db = -3.0
  p.pan = 0.3
  local duck = p:insert("compressor", "strip")
  duck.threshold = -30.0
  duck.ratio = 8.0
  duck:sidechain(k, "pre")
  local verb = g:add_return("Verb")
  verb:insert("reverb", m.ROLE_MIX_FX)
  p:add_send(verb, -10.0, "post", "mix-fx")
  g.mix_bus:insert("limiter", "placeholder-limiter")
  return g
end

if arg[1] == "--ref-hash" then
  local out = ref_graph():render(0, 4800, true, 2)
  print(out.frames, out.channels, out:hash())
  os.exit(0)
end
-- "<name> <frames> <channels> <hash>" per output, as tests/render_ref --bounce
if arg[1] == "--bounce-hash" then
  local b = ref_graph():bounce(arg[2], { tail = 4800, threads = 2 })
  for name, buf in b:outputs() do
    print(string.format("%s %d %d %s", name, buf.frames, buf.channels, buf:hash()))
  end
  os.exit(0)
end

test("module functions", function()
  assert(m.version_string():match("^%d+%.%d+%.%d+$"))
  assert(m.strerror(m.ECYCLE) == "the routing would create a cycle")
  assert(m.err_name(m.ERANGE) == "MIXSTAGE_ERANGE")
  assert(m.role_name(m.ROLE_MIX_FX) == "mix-fx" and m.role_name(99) == nil)
  assert(m.role_from_name("design") == m.ROLE_DESIGN)
  raises("NotFoundError", m.role_from_name, "nope")
  assert(m.unit_name(m.UNIT_HZ) == "Hz")
  local types = m.node_types()
  assert(#types >= 10 and types[1].name and types[1].description)
  assert(m.node_type_name(#types) == nil)
end)

test("graph", function()
  local g = m.Graph(44100, 512, 90)
  assert(g.sample_rate == 44100 and g.max_block == 512 and g.tempo == 90 and g.mix_channels == 2)
  g.tempo = 128
  assert(g.tempo == 128)
  local e = raises("RangeError", function() g.tempo = 5 end)
  assert(e.code == m.ERANGE and e.detail:find("tempo") and tostring(e):find("out of range"))
  raises("RangeError", m.Graph, 10)
  assert(g.mix_bus.name == "Mix" and g.mix_bus.kind == "mix")
  assert(tostring(g):find("Graph"))
  assert(not g.prepared)
  g:prepare()
  assert(g.prepared and g.latency >= 0 and g.position == 0)
end)

test("strips", function()
  local g = m.Graph()
  local s = g:add_strip("Kick", 1)
  s.clip_gain_db = 3; s.fader_db = -6; s.pan = -0.5; s.width = 1
  assert(s.clip_gain_db == 3 and s.fader_db == -6 and s.pan == -0.5 and s.width == 1)
  s.mute = true; s.solo = true; s.polarity = true
  assert(s.mute and s.solo and s.polarity)
  s.mute = false; s.solo = false; s.polarity = false
  s.color = 0xFF8800
  assert(s.color == 0xFF8800)
  local e = raises("RangeError", function() s.fader_db = 13 end)
  assert(e.message:find("Kick"))
  assert(s.name == "Kick" and s.channels == 1 and s.graph == g and s.source_frames == 0)
  s:set_source(m.buffer_from_table({0.1, 0.2, 0.3}, 1))
  assert(s.source_frames == 3)
  raises("ChannelsError", s.set_source, s, m.Buffer(10, 2))
  raises("ExistsError", g.add_strip, g, "Kick")
  raises("RangeError", g.add_strip, g, "Wide", 17)
  assert(#g:strips() == 1 and g:strips()[1] == s and g:find_strip("none") == nil)
  raises("RangeError", g.strip_at, g, 5)
end)

test("buses and sends", function()
  local g = m.Graph()
  local s = g:add_strip("Gtr")
  local grp = g:add_bus("Guitars")
  local ret = g:add_return("Plate")
  assert(grp.kind == "group" and ret.kind == "return" and g:bus_count() == 3)
  s.output = grp
  assert(s.output == grp and grp.output == g.mix_bus)
  raises("InvalidArgumentError", function() s.output = ret end)
  grp.fader_db = -2; grp.pan = 0.1; grp.width = 0.5; grp.mute = true
  assert(grp.fader_db == -2 and grp.pan == 0.1 and grp.width == 0.5 and grp.mute)
  local snd = s:add_send(ret, -12, "pre", "mix-fx")
  assert(snd.level_db == -12 and snd.tap == "pre" and snd.role == "mix-fx" and snd.target == ret)
  snd.level_db = -6; snd.mute = true
  assert(snd.level_db == -6 and snd.mute and #s:sends() == 1)
  raises("InvalidArgumentError", s.add_send, s, grp)
  raises("NotFoundError", s.add_send, s, ret, 0, "sideways")
  assert(#grp:sends() == 0 and grp:add_send(ret, -20).tap == "post")
  assert(g:find_bus("Plate") == ret and #g:buses() == 3)
end)

test("unknown fields and choices by name", function()
  local g = m.Graph(48000)
  local s = g:add_strip("Vox", 2)
  local eq = s:insert("eq")
  eq.band2_freq = 200
  assert(eq.band2_freq == 200)
  local ok, err = pcall(function() s.fadr_db = -3 end)
  assert(not ok and tostring(err):find("did you mean 'fader_db'", 1, true), tostring(err))
  ok, err = pcall(function() s.fader = -3 end)
  assert(not ok and tostring(err):find("fader_db", 1, true), tostring(err))
  ok, err = pcall(function() return s.fadr_db end)
  assert(not ok and tostring(err):find("fader_db", 1, true), tostring(err))
  ok, err = pcall(function() s.insert = 3 end)
  assert(not ok and tostring(err):find("method", 1, true), tostring(err))
  assert(s.fader_db == 0)
  eq.band1_type = "highpass"
  assert(eq:choice("band1_type") == "highpass")
  eq["band1_type"] = "bell"
  assert(eq:choice("band1_type") == "bell")
  eq:set("band1_type", "notch")
  assert(eq:choice("band1_type") == "notch")
  local e = raises("NotFoundError", function() eq.band1_type = "hipass" end)
  assert(e.message:find("did you mean 'highpass'", 1, true), e.message)
  e = raises("NotFoundError", function() eq.band2_freqq = 1 end)
  assert(e.message:find("did you mean 'band2_freq'", 1, true), e.message)
  raises("InvalidArgumentError", function() eq.band1_freq = "bell" end)
  ok = pcall(function() eq.band1_gain = {} end)
  assert(not ok)
  assert(eq:choice("band1_type") == "notch")
  -- the profile still indexes roles
  local p = m.Profile("custom")
  p["mix-fx"] = "mute"
  assert(p["mix-fx"] == "mute")
end)

test("callbacks cannot edit the graph they render; renders from callbacks do not hang", function()
  local g = m.Graph(48000)
  local s = g:add_strip("Vox", 1)
  local called = false
  s:set_source_callback(function(buf, pos)
    if not called then called = true; s:set_source_callback(function(b, p) end, 1, 48000) end
  end, 1, 48000)
  local e = raises("StateError", function() return g:render(4800) end)
  assert(e.message:find("strip 'Vox'", 1, true) and e.message:find("rendering", 1, true), e.message)
  s:set_source_callback(function(buf, pos) s:insert("eq"); g:prepare() end, 1, 48000)
  raises("StateError", function() return g:render(4800) end)
  assert(s:node_count() == 0)
  -- another graph with its own Lua source, rendered from a source callback and a progress
  -- function, on one thread and on two (this used to deadlock)
  local k = m.Graph(48000)
  k:add_strip("y", 1):set_source_callback(function(b, p) for i = 1, #b do b[i] = 0.5 end end, 1, 480)
  local peaks = {}
  s:set_source_callback(function(buf, pos)
    for i = 1, #buf do buf[i] = 0.25 end
    local out = k:render(480, -1, true, 2)
    peaks[#peaks + 1] = out[1]
  end, 1, 4800)
  for _, threads in ipairs({ 1, 2 }) do
    local y = g:render(4800, -1, true, threads)
    assert(y.frames >= 4800)
  end
  assert(#peaks > 0)
  local y = g:render(4800, -1, true, 2, function(d, t) k:render(480); return false end)
  assert(y.frames >= 4800)
end)

test("nodes and parameters", function()
  local g = m.Graph()
  local s = g:add_strip("Vox", 2)
  for _, t in ipairs(m.node_types()) do
    local n = s:insert(t.name)
    for _, p in ipairs(n:params()) do
      assert(p.min <= p.default and p.default <= p.max)
      assert(n[p.name] == p.default, t.name .. "." .. p.name)
    end
  end
  local comp = s:insert("compressor", "strip", 0)
  assert(s:nodes()[1] == comp and comp.type == "compressor" and comp.param_count > 5)
  comp.threshold = -24
  comp["ratio"] = 6
  assert(comp.threshold == -24 and comp:get("ratio") == 6 and comp["1"] == 6)
  comp:set("knee", 3)
  assert(comp.knee == 3)
  raises("RangeError", function() comp.threshold = 10 end)
  raises("NotFoundError", function() return comp.nope end)
  raises("NotFoundError", s.insert, s, "nope")
  raises("RangeError", s.insert, s, "eq", "strip", 99)
  comp.role = "bus-dynamics"
  assert(comp.role == "bus-dynamics")
  comp.role = m.ROLE_DESIGN
  assert(comp.role == "design")
  raises("NotFoundError", function() comp.role = "boss" end)
  comp.bypass = true
  assert(comp.bypass and tostring(comp):find("bypassed"))
  assert(comp.graph == g and comp.label:find("Vox"))
  local info = comp:param_info(0)
  assert(info.name == "threshold" and info.unit == "dB" and info.automatable == true)
  raises("UnsupportedError", s:insert("eq").sidechain, s:nodes()[2], s)
  g:prepare()
  assert(comp.latency >= 0 and comp.tail >= 0 and comp.numeric_faults == 0
         and comp.gain_reduction_db == 0)
end)

test("cycle", function()
  local g = m.Graph()
  local grp = g:add_bus("Grp")
  local bass = g:add_strip("Bass")
  bass.output = grp
  local e = raises("CycleError", bass:insert("compressor").sidechain,
                   bass:nodes()[1], grp, "post")
  assert(e.message:find("Bass") and e.message:find("Grp") and e.name == "MIXSTAGE_ECYCLE")
end)

test("automation", function()
  local g = m.Graph()
  local s = g:add_strip("Pad")
  local fader = s:lane("fader")
  fader:add_point(0, -20)
  fader:add_point(48000, 0, "linear")
  fader:add_point(96000, -6, m.CURVE_STEP)
  assert(fader.point_count == 3 and close(fader:value_at(24000), -10, 1e-9))
  raises("RangeError", fader.add_point, fader, 10, 50)
  raises("NotFoundError", fader.add_point, fader, 10, 0, "wiggly")
  fader:clear()
  assert(fader.point_count == 0)
  s:add_send(g:add_return("Verb")):lane():add_point(0, -10)
  local comp = s:insert("compressor")
  comp:lane("threshold"):add_point(0, -20, "exponential")
  raises("UnsupportedError", comp.lane, comp, "detector")
  g.mix_bus:lane("pan"):add_point(0, 0.5)
end)

test("render and process", function()
  local g = m.Graph(48000, 256)
  local s = g:add_strip("Tone", 1)
  local src = m.Buffer(12000, 1)
  for i = 1, 12000 do src[i] = 0.5 * math.sin(2 * math.pi * 1000 * (i - 1) / 48000) end
  s:set_source(src)
  local out, fault = g:render(0, 0)
  assert(out.frames == 12000 and out.channels == 2 and #out == 24000 and fault == false)
  -- centre pan -3 dB each side; 1e-3 relative allows the smoothing ramp only
  assert(close(out:peak(), 0.5 / math.sqrt(2), 0.5e-3))
  assert(out:hash() == g:render(0, 0, true, 4):hash(), "threads must be bit-identical")
  assert(g:render_frames(0, 0) == 12000)
  local t = out:to_table()
  assert(#t == 24000 and t[3] == out[3] and out:get(2, 1) == t[3])
  out:set(1, 2, 0.25)
  assert(out[2] == 0.25)
  raises("RangeError", function() return out[0] end)
  g:prepare()
  local blk = m.Buffer(64, 2)
  assert(g:process(blk) == false and g.position == 64)
  local first = blk:hash()
  g:locate(0)
  g:process(blk, 64)
  assert(blk:hash() == first)
  raises("BlockSizeError", g.process, g, m.Buffer(1000, 2))
  raises("ChannelsError", g.process, g, m.Buffer(64, 3))
  g:add_strip("Late")
  raises("StateError", g.process, g, blk)
end)

test("lifetimes", function()
  local g = m.Graph()
  local s = g:add_strip("Kick", 1)
  local n = s:insert("compressor")
  local lane = n:lane("threshold")
  g = nil
  collectgarbage(); collectgarbage()
  s:set_source(m.Buffer(480, 1))
  n.threshold = -10
  lane:add_point(0, -12)
  assert(s.graph:render(0, 0).frames == 480)
  -- random drop orders
  math.randomseed(1234)
  for _ = 1, 20 do
    local g2 = m.Graph()
    local objs = { g2 }
    for i = 1, 3 do
      local st = g2:add_strip("S" .. i)
      objs[#objs + 1] = st
      objs[#objs + 1] = st:insert("eq")
      objs[#objs + 1] = st:lane("pan")
      objs[#objs + 1] = st.output
    end
    local ret = g2:add_return("R")
    objs[#objs + 1] = objs[2]:add_send(ret)
    objs[#objs + 1] = ret:insert("reverb"):lane("decay")
    g2, ret = nil, nil
    while #objs > 0 do
      table.remove(objs, math.random(#objs))
      if #objs > 0 then local _ = tostring(objs[1]) end
      collectgarbage()
    end
  end
end)

test("matches the C reference bit for bit", function()
  local dir = os.getenv("MIXSTAGE_BUILDDIR")
  if not dir then return end
  local p = io.popen(dir .. "/tests/render_ref")
  local line = p:read("l")
  p:close()
  local frames, channels, hash = line:match("(%d+) (%d+) (%x+)")
  local out = ref_graph():render(0, 4800, true, 2)
  assert(out.frames == tonumber(frames) and out.channels == tonumber(channels))
  assert(out:hash() == hash, "Lua " .. out:hash() .. " vs C " .. hash)
  assert(out:peak() > 0.05)
end)

test("profiles", function()
  local ps = m.profiles()
  assert(#ps == 3 and ps[1].name == "production" and ps[2].name == "mix-stems" and ps[3].name == "final")
  local st = ps[2]
  assert(st.builtin and st.stems == "per-strip" and st.fx_stems and st.reference and not st.mix)
  assert(st["mix-fx"] == "mute" and st:action("bus-dynamics") == "bypass" and st["design"] == "on")
  assert(st:actions()["placeholder-limiter"] == "bypass" and ps[3]["mastering"] == "on")
  assert(m.profile_find("final") == nil or m.profile_find("final").name == "final")
  local e = raises("StateError", function() st["mix-fx"] = "on" end)
  assert(e.message:find("Profile%("))
  local p = m.Profile("dry", "mix-stems")
  p["bus-color"] = "bypass"; p.stems = "per-group"; p.fx_stems = false; p.mix = true; p.reference = false
  p:set_action("design", m.ACTION_MUTE)
  assert(p["bus-color"] == "bypass" and p.stems == "per-group" and not p.fx_stems and p.mix
         and not p.reference and p["design"] == "mute" and not p.builtin)
  assert(m.Profile("copy", p)["design"] == "mute" and m.Profile("plain")["mix-fx"] == "on")
  raises("NotFoundError", function() p["mix-fx"] = "loud" end)
  raises("NotFoundError", function() p["nope"] = "mute" end)
  raises("NotFoundError", function() p.stems = "per-bar" end)
  raises("NotFoundError", m.Profile, "x", "nope")
  assert(tostring(p):find("dry"))
  -- the graph's profile: held by the graph while active
  local g = m.Graph()
  local s = g:add_strip("Tone", 1)
  local src = m.Buffer(9600, 1)
  for i = 1, 9600 do src[i] = 0.5 * math.sin(2 * math.pi * 1000 * (i - 1) / 48000) end
  s:set_source(src)
  local r = g:add_return("Verb"); r:insert("reverb", "mix-fx"); s:add_send(r, 0)
  assert(g.profile.name == "production")
  local wet = g:render(0, 4800)
  local nofx = m.Profile("no-fx"); nofx["mix-fx"] = "mute"
  g.profile = nofx
  nofx = nil; collectgarbage(); collectgarbage()
  assert(g.profile.name == "no-fx")
  local dry = g:render(0, 4800)
  -- the reverb tail after the source (0.2 s) is above -60 dBFS in production
  -- and gone (< -120 dBFS) with the send muted
  local function tailpeak(b)
    local pk = 0
    for f = 10080, 14400 do for c = 1, 2 do pk = math.max(pk, math.abs(b:get(f, c))) end end
    return pk
  end
  assert(tailpeak(wet) > 1e-3 and tailpeak(dry) < 1e-6)
  g.profile = "final"; assert(g.profile.name == "final")
  m.graph_set_profile(g, nil); assert(g.profile.name == "production")
  raises("NotFoundError", function() g.profile = "nope" end)
end)

test("bounces", function()
  local g = ref_graph()
  local b = g:bounce("mix-stems", { tail = 4800, threads = 2 })
  assert(b.profile == "mix-stems" and b.count == 4 and b.channels == 2)
  assert(table.concat(b:names(), ",") == "Kick,Pad,Verb,reference")
  assert(b:kind("Kick") == "stem" and b:kind(3) == "fx-return" and b:kind("reference") == "reference")
  assert(b:adds_up("Pad") and b:note("Pad") == "" and b:name(1) == "Kick")
  local e = raises("NotFoundError", b.get, b, "Nope")
  assert(e.message:find("Kick"))
  assert(not pcall(b.get, b, 9))
  local mix = g:render(0, 4800)
  assert(b:get("reference"):hash() == mix:hash(), "reference = production render")
  assert(b.frames == mix.frames and tostring(b):find("mix%-stems"))
  -- lifetimes: the bounce outlives the graph, a Buffer outlives the bounce
  local kick = b:get("Kick")
  local h = kick:hash()
  g = nil; collectgarbage(); collectgarbage()
  assert(b:get(1):hash() == h)
  b = nil; collectgarbage(); collectgarbage()
  assert(kick:hash() == h and kick:peak() > 0.05)
  local g2 = ref_graph()
  local residual = g2:null_check(nil, { threads = 2 })
  assert(residual < -100, "null check " .. residual)
  raises("InvalidArgumentError", g2.null_check, g2, "production")
  raises("NotFoundError", g2.bounce, g2, "stems")
  raises("RangeError", g2.bounce, g2, "mix-stems", { threads = 0 })
end)

test("progress and cancellation", function()
  local g = ref_graph()
  local calls, last, total = 0, -1, 0
  local out = g:render(0, 4800, true, 1, function(d, t)
    assert(d >= last); last = d; total = t; calls = calls + 1
  end)
  assert(calls >= out.frames // 4800 and last == out.frames and total == out.frames)
  local n = 0
  g:bounce("mix-stems", { threads = 2, progress = function() n = n + 1 end })
  assert(n > 0)
  local e = raises("CancelledError", g.render, g, 0, -1, true, 1, function(d) return d > 4800 end)
  assert(e.code == m.ECANCELLED)
  local ok, err = pcall(g.bounce, g, "mix-stems", { progress = function() error({ mine = true }) end })
  assert(not ok and type(err) == "table" and err.mine, "the callback's own error propagates")
  ok, err = pcall(g.null_check, g, nil, { progress = function() error("stop here") end })
  assert(not ok and tostring(err):find("stop here"))
  local dir = os.tmpname(); os.remove(dir)
  raises("CancelledError", g.deliver, g, "mix-stems", dir, { progress = function() return true end })
  local p = io.popen("ls " .. dir .. " 2>/dev/null | grep -c wav")
  assert(tonumber(p:read("l")) == 0, "a cancelled delivery leaves no file"); p:close()
  os.execute("rm -rf " .. dir)
  assert(g:render(0, 0).frames > 0)
end)

test("files, measurement, manifests, delivery", function()
  local dir = os.tmpname(); os.remove(dir); os.execute("mkdir -p " .. dir)
  local x = m.Buffer(48000, 2)
  for f = 1, 48000 do
    local v = 0.1 * math.sin(2 * math.pi * 1000 * (f - 1) / 48000)
    x:set(f, 1, v); x:set(f, 2, v)
  end
  local st = m.write_audio(dir .. "/t.wav", x, 48000, { sample_type = "float32" })
  assert(st.format == "wav" and st.sample_type == "float32" and st.frames == 48000)
  local y, rate = m.read_audio(dir .. "/t.wav")
  assert(rate == 48000 and y:hash() == x:hash(), "float32 round trip is exact")
  -- BS.1770: a 0 dBFS 1 kHz sine in one channel reads -3.01 LUFS, in both
  -- channels 0 LUFS, so -20 dBFS in both reads -20.0 (0.1 LU: K-filter at 1 kHz)
  local ms = m.measure(x, 48000)
  assert(close(ms.integrated_lufs, -20.0, 0.1) and close(ms.peak_dbfs, -20, 0.01))
  assert(m.measure_file(dir .. "/t.wav").checksum == st.checksum)
  local z, r = m.read_audio(dir .. "/t.wav", 44100)
  assert(r == 44100 and z.frames == 44100)
  local e = raises("NotFoundError", m.read_audio, dir .. "/none.wav")
  assert(e.message:find("none.wav"))
  e = raises("InputOutputError", m.write_audio, dir .. "/no/x.wav", x, 48000)
  assert(e.message:find("x.wav"))
  raises("FormatError", m.write_audio, dir .. "/f.flac", x, 48000, { format = "flac", sample_type = "float32" })
  raises("InvalidArgumentError", m.measure, x, 10)
  local man = m.Manifest()
  man:set("graph", "Song"); man:set("bars", 16); man:set("tempo", 120.5); man:set("dry", true)
  man:set_json("profile", '{"name": "mix-stems"}')
  local i = man:add_file("t.wav", "stem", "mix-stems", st, { on = { "strip" }, muted = { "mix-fx" } })
  man:set_file(i, "null_residual_dbfs", -140.5)
  assert(i == 1 and man.file_count == 1)
  local text = man:to_string()
  assert(text:find('"graph": "Song"') and text:find('"bars": 16') and text:find('"null_residual_dbfs": %-140.5')
         and text:find('"mute": %[%s*"mix%-fx"%s*%]') and text:find(st.checksum, 1, true))
  man:write(dir .. "/manifest.json")
  raises("InvalidArgumentError", man.set, man, "files", "x")
  raises("NotFoundError", man.add_file, man, "x.wav", "stem", "mix-stems", st, { on = { "nope" } })
  raises("RangeError", man.set_file, man, 5, "k", 1)
  e = raises("InputOutputError", man.write, man, dir .. "/no/m.json")
  assert(e.message:find("m.json"))
  -- delivery
  local g = ref_graph()
  local seen = 0
  g:deliver("mix-stems", dir .. "/stems", { format = "flac", threads = 2, progress = function() seen = seen + 1 end })
  local f = io.open(dir .. "/stems/manifest.json"); local mj = f:read("a"); f:close()
  for _, n in ipairs({ "Kick.flac", "Pad.flac", "Verb.flac", "reference.flac" }) do
    assert(mj:find('"' .. n .. '"', 1, true), n)
    assert(m.read_audio(dir .. "/stems/" .. n).frames > 0)
  end
  assert(seen > 0)
  e = raises("InputOutputError", g.deliver, g, "final", "/proc/no/such")
  assert(e.message:find("/proc/no", 1, true))
  os.execute("rm -rf " .. dir)
end)

-- Meters, assessment, mastering, translation, graph files.
require("test_analysis")(test, raises, close)
-- Source callbacks, planar processing, getters, meters in the graph, demo.
require("test_graph_extras")(test, raises, close)
-- One vocabulary, one calling style, seconds.
require("test_vocabulary")(test, raises, close)

print(string.format("lua binding: %d tests, %d failed", count, failures))
if only and count == 0 then
  io.stderr:write("FAIL: no test name contains MIXSTAGE_LUA_TESTS='", only, "'\n")
  os.exit(1)
end
os.exit(failures == 0 and 0 or 1, true)
