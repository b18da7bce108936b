-- Lua binding tests of graph editing (edit.h): removing strips, buses,
-- sends, nodes and lanes, moving and replacing nodes; a removed object's
-- proxy raises an error of kind "RemovedError" naming it on any use;
-- iteration no longer lists it; a render after edits equals, bit for bit, a
-- render of the same graph built from scratch.  Run by tests/lua_tests.sh.
local m = require "mixstage"

local failures, count = 0, 0
local function test(name, fn)
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
  assert(type(err) == "table" and err.kind == kind, "expected " .. kind .. ", got " .. tostring(err))
  assert(not err.message:find("mixstage_", 1, true), "C name in: " .. err.message)
  return err
end
-- fn() raises RemovedError naming every one of the words
local function removed(fn, ...)
  local e = raises("RemovedError", fn)
  for _, w in ipairs({ ... }) do
    assert(e.message:find(w, 1, true), "'" .. w .. "' not in: " .. e.message)
  end
  return e
end

local FS, N = 48000, 6000
local function noise(frames, channels, seed, amp)
  local b = m.Buffer(frames, channels)
  local x = seed
  for i = 1, frames * channels do
    x = (x * 1103515245 + 12345) % 2147483648
    b[i] = (x / 2147483648.0 - 0.5) * 2 * (amp or 0.2)
  end
  return b
end
local function render(g) return g:render(N, FS // 8) end
local function names(list)
  local t = {}
  for i, x in ipairs(list) do t[i] = x.name end
  return table.concat(t, ",")
end
local function types(nodes)
  local t = {}
  for i, n in ipairs(nodes) do t[i] = n.type end
  return table.concat(t, ",")
end

-- The graph of tests/python/test_edit.py; o leaves parts out.
local function build(o)
  o = o or {}
  local g = m.Graph(FS, 256)
  local drums = g:add_bus("Drums", "group")
  local verb = g:add_return("Verb")
  verb:insert("reverb", "mix-fx").mix = 100
  if o.delay ~= false then g:add_return("Delay"):insert("delay", "mix-fx") end
  local k
  if o.kick ~= false then
    k = g:add_strip("Kick", 1)
    k:set_source(noise(N, 1, 1, 0.5))
    k.output = drums
    if o.kick_gate ~= false then k:insert("gate").threshold = -40 end
  end
  local sn = g:add_strip("Snare", 2)
  sn:set_source(noise(N, 2, 2))
  sn.output = drums
  if o.snare_send ~= false then sn:add_send(verb, -12) end
  local pad = g:add_strip("Pad", 2)
  pad:set_source(noise(N, 2, 3, 0.3))
  pad.fader_db = -3
  if o.pad_fader_lane ~= false then
    local lane = pad:lane("fader")
    lane:add_point(0, -3)
    lane:add_point(N // 2, -12)
  end
  for _, t in ipairs(o.pad_order or { "eq", "compressor", "saturation" }) do
    if t == "eq" then
      pad:insert("eq").band1_gain = 4
    elseif t == "compressor" then
      local c = pad:insert(o.pad_dyn or "compressor")
      c.threshold = -30
      c.ratio = 8
      for name, value in pairs(o.dyn_values or {}) do c[name] = value end
      c:lane("threshold"):add_point(N // 3, -20)
      if k then c:sidechain(k, "pre") end
    else
      pad:insert("saturation").drive = 12
    end
  end
  pad:add_send(verb, -8)
  if o.tmp ~= false then
    local t = g:add_strip("Tmp", 2)
    t:set_source(noise(N, 2, 4))
    t:insert("compressor")
    if o.delay ~= false then t:add_send(g:find_bus("Delay"), -6) end
  end
  g.mix_bus:insert("limiter")
  return g
end
local function node_of(strip, type_)
  for _, n in ipairs(strip:nodes()) do if n.type == type_ then return n end end
end

test("a removed strip's proxies raise on any use, however obtained", function()
  local g = build()
  local tmp = g:find_strip("Tmp")
  local by_iter = g:strips()[4]
  local comp, send = tmp:nodes()[1], tmp:sends()[1]
  local fader, thr = tmp:lane("fader"), comp:lane("threshold")
  assert(by_iter == tmp)
  g:remove(tmp)
  assert(names(g:strips()) == "Kick,Snare,Pad")
  assert(g:find_strip("Tmp") == nil and g:strip_count() == 3)
  for _, p in ipairs({ tmp, by_iter }) do
    local e = removed(function() return p.name end, "Strip 'Tmp'", "removed")
    assert(e.code == m.ESTATE)
    removed(function() p.fader_db = -3 end, "Strip 'Tmp'")
    removed(function() return p:insert("eq") end, "Strip 'Tmp'")
    removed(function() return p.fadr_db end, "Strip 'Tmp'")
    removed(function() p.fadr_db = 1 end, "Strip 'Tmp'")
    removed(function() p:remove() end, "Strip 'Tmp'")
    removed(function() g:remove(p) end, "Strip 'Tmp'")
    assert(tostring(p):find("removed", 1, true) and tostring(p):find("Tmp", 1, true))
  end
  removed(function() return comp.threshold end, "Node 'compressor'", "Strip 'Tmp'")
  removed(function() comp.threshold = -3 end, "Node 'compressor'")
  removed(function() comp:move(0) end, "Node 'compressor'")
  removed(function() return send.level_db end, "Send from Strip 'Tmp' to 'Delay'", "Strip 'Tmp'")
  removed(function() fader:add_point(0, 0) end, "Lane 'fader' of Strip 'Tmp'")
  removed(function() return thr.point_count end, "Lane 'threshold'")
  assert(tostring(comp):find("removed", 1, true))
  removed(function() node_of(g:find_strip("Pad"), "compressor"):sidechain(tmp) end, "Strip 'Tmp'")
  assert(render(g).frames == N + FS // 8)
end)

test("old proxies never reach a new object at a freed address", function()
  local g = m.Graph(FS, 256)
  local olds = {}
  for i = 1, 20 do
    local s = g:add_strip("S" .. i, 2)
    olds[i] = { s, s:insert("eq") }
    s:remove()
  end
  local news = {}
  for i = 1, 20 do news[i] = g:add_strip("N" .. i, 2) end
  for _, p in ipairs(olds) do
    removed(function() return p[1].name end, "Strip 'S")
    removed(function() return p[2].type end, "Node 'eq'")
    for _, x in ipairs(news) do assert(p[1] ~= x) end
  end
  assert(#g:strips() == 20)
end)

test("bus removal: refused while routed, takes sends into a return, clears keys", function()
  local g = build()
  local drums = g:find_bus("Drums")
  local e = raises("StateError", function() drums:remove() end)
  assert(e.message:find("Drums", 1, true) and e.message:find("Kick", 1, true))
  raises("InvalidArgumentError", function() g.mix_bus:remove() end)
  for _, s in ipairs(g:strips()) do if s.output == drums then s.output = g.mix_bus end end
  local comp = node_of(g:find_strip("Pad"), "compressor")
  comp:sidechain(drums, "post")
  g:remove(drums)
  assert(names(g:buses()) == "Mix,Verb,Delay")
  assert(m.node_sidechain_strip(comp) == nil and comp.sidechain_lost == "Drums")
  local verb = g:find_bus("Verb")
  local sends = {}
  for _, s in ipairs(g:strips()) do
    for _, x in ipairs(s:sends()) do if x.target == verb then sends[#sends + 1] = x end end
  end
  assert(#sends == 2)
  verb:remove()
  for _, x in ipairs(sends) do removed(function() return x.mute end, "Send from", "Bus 'Verb'") end
end)

test("remove send, node, lane", function()
  local g = build()
  local pad = g:find_strip("Pad")
  local send = pad:sends()[1]
  send:remove()
  assert(pad:send_count() == 0)
  removed(function() return send.level_db end, "Send from Strip 'Pad' to 'Verb'")
  local eq, comp, sat = table.unpack(pad:nodes())
  g:remove(comp)
  assert(types(pad:nodes()) == "eq,saturation")
  assert(pad:nodes()[1] == eq and pad:nodes()[2] == sat and eq.band1_gain == 4)
  removed(function() return comp.type end, "Node 'compressor' (insert 1 of Strip 'Pad')")
  local fader = pad:find_lane("fader")
  fader:remove()
  assert(pad:find_lane("fader") == nil)
  removed(function() return fader.point_count end, "Lane 'fader' of Strip 'Pad'")
  assert(pad:lane("fader").point_count == 0)
end)

test("sidechain key, meters and callbacks of a removed strip", function()
  local g = build()
  local comp = node_of(g:find_strip("Pad"), "compressor")
  g:find_strip("Kick"):remove()
  assert(comp.sidechain_lost == "Kick" and m.node_sidechain_strip(comp) == nil)
  local tmp = g:find_strip("Tmp")
  local meter = m.Meter(2, FS, { max_block = 256, series = false })
  tmp:attach_meter(meter, "post")
  local calls = 0
  tmp:set_source_callback(function(buf, pos) calls = calls + 1 end, 2, N)
  render(g)
  local n = calls
  tmp:remove()
  assert(not meter.attached)
  render(g)
  assert(calls == n)
  assert(render(g):hash() == render(build({ kick = false, tmp = false })):hash(),
         "renders as the graph built without them")
end)

test("remove everything and render an empty graph", function()
  local g = build()
  for _, s in ipairs(g:strips()) do s.output = g.mix_bus end
  for _, s in ipairs(g:strips()) do g:remove(s) end
  local buses = g:buses()
  for i = 2, #buses do g:remove(buses[i]) end
  for _, n in ipairs(g.mix_bus:nodes()) do n:remove() end
  assert(#g:strips() == 0 and #g:buses() == 1 and #g.mix_bus:nodes() == 0)
  local out = g:render(1000, 0)
  assert(out.frames == 1000 and out.channels == 2)
  for i = 1, 2000 do assert(out[i] == 0) end
end)

test("move and replace nodes", function()
  local g = build()
  local pad = g:find_strip("Pad")
  local eq, comp, sat = table.unpack(pad:nodes())
  sat:move(0)
  assert(types(pad:nodes()) == "saturation,eq,compressor")
  pad:move(sat, -1)
  assert(types(pad:nodes()) == "eq,compressor,saturation")
  raises("RangeError", function() eq:move(3) end)
  raises("InvalidArgumentError", function() pad:move(g.mix_bus:nodes()[1], 0) end)
  comp.role = "mix-fx"
  comp:replace("gate")
  assert(pad:nodes()[2] == comp and comp.type == "gate" and comp.role == "mix-fx")
  assert(comp.threshold == -30 and comp.ratio == 8)
  local e = raises("NotFoundError", function() comp:replace("compresor") end)
  assert(e.message:find("compressor", 1, true))
  local band = eq:lane("band1_gain")
  band:add_point(0, 3)
  eq:replace("saturation")
  removed(function() return band.point_count end, "Lane 'band1_gain'", "replaced by a 'saturation'")
end)

test("a render after edits equals the same graph built from scratch", function()
  local g = build()
  local full = render(g):hash()
  g:remove(g:find_strip("Tmp"))
  g:find_bus("Delay"):remove()
  local pad = g:find_strip("Pad")
  pad:move(node_of(pad, "saturation"), 0)
  local comp = node_of(pad, "compressor")
  local attack = comp.attack
  comp:replace("gate")
  assert(comp.attack == attack and attack == 10, "same-named parameters keep their values")
  g:find_strip("Snare"):sends()[1]:remove()
  pad:find_lane("fader"):remove()
  g:find_strip("Kick"):nodes()[1]:remove()
  local got = render(g)
  local want = render(build({ tmp = false, delay = false, kick_gate = false, snare_send = false,
                              pad_fader_lane = false, pad_order = { "saturation", "eq", "compressor" },
                              pad_dyn = "gate", dyn_values = { attack = 10 } }))
  assert(got.frames == want.frames and got.channels == want.channels)
  for i = 1, got.frames * got.channels do
    if got[i] ~= want[i] then error("sample " .. i .. " differs: " .. got[i] .. " vs " .. want[i]) end
  end
  assert(got:hash() ~= full)
end)

test("removing while iterating over a strips() table", function()
  local g = build()
  for _, s in ipairs(g:strips()) do
    if s.name == "Snare" or s.name == "Tmp" then g:remove(s) end
  end
  assert(names(g:strips()) == "Kick,Pad")
  local ok, err = pcall(g.remove, g, "Pad")
  assert(not ok and err:find("Graph:remove takes a Strip, Bus, Send, Node or Lane, not a string", 1, true))
  local other = build()
  local e = raises("InvalidArgumentError", function() g:remove(other:find_strip("Pad")) end)
  assert(e.message:find("another graph", 1, true) and other:find_strip("Pad"))
  assert(m.graph_strip_by_serial(g, g:find_strip("Pad").serial) == g:find_strip("Pad"))
  assert(g.mix_bus.serial == 1)
end)

print(string.format("lua edit tests: %d tests, %d failed", count, failures))
os.exit(failures == 0 and 0 or 1)
