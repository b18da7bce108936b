/* Lua extras: a Buffer userdata for audio (interleaved float32, 1-based
 * indexing), rendering and processing into buffers without copying audio
 * through tables, parameters by name (node.threshold / node["threshold"]),
 * tables of strips/buses/nodes for ipairs. */
%{
/* Interleaved float32 audio owned by the binding. */
typedef struct mixstage_buffer {
  float *data;
  int64_t frames;
  int channels;
} mixstage_buffer;

static mixstage_buffer *msb_buffer_new(int64_t frames, int channels) {
  if (frames < 0 || channels < 1 || channels > MIXSTAGE_MAX_CHANNELS) {
    msb_check(MIXSTAGE_ERANGE, NULL);
    return NULL;
  }
  mixstage_buffer *b = (mixstage_buffer *)calloc(1, sizeof *b);
  if (b) b->data = (float *)calloc(frames > 0 ? (size_t)frames * channels : 1, sizeof(float));
  if (!b || !b->data) {
    if (b) free(b);
    msb_check(MIXSTAGE_ENOMEM, NULL);
    return NULL;
  }
  b->frames = frames;
  b->channels = channels;
  return b;
}
static int64_t mixstage_buffer_frames_get(mixstage_buffer *b) { return b->frames; }
static int mixstage_buffer_channels_get(mixstage_buffer *b) { return b->channels; }

/* Values already pushed on the Lua stack by the function: the out typemap
 * just counts them. */
typedef int msb_lua_pushed;
/* A Lua table argument, passed as its stack index. */
typedef int msb_lua_table;
%}
%typemap(out) msb_lua_pushed { SWIG_arg += $1; }
%typemap(in, checkfn="lua_istable") msb_lua_table { $1 = $input; }

%rename(Buffer) mixstage_buffer;
%nodefaultctor mixstage_buffer;
typedef struct mixstage_buffer {} mixstage_buffer;
%extend mixstage_buffer {
  /** A silent buffer of @p frames frames by @p channels channels. */
  mixstage_buffer(long long frames, int channels = 2) { return msb_buffer_new(frames, channels); }
  ~mixstage_buffer() {
    free($self->data);
    free($self);
  }
  %immutable;
  int64_t frames;
  int channels;
  %mutable;
  /** Sample @p i of the interleaved data, 1-based (b[i]). */
  double __getitem(long long i) {
    if (i < 1 || i > $self->frames * $self->channels) { msb_check(MIXSTAGE_ERANGE, NULL); return 0; }
    return $self->data[i - 1];
  }
  void __setitem(long long i, double v) {
    if (i < 1 || i > $self->frames * $self->channels) { msb_check(MIXSTAGE_ERANGE, NULL); return; }
    $self->data[i - 1] = (float)v;
  }
  /** Samples (frames * channels), for #b. */
  long long __len(void *dummy = NULL) { (void)dummy; return $self->frames * $self->channels; }
  const char *__tostring() {
    snprintf(msb_text, sizeof msb_text, "mixstage.Buffer(%lld frames, %d channels)",
             (long long)$self->frames, $self->channels);
    return msb_text;
  }
  /** Sample of @p frame, @p channel (both 1-based). */
  double get(long long frame, int channel) {
    if (frame < 1 || frame > $self->frames || channel < 1 || channel > $self->channels) {
      msb_check(MIXSTAGE_ERANGE, NULL);
      return 0;
    }
    return $self->data[(frame - 1) * $self->channels + (channel - 1)];
  }
  void set(long long frame, int channel, double v) {
    if (frame < 1 || frame > $self->frames || channel < 1 || channel > $self->channels) {
      msb_check(MIXSTAGE_ERANGE, NULL);
      return;
    }
    $self->data[(frame - 1) * $self->channels + (channel - 1)] = (float)v;
  }
  /** Largest absolute sample of @p channel (0 = all channels). */
  double peak(int channel = 0) {
    float p = 0.0f;
    for (int64_t f = 0; f < $self->frames; f++)
      for (int c = 0; c < $self->channels; c++) {
        if (channel && c != channel - 1) continue;
        float a = $self->data[f * $self->channels + c];
        if (a < 0) a = -a;
        if (a > p) p = a;
      }
    return p;
  }
  /** FNV-1a 64 of the raw float32 bytes, as 16 hex digits (bit-exact
   *  comparison with other languages and tests/render_ref). */
  const char *hash() {
    uint64_t h = 1469598103934665603ULL;
    const unsigned char *p = (const unsigned char *)$self->data;
    size_t n = (size_t)($self->frames * $self->channels) * sizeof(float);
    for (size_t i = 0; i < n; i++) { h ^= p[i]; h *= 1099511628211ULL; }
    snprintf(msb_text, sizeof msb_text, "%016llx", (unsigned long long)h);
    return msb_text;
  }
  /** The samples as a flat Lua array (interleaved). */
  msb_lua_pushed to_table(lua_State *L) {
    int64_t n = $self->frames * $self->channels;
    lua_createtable(L, n < INT32_MAX ? (int)n : 0, 0);
    for (int64_t i = 0; i < n; i++) {
      lua_pushnumber(L, $self->data[i]);
      lua_rawseti(L, -2, (lua_Integer)(i + 1));
    }
    return 1;
  }
  /** Fills the buffer from a flat interleaved array (missing values are 0). */
  void fill(lua_State *L, msb_lua_table t) {
    int64_t n = $self->frames * $self->channels;
    for (int64_t i = 0; i < n; i++) {
      lua_rawgeti(L, t, (lua_Integer)(i + 1));
      $self->data[i] = (float)lua_tonumber(L, -1);
      lua_pop(L, 1);
    }
  }
}

%extend mixstage_strip {
  /** Plays a Buffer (copied by the library). */
  void set_source(mixstage_buffer *buf) {
    msb_check(mixstage_strip_set_source_buffer($self, buf->data, buf->channels, buf->frames, 1),
              msb_ctx);
  }
}

%extend mixstage_graph {
  /** Offline render into a new Buffer (mix_channels wide).  Returns the
   *  buffer and true if a node produced NaN/Inf (the audio is still valid). */
  msb_lua_pushed m_render(lua_State *L, long long frames = 0, long long tail = -1,
                          bool remove_latency = true, int threads = 1) {
    mixstage_render_config rc;
    msb_render_config(&rc, frames, tail, remove_latency, threads);
    int64_t n = mixstage_graph_render_frames($self, &rc);
    if (n < 0) { msb_check((int)n, $self); return 0; }
    mixstage_buffer *b = msb_buffer_new(n, mixstage_bus_channels(mixstage_graph_mix_bus($self)));
    if (!b) return 0;
    int st = mixstage_graph_render($self, &rc, b->data, n);
    if (st < 0 && st != MIXSTAGE_ENUMERIC) {
      free(b->data);
      free(b);
      msb_check(st, $self);
      return 0;
    }
    SWIG_NewPointerObj(L, b, SWIGTYPE_p_mixstage_buffer, 1);
    lua_pushboolean(L, st == MIXSTAGE_ENUMERIC);
    return 2;
  }
  /** Processes the next @p frames frames (default: the buffer's length)
   *  into @p out (mix_channels wide).  Returns true if a node produced
   *  NaN/Inf this block (the block is still valid). */
  bool m_process(mixstage_buffer *out, int frames = -1) {
    if (frames < 0) frames = out->frames > INT32_MAX ? INT32_MAX : (int)out->frames;
    if (out->channels != mixstage_bus_channels(mixstage_graph_mix_bus($self))) {
      msb_check(MIXSTAGE_ECHANNELS, NULL);
      return false;
    }
    if (frames > out->frames) { msb_check(MIXSTAGE_ERANGE, NULL); return false; }
    int st = mixstage_graph_process($self, out->data, frames);
    if (st == MIXSTAGE_ENUMERIC) return true;
    msb_check(st, $self);
    return false;
  }
}

%luacode {
  local M = mixstage
  -- Instance methods live in each class metatable's ".fn" table (SWIG's
  -- registry), so Lua-written methods go there too.
  local classes = debug.getregistry()["SW" .. "IG"] -- (the bare word is a macro to swig)
  local function method(class, name, fn) classes[class][".fn"][name] = fn end
  local function list(count, at)
    return function(self)
      local t = {}
      for i = 0, count(self) - 1 do t[#t + 1] = at(self, i) end
      return t
    end
  end
  local function fn(class, name) return classes[class][".fn"][name] end
  method("Graph", "strips", list(fn("Graph", "strip_count"), fn("Graph", "strip_at")))
  method("Graph", "buses", list(fn("Graph", "bus_count"), fn("Graph", "bus_at")))
  method("Strip", "nodes", list(fn("Strip", "node_count"), fn("Strip", "node_at")))
  method("Strip", "sends", list(fn("Strip", "send_count"), fn("Strip", "send_at")))
  method("Bus", "nodes", list(fn("Bus", "node_count"), fn("Bus", "node_at")))
  method("Bus", "sends", list(fn("Bus", "send_count"), fn("Bus", "send_at")))
  method("Graph", "add_return", function(self, name, channels)
    return self:add_bus(name, "return", channels or 2)
  end)
  method("Node", "params", function(self)
    local t = {}
    for i = 0, self.param_count - 1 do t[#t + 1] = self:param_info(i) end
    return t
  end)
  function M.buffer_from_table(t, channels)
    channels = channels or 1
    local b = M.Buffer(#t // channels, channels)
    b:fill(t)
    return b
  end
  function M.node_types()
    local t, i = {}, 0
    while M.node_type_name(i) do
      t[#t + 1] = { name = M.node_type_name(i), description = M.node_type_description(i) }
      i = i + 1
    end
    return t
  end
}

/* Parameters by name: node.threshold, node["threshold"] = -18. */
%extend mixstage_node {
  double __getitem(const char *key) { return mixstage_node_m_get($self, key); }
  void __setitem(const char *key, double value) { mixstage_node_m_set($self, key, value); }
  const char *__tostring() {
    snprintf(msb_text, sizeof msb_text, "mixstage.Node(%s, role %s%s)", mixstage_node_label($self),
             mixstage_node_role_get($self), mixstage_node_bypass($self) ? ", bypassed" : "");
    return msb_text;
  }
}
%extend mixstage_graph {
  const char *__tostring() {
    snprintf(msb_text, sizeof msb_text, "mixstage.Graph(%g Hz, %d strips, %d buses, tempo %g)",
             mixstage_graph_sample_rate($self), mixstage_graph_strip_count($self),
             mixstage_graph_bus_count($self), mixstage_graph_tempo($self));
    return msb_text;
  }
}
%extend mixstage_strip {
  const char *__tostring() {
    snprintf(msb_text, sizeof msb_text, "mixstage.Strip('%s', %d ch, fader %.1f dB, %d inserts)",
             mixstage_strip_name($self), mixstage_strip_channels($self),
             mixstage_strip_fader_db($self), mixstage_strip_node_count($self));
    return msb_text;
  }
}
%extend mixstage_bus {
  const char *__tostring() {
    snprintf(msb_text, sizeof msb_text, "mixstage.Bus('%s' (%s), %d ch, fader %.1f dB)",
             mixstage_bus_name($self), mixstage_bus_kind_get($self), mixstage_bus_channels($self),
             mixstage_bus_fader_db($self));
    return msb_text;
  }
}
%extend mixstage_send {
  const char *__tostring() {
    snprintf(msb_text, sizeof msb_text, "mixstage.Send(to '%s', %.1f dB %s-fader)",
             mixstage_bus_name(mixstage_send_target($self)), mixstage_send_level_db($self),
             mixstage_send_tap_get($self));
    return msb_text;
  }
}
%extend mixstage_lane {
  const char *__tostring() {
    snprintf(msb_text, sizeof msb_text, "mixstage.Lane(%d points)", mixstage_lane_point_count($self));
    return msb_text;
  }
}
