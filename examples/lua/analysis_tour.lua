-- Every analysis figure libmixstage gives, on one programme, from Lua.
--
-- The same guided tour as examples/analysis_tour.c through the Lua binding:
-- figures come back as tables (per-channel and per-band figures as 1-based
-- arrays), audio as Buffers.  Meters inside the graph and gain-reduction
-- history; meters of the render and of a strip; gain staging; mix
-- assessment with a planted second kick mic; the final master at each
-- preset and a custom target with the streaming report; album mode;
-- reference A/B; translation previews.
--
--   lua5.4 analysis_tour.lua [--out DIR] [--seconds S]
--
-- The song is rendered over an excerpt (its first S seconds, default 4, plus
-- up to 1 s of tail; 0 renders it all), and the masters are searched in a
-- mastering session made of the premaster and the song's own mastering
-- chain, as in the C tour.  Files go under DIR (default analysis-out).
local m = require "mixstage"

local outdir, seconds = "analysis-out", 4.0
local i = 1
while i <= #arg do
  if arg[i] == "--out" and arg[i + 1] then outdir = arg[i + 1]; i = i + 2
  elseif arg[i] == "--seconds" and tonumber(arg[i + 1] or "") then seconds = tonumber(arg[i + 1]); i = i + 2
  else io.stderr:write("usage: analysis_tour.lua [--out DIR] [--seconds S]\n"); os.exit(2) end
end

local function mkdir(path)
  -- Lua has no mkdir: the one shell call of this example.
  assert(os.execute("mkdir -p '" .. path:gsub("'", "'\\''") .. "'"), "cannot create " .. path)
end

local function num(v, d)
  d = d or 1
  if v ~= v then return "n/a" end
  if v == math.huge then return "+inf" elseif v == -math.huge then return "-inf" end
  return string.format("%." .. d .. "f", v)
end
local function snum(v, d)
  if v ~= v or v == math.huge or v == -math.huge then return num(v, d) end
  return string.format("%+." .. (d or 1) .. "f", v)
end
-- Below the BS.1770 absolute gate a loudness meter reads silence.
local function lufs(v) return v < -70 and "<-70" or num(v, 1) end
local function heading(t) print("\n== " .. t .. " ==") end
local function list(t, d)
  local s = {}
  for k = 1, #t do s[#s + 1] = num(t[k], d) end
  return table.concat(s, " ")
end

local function print_meter(r)
  print(string.format("  loudness     integrated %s LUFS, range (LRA) %s LU; momentary max %s, short-term max %s LUFS",
    lufs(r.integrated_lufs), num(r.loudness_range_lu), lufs(r.momentary_max_lufs), lufs(r.short_term_max_lufs)))
  print(string.format("  peaks        sample peak %s dBFS, true peak %s dBTP", list(r.peak_dbfs_per_channel, 2),
    list(r.true_peak_dbtp_per_channel, 2)))
  print(string.format("  level        RMS %s dBFS (all %s), crest factor %s dB", list(r.rms_dbfs_per_channel, 2),
    num(r.rms_dbfs, 2), list(r.crest_db_per_channel, 1)))
  if r.channels >= 2 then
    print(string.format("  stereo       correlation %s, balance %s dB (+ leans left), mid %s / side %s dBFS: mid/side %s dB",
      num(r.correlation, 3), snum(r.balance_db, 2), num(r.mid_rms_dbfs), num(r.side_rms_dbfs),
      num(r.mid_side_ratio_db)))
  end
  local dc = {}
  for k = 1, #r.dc_offset do dc[k] = string.format("%.1e", r.dc_offset[k]) end
  print(string.format("  health       DC offset %s, clipped samples %d", table.concat(dc, " "), r.clipped_total))
end

-- A session of stereo strips playing buffers, all at 0 dB.
local function session(rate, tracks)
  local g = m.Graph(rate)
  for _, t in ipairs(tracks) do g:add_strip(t[1], 2):set_source(t[2]) end
  return g
end
-- The premaster into copies of the song's mix-bus stages of role mastering.
local function mastering_session(song, premaster)
  local s = session(song.sample_rate, { { "Premaster", premaster } })
  for _, node in ipairs(song.mix_bus:nodes()) do
    if node.role == "mastering" then
      local copy = s.mix_bus:insert(node.type, "mastering")
      for _, p in ipairs(node:params()) do copy[p.name] = node[p.name] end
      copy.bypass = node.bypass
    end
  end
  return s
end

local g = m.demo_song()
local rate = g.sample_rate
local frames = math.floor(seconds * rate)
local tail = seconds > 0 and math.floor(rate) or -1
print(string.format("libmixstage analysis tour (Lua): the demo song, %.1f s at %d Hz, %d strips",
  m.demo_song_seconds(), rate, g:strip_count()))
mkdir(outdir)

-- 1. meters inside the graph, gain-reduction history ------------------------
heading("1. Meters inside the graph, while it plays (the premaster)")
local block = math.max(g.max_block, 256)
local hats = g:find_strip("Hats")
local mm = m.Meter(g.mix_bus.channels, rate, { max_block = block })
local pre_m = m.Meter(hats.channels, rate, { max_block = block })
local post_m = m.Meter(hats.output.channels, rate, { max_block = block })
g.mix_bus:attach_meter(mm, m.TAP_POST_FADER)
hats:attach_meter(pre_m, m.TAP_PRE_FADER)
hats:attach_meter(post_m, m.TAP_POST_FADER)
local hist = g:render_frames(frames, tail) / rate + 1
local tracked = {}
local units = {}
for _, s in ipairs(g:strips()) do units[#units + 1] = { s.name, s } end
for _, b in ipairs(g:buses()) do units[#units + 1] = { "bus " .. b.name, b } end
for _, u in ipairs(units) do
  for k, node in ipairs(u[2]:nodes()) do
    -- only dynamics nodes keep a history; the others raise UnsupportedError
    if pcall(node.enable_gr_history, node, hist) then
      tracked[#tracked + 1] = { string.format("%s insert %d: %s", u[1], k, node.type), node }
    end
  end
end
local premaster = m.Profile("premaster", "production")
premaster:set_action("placeholder-limiter", "bypass")
g.profile = premaster
local pre = g:render(frames, tail)
g.profile = m.profile_find("production")
local r = mm:report()
print("Mix bus, after its fader:")
print_meter(r)
print(string.format("in-graph mix meter: %.2f LUFS, true peak %.2f dBTP", r.integrated_lufs, r.true_peak_max_dbtp))
for _, t in ipairs({ { "pre-fader", pre_m }, { "post-fader", post_m } }) do
  local x = t[2]:report()
  print(string.format("Hats %-10s %s LUFS, true peak %s dBTP, balance %s dB", t[1], lufs(x.integrated_lufs),
    num(x.true_peak_max_dbtp, 2), snum(x.balance_db, 2)))
end
print("Gain reduction over the excerpt:")
for _, t in ipairs(tracked) do
  local gr, first, hop = t[2]:gr_history()
  local max, sum, busy = 0, 0, 0
  for k = 1, gr.frames do
    local v = gr[k]
    if v > max then max = v end
    sum = sum + v
    if v >= 0.5 then busy = busy + 1 end
  end
  print(string.format("  %-40s max %4.1f dB, mean %4.1f dB, >= 0.5 dB %3.0f%% (%d points of %d frames from %d)",
    t[1], max, sum / math.max(gr.frames, 1), 100 * busy / math.max(gr.frames, 1), gr.frames, hop, first))
  t[2]:enable_gr_history(0)
end
g.mix_bus:detach_meter(m.TAP_POST_FADER)
hats:detach_meter(m.TAP_PRE_FADER)
hats:detach_meter(m.TAP_POST_FADER)

-- 2. meters of the render and of a strip --------------------------------------
heading("2. Meters of the rendered mix and of a strip")
r = m.meter(pre, rate)
print(string.format("offline premaster meter: %.2f LUFS, true peak %.2f dBTP", r.integrated_lufs, r.true_peak_max_dbtp))
local stems = g:bounce("mix-stems", { frames = frames, tail = tail })
local prod = stems:get("reference")
print("The production mix (placeholder limiter on):")
print_meter(m.meter(prod, rate))
print("The Bass stem:")
print_meter(m.meter(stems:get("Bass"), rate))
for name, buf in stems:outputs() do
  local x = m.meter(buf, rate, { series = false })
  print(string.format("  %-10s %-9s %7s LUFS %7s dBTP  crest %5s dB  corr %5s", name, stems:kind(name),
    lufs(x.integrated_lufs), num(x.true_peak_max_dbtp, 2), num(x.crest_total_db), num(x.correlation, 2)))
end

-- 3. gain staging ---------------------------------------------------------------
heading("3. Gain staging (-18 dBFS RMS, peaks at or below -6 dBFS; applied)")
local gs = g:gain_stage({ apply = true })
for _, s in ipairs(gs.strips) do
  print(string.format("  %-6s RMS %s dBFS, peak %s dBFS -> clip gain %s dB -> RMS %s, peak %s%s%s", s.name,
    num(s.rms_before_dbfs), num(s.peak_before_dbfs), snum(s.clip_gain_db), num(s.rms_after_dbfs),
    num(s.peak_after_dbfs), s.peak_limited and " (the peak sets the gain)" or "", s.clips and " CLIPS" or ""))
end
print(string.format("  %d strip(s) clip, %d far too quiet", gs.clipping, gs.too_quiet))

-- 4. mix assessment ---------------------------------------------------------------
heading("4. Mix assessment")
local mc = m.mono_compat(prod)
print(string.format("production mix: correlation %s, lost in mono %s dB, width %s dB", num(mc.correlation, 3),
  num(mc.mono_loss_db, 2), num(mc.side_to_mid_db)))
local tracks = {}
for name, buf in stems:outputs() do
  if stems:kind(name) == "stem" then tracks[#tracks + 1] = { name, buf } end
end
-- a second kick mic: 37 samples late (about 26 cm further), inverted, -6 dB
local kick = stems:get("Kick")
local room = m.Buffer(kick.frames, kick.channels)
for f = 38, kick.frames do
  for c = 1, kick.channels do room:set(f, c, -0.5 * kick:get(f - 37, c)) end
end
tracks[#tracks + 1] = { "Kick room", room }
local a = session(rate, tracks):assess()
for _, p in ipairs(a.phase) do
  print(string.format("  phase: %s / %s: offset %d samples, polarity %s, correlation %s", p.a_name, p.b_name,
    p.offset_frames, p.polarity_flip and "flipped" or "same", num(p.correlation, 3)))
end
local shown = 0
for _, p in ipairs(a.masking) do
  if shown < 5 and p.band >= 0 and p.a_name ~= "Kick room" and p.b_name ~= "Kick room" then
    shown = shown + 1
    print(string.format("  masking %d. %s / %s %s dB around %.0f Hz", shown, p.a_name, p.b_name,
      num(p.score_db), p.band_hz))
  end
end

-- 5. the final master -------------------------------------------------------------
heading("5. The final master (mastering session: premaster into the song's chain)")
local function services(list_)
  local t = {}
  for _, s in ipairs(list_) do t[#t + 1] = s.service .. " " .. snum(s.gain_db) .. " dB" end
  return table.concat(t, ", ")
end
local st = m.measure(prod, rate)
print("production mix playback gain: " .. services(m.streaming_report(st.integrated_lufs, st.true_peak_dbtp)))
mkdir(outdir .. "/masters")
local ms = mastering_session(g, pre)
local targets = {}
for _, p in ipairs(m.master_presets()) do targets[#targets + 1] = { p, { preset = p, audio = true } } end
targets[#targets + 1] = { "custom", { target_lufs = -11, ceiling_dbtp = -0.5, audio = true } }
local master
for _, t in ipairs(targets) do
  local ok, rep = pcall(ms.master, ms, t[2])
  if not ok then
    -- not converged: the error carries the best attempt's report
    if type(rep) ~= "table" or not rep.report then error(rep, 0) end
    print("  (not converged) " .. tostring(rep))
    rep = rep.report
  end
  print(string.format("  master %s: target %.1f LUFS %.1f dBTP -> %.2f LUFS %.2f dBTP, LRA %s LU, %d renders%s",
    t[1], rep.target_lufs, rep.ceiling_dbtp, rep.integrated_lufs, rep.true_peak_dbtp, num(rep.loudness_range_lu),
    rep.iteration_count, rep.converged and "" or " NOT CONVERGED"))
  print("      playback gain: " .. services(rep.streaming))
  m.write_audio(outdir .. "/masters/" .. t[1] .. ".wav", rep.audio, rate)
  if t[1] == "streaming" then master = rep.audio end
end

-- 6. album mode -------------------------------------------------------------------
heading("6. Album mode (the song, and its breakdown without drums)")
local breakdown = m.Buffer(stems.frames, stems.channels)
for name, buf in stems:outputs() do
  local kind = stems:kind(name)
  local s = g:find_strip(name)
  local drums = s and s.output.name == "Drums"
  if (kind == "stem" or kind == "fx-return") and not drums then
    for k = 1, #buf do breakdown[k] = breakdown[k] + buf[k] end
  end
end
local songs = { mastering_session(g, pre), mastering_session(g, breakdown) }
local before = {}
for k, s in ipairs(songs) do
  s.profile = m.profile_find("final")
  before[k] = m.measure(s:render(0, -1), rate).integrated_lufs
end
local al = m.album_master(songs, { preset = "streaming" })
print(string.format("  album gain %s dB; together %s -> %s LUFS", snum(al.album_gain_db, 2),
  num(al.combined_before_lufs, 2), num(al.combined_lufs, 2)))
print(string.format("  album difference: %.2f LU before, %.2f LU after", before[1] - before[2],
  al.songs[1].integrated_lufs - al.songs[2].integrated_lufs))
mkdir(outdir .. "/album")
for k, s in ipairs(songs) do m.write_audio(outdir .. "/album/" .. k .. ".wav", s:render(0, -1), rate) end

-- 7. reference A/B ------------------------------------------------------------------
heading("7. Reference A/B: the streaming master (B) against the production mix (A)")
local ab = m.ab_compare(prod, master, rate)
print(string.format("  ab match gain %+.2f dB; LUFS %s / %s, LRA %s / %s LU, crest %s / %s dB, width %s / %s dB, corr %s / %s",
  ab.match_gain_db, num(ab.a_lufs, 2), num(ab.b_lufs, 2), num(ab.a_lra_lu), num(ab.b_lra_lu), num(ab.a_crest_db),
  num(ab.b_crest_db), num(ab.a_width_db), num(ab.b_width_db), num(ab.a_correlation, 3), num(ab.b_correlation, 3)))
for k = 1, m.OCTAVE_BANDS do
  print(string.format("  %8.1f Hz  A %6s  B %6s  B-A %6s  matched %6s", ab.band_hz[k], num(ab.a_band_dbfs[k]),
    num(ab.b_band_dbfs[k]), snum(ab.band_diff_db[k], 2), snum(ab.band_diff_matched_db[k], 2)))
end
mkdir(outdir .. "/ab")
local w = m.ab_write_pair(prod, master, rate, outdir .. "/ab")
print(string.format("  wrote %s (%s dB) and %s (%s dB)", w.a_path, snum(w.gain_a_db, 2), w.b_path, snum(w.gain_b_db, 2)))

-- 8. translation --------------------------------------------------------------------
heading("8. Translation: the streaming master through other playback systems")
local ref = m.measure(master, rate).integrated_lufs
for _, sys in ipairs(m.playback_systems()) do
  local p = m.translate(master, rate, sys.name)
  print(string.format("  translate %s: %s LU, response at 60 Hz %s dB, corr %s -- %s", sys.name,
    snum(m.measure(p, rate).integrated_lufs - ref), snum(m.response_db(sys.name, 60, rate)),
    num(m.mono_compat(p).correlation, 2), sys.description))
end
mkdir(outdir .. "/translation")
m.translate_write(master, rate, outdir .. "/translation", "master")
print("\nDone: files under " .. outdir .. "/")
