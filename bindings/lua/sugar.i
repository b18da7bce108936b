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
/* An optional Lua function (nil allowed), passed as its stack index or 0. */
typedef int msb_lua_func;
static int msb_lua_isfunc(lua_State *L, int i) { return lua_isnil(L, i) || lua_isfunction(L, i); }

/* Progress and cancellation: the library calls the trampoline from the
 * calling thread (the one running the Lua state) about every 100 ms of
 * audio.  progress(done, total) returning true cancels (CancelledError);
 * an error in it is caught by lua_pcall (a longjmp through the render would
 * strand its worker threads), cancels, and is re-raised unchanged after the
 * library has unwound (MSB_RAISE_FOREIGN). */
typedef struct msb_luaprog {
  lua_State *L;
  int fn;
  mixstage_graph *g; /* whose source callbacks may fail */
} msb_luaprog;

/* Source callbacks: the library calls msb_lua_pull on the rendering thread
 * (a render's worker threads too) for every chunk of at most max_block
 * frames.  The function runs on a Lua thread of its own (made at set time,
 * so it outlives the coroutine that set it) with a zeroed Buffer of
 * (frames, channels) made at set time, which is then copied into the
 * library's planar buffers.  One lock serialises every entry into Lua from
 * a render (pulls from worker threads, the progress trampoline on the
 * calling thread, which is blocked in the render otherwise): a Lua state is
 * single-threaded.  An error is caught (lua_pcall: a longjmp would strand
 * the render's workers), silences the source, stops the render at its next
 * progress report and is raised by the call that rendered, unchanged. */
static pthread_mutex_t msb_lua_enter = PTHREAD_MUTEX_INITIALIZER;
/* Whether this thread holds msb_lua_enter (runs a callback): see MSB_UNLOCK. */
static _Thread_local int msb_lua_held;
/* Long library calls let other threads into Lua: a render started from
 * inside a callback (which holds msb_lua_enter) would otherwise wait forever
 * for its own source callbacks, on this thread or its workers.  As Python's
 * GIL is released around renders, the lock is released for the call when
 * this thread holds it, and taken again after. */
#define MSB_UNLOCK                        \
  int msb_held_ = msb_lua_held;           \
  if (msb_held_) {                        \
    msb_lua_held = 0;                     \
    pthread_mutex_unlock(&msb_lua_enter); \
  }
#define MSB_LOCK                        \
  if (msb_held_) {                      \
    pthread_mutex_lock(&msb_lua_enter); \
    msb_lua_held = 1;                   \
  }
typedef struct msb_luapull {
  msb_pull base; /* registry link (section 1) */
  lua_State *T;  /* the callback's thread, anchored by tref */
  int tref, fnref, bufref, errref;
  mixstage_buffer *buf;
  int channels, max_frames;
} msb_luapull;

static void msb_pull_free(msb_pull *p) {
  msb_luapull *c = (msb_luapull *)p;
  if (c->T) {
    luaL_unref(c->T, LUA_REGISTRYINDEX, c->fnref);
    luaL_unref(c->T, LUA_REGISTRYINDEX, c->bufref);
    luaL_unref(c->T, LUA_REGISTRYINDEX, c->errref);
    luaL_unref(c->T, LUA_REGISTRYINDEX, c->tref); /* last: T itself */
  }
  free(c);
}
static int msb_lua_pull(void *user, float *const *planar, int channels, int frames, int64_t position) {
  msb_luapull *c = (msb_luapull *)user;
  int end = 1, ok = 0;
  pthread_mutex_lock(&msb_lua_enter);
  msb_lua_held = 1;
  if (c->errref == LUA_NOREF && frames <= c->max_frames && channels == c->channels) {
    lua_State *T = c->T;
    memset(c->buf->data, 0, (size_t)frames * (size_t)channels * sizeof(float));
    c->buf->frames = frames;
    lua_rawgeti(T, LUA_REGISTRYINDEX, c->fnref);
    lua_rawgeti(T, LUA_REGISTRYINDEX, c->bufref);
    lua_pushinteger(T, (lua_Integer)position);
    if (lua_pcall(T, 2, 1, 0) != LUA_OK) {
      c->errref = luaL_ref(T, LUA_REGISTRYINDEX);
    } else {
      end = lua_toboolean(T, -1);
      lua_pop(T, 1);
      ok = 1;
      for (int ch = 0; ch < channels; ch++)
        for (int i = 0; i < frames; i++)
          planar[ch][i] = c->buf->data[(size_t)i * (size_t)channels + (size_t)ch];
    }
    c->buf->frames = c->max_frames;
  }
  msb_lua_held = 0;
  pthread_mutex_unlock(&msb_lua_enter);
  if (!ok)
    for (int ch = 0; ch < channels; ch++) memset(planar[ch], 0, (size_t)frames * sizeof(float));
  return end;
}
/* True if a source callback of @g failed (the render should stop). */
static int msb_lua_pull_failed(mixstage_graph *g) {
  int failed = 0;
  pthread_mutex_lock(&msb_lock);
  for (msb_pull *p = msb_pulls; p && !failed; p = p->next)
    failed = p->graph == g && ((msb_luapull *)p)->errref != LUA_NOREF;
  pthread_mutex_unlock(&msb_lock);
  return failed;
}
static void msb_lua_pull_collect(lua_State *L, mixstage_graph *g) {
  pthread_mutex_lock(&msb_lock);
  for (msb_pull *p = msb_pulls; p; p = p->next) {
    msb_luapull *c = (msb_luapull *)p;
    if ((g && p->graph != g) || c->errref == LUA_NOREF) continue;
    if (msb_lua_errref == LUA_NOREF) msb_lua_errref = c->errref; /* the first one wins */
    else luaL_unref(L, LUA_REGISTRYINDEX, c->errref);
    c->errref = LUA_NOREF;
  }
  pthread_mutex_unlock(&msb_lock);
}

static int msb_lua_progress(void *user, int64_t done, int64_t total) {
  msb_luaprog *p = (msb_luaprog *)user;
  lua_State *L = p->L;
  if (msb_lua_errref != LUA_NOREF) return 1;
  if (msb_pulls && msb_lua_pull_failed(p->g)) return 1;
  if (p->fn <= 0) return 0;
  pthread_mutex_lock(&msb_lua_enter);
  msb_lua_held = 1;
  lua_pushvalue(L, p->fn);
  lua_pushinteger(L, (lua_Integer)done);
  lua_pushinteger(L, (lua_Integer)total);
  int stop;
  if (lua_pcall(L, 2, 1, 0) != LUA_OK) {
    msb_lua_errref = luaL_ref(L, LUA_REGISTRYINDEX);
    stop = 1;
  } else {
    stop = lua_toboolean(L, -1);
    lua_pop(L, 1);
  }
  msb_lua_held = 0;
  pthread_mutex_unlock(&msb_lua_enter);
  return stop;
}
static void msb_lua_progress_init(msb_luaprog *p, mixstage_render_config *rc, lua_State *L, int fn,
                                  mixstage_graph *g) {
  p->L = L;
  p->fn = fn;
  p->g = g;
  /* also without a function: it stops a render whose source callback failed */
  if (fn > 0 || msb_pulls) {
    rc->progress = msb_lua_progress;
    rc->progress_user = p;
  }
}
%}
%typemap(out) msb_lua_pushed { SWIG_arg += $1; }
%typemap(in, checkfn="lua_istable") msb_lua_table { $1 = $input; }
%typemap(in, checkfn="msb_lua_isfunc") msb_lua_func { $1 = lua_isfunction(L, $input) ? $input : 0; }

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
  /** Pulls the strip's audio from a Lua function fn(buf, position): fill
   *  buf, a zeroed Buffer of (frames, channels), with the audio starting at
   *  frame position; return true once the source has ended.  @p channels: 1
   *  .. the strip's (0: the strip's); @p length: frames, -1 if unknown.  It
   *  runs on the rendering thread(s), serialised: for offline renders, not a
   *  hard real-time host.  An error in it stops the render and is raised by
   *  the call that rendered. */
  void m_set_source_callback(lua_State *L, msb_lua_func fn, int channels = 0, long long length = -1) {
    mixstage_graph *g = mixstage_strip_graph($self);
    if (fn <= 0) {
      msb_check_msg(MIXSTAGE_EINVAL, "set_source_callback: expects a function fn(buf, position)");
      return;
    }
    if (channels == 0) channels = mixstage_strip_channels($self);
    if (channels < 1 || channels > mixstage_strip_channels($self)) {
      /* let the library word the channel error, naming the strip */
      msb_check(mixstage_strip_set_source_callback($self, msb_lua_pull, NULL, channels, length), g);
      return;
    }
    msb_luapull *c = (msb_luapull *)calloc(1, sizeof *c);
    mixstage_buffer *b = c ? msb_buffer_new(mixstage_graph_max_block(g), channels) : NULL;
    if (!b) { free(c); msb_check(MIXSTAGE_ENOMEM, g); return; }
    c->T = lua_newthread(L);
    c->tref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pushvalue(L, fn);
    c->fnref = luaL_ref(L, LUA_REGISTRYINDEX);
    SWIG_NewPointerObj(L, b, SWIGTYPE_p_mixstage_buffer, 1); /* Lua owns the Buffer */
    c->bufref = luaL_ref(L, LUA_REGISTRYINDEX);
    c->errref = LUA_NOREF;
    c->buf = b;
    c->channels = channels;
    c->max_frames = (int)b->frames;
    c->base.graph = g;
    c->base.strip = $self;
    int st = mixstage_strip_set_source_callback($self, msb_lua_pull, c, channels, length);
    if (st < 0) {
      msb_pull_free(&c->base);
      msb_check(st, g);
      return;
    }
    msb_pull *old = msb_pulls_take(g, $self);
    pthread_mutex_lock(&msb_lock);
    c->base.next = msb_pulls;
    msb_pulls = &c->base;
    pthread_mutex_unlock(&msb_lock);
    msb_pulls_free_list(old);
  }
}

%extend mixstage_graph {
  /** Offline render into a new Buffer (mix_channels wide).  Returns the
   *  buffer and true if a node produced NaN/Inf (the audio is still valid). */
  msb_lua_pushed m_render(lua_State *L, long long frames = 0, long long tail = -1,
                          bool remove_latency = true, int threads = 1, msb_lua_func progress = 0) {
    mixstage_render_config rc;
    msb_luaprog lp;
    msb_render_config(&rc, frames, tail, remove_latency, threads);
    msb_lua_progress_init(&lp, &rc, L, progress, $self);
    int64_t n = mixstage_graph_render_frames($self, &rc);
    if (n < 0) { msb_check((int)n, $self); return 0; }
    mixstage_buffer *b = msb_buffer_new(n, mixstage_bus_channels(mixstage_graph_mix_bus($self)));
    if (!b) return 0;
    int st;
    {
      MSB_UNLOCK;
      st = mixstage_graph_render($self, &rc, b->data, n);
      MSB_LOCK;
    }
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
  /* Options-table front ends: Graph:bounce / null_check / deliver (below). */
  msb_lua_pushed m__bounce(lua_State *L, const mixstage_profile *profile, long long frames,
                           long long tail, int threads, msb_lua_func progress) {
    mixstage_render_config rc;
    msb_luaprog lp;
    msb_render_config2(&rc, frames, tail, threads);
    msb_lua_progress_init(&lp, &rc, L, progress, $self);
    int st = 0;
    mixstage_bounce *b;
    {
      MSB_UNLOCK;
      b = mixstage_graph_bounce($self, profile, &rc, &st);
      MSB_LOCK;
    }
    if (!b) {
      msb_check(st ? st : MIXSTAGE_ENOMEM, $self);
      return 0;
    }
    SWIG_NewPointerObj(L, b, SWIGTYPE_p_mixstage_bounce, 1);
    lua_pushboolean(L, st == MIXSTAGE_ENUMERIC);
    return 2;
  }
  msb_lua_pushed m__null_check(lua_State *L, const mixstage_profile *profile, long long frames,
                               long long tail, int threads, msb_lua_func progress) {
    mixstage_render_config rc;
    msb_luaprog lp;
    msb_render_config2(&rc, frames, tail, threads);
    msb_lua_progress_init(&lp, &rc, L, progress, $self);
    double db = 0.0;
    int st;
    {
      MSB_UNLOCK;
      st = mixstage_graph_null_check($self, profile, &rc, &db);
      MSB_LOCK;
    }
    if (st < 0 && st != MIXSTAGE_ENUMERIC) {
      msb_check(st, $self);
      return 0;
    }
    lua_pushnumber(L, db);
    return 1;
  }
  void m__deliver(lua_State *L, const mixstage_profile *profile, const char *dir, long long frames,
                  long long tail, int threads, int format, int sample_type, bool dither,
                  long long dither_seed, double output_rate, double tail_threshold_db,
                  bool manifest, msb_lua_func progress) {
    mixstage_deliver_config dc;
    msb_luaprog lp;
    msb_deliver_config(&dc, frames, tail, threads, format, sample_type, dither, dither_seed,
                       output_rate, tail_threshold_db, manifest);
    msb_lua_progress_init(&lp, &dc.render, L, progress, $self);
    int st;
    {
      MSB_UNLOCK;
      st = mixstage_graph_deliver($self, profile, dir, &dc);
      MSB_LOCK;
    }
    if (st != MIXSTAGE_ENUMERIC) msb_check(st, $self);
  }
  /** As process(), planar: @p outs is a table of mix_channels one-channel
   *  Buffers, each at least @p frames long (default: the first's length);
   *  the samples equal process()'s bit for bit.  Returns true if a node
   *  produced NaN/Inf this block. */
  bool m_process_planar(lua_State *L, msb_lua_table outs, int frames = -1) {
    float *rows[MIXSTAGE_MAX_CHANNELS];
    int ch = mixstage_bus_channels(mixstage_graph_mix_bus($self));
    int n = (int)lua_rawlen(L, outs);
    char emsg[160];
    if (n != ch) {
      snprintf(emsg, sizeof emsg, "process_planar: %d Buffers for a %d-channel mix bus", n, ch);
      msb_check_msg(MIXSTAGE_ECHANNELS, emsg);
      return false;
    }
    for (int c = 0; c < n; c++) {
      mixstage_buffer *b = NULL;
      lua_rawgeti(L, outs, c + 1);
      int ok = SWIG_IsOK(SWIG_ConvertPtr(L, -1, (void **)&b, SWIGTYPE_p_mixstage_buffer, 0)) && b;
      lua_pop(L, 1);
      if (!ok || b->channels != 1) {
        snprintf(emsg, sizeof emsg, "process_planar: element %d is not a one-channel Buffer", c + 1);
        msb_check_msg(MIXSTAGE_EINVAL, emsg);
        return false;
      }
      if (frames < 0) frames = b->frames > INT32_MAX ? INT32_MAX : (int)b->frames;
      if (frames > b->frames) {
        snprintf(emsg, sizeof emsg, "process_planar: Buffer %d holds %lld frames, %d asked", c + 1,
                 (long long)b->frames, frames);
        msb_check_msg(MIXSTAGE_ERANGE, emsg);
        return false;
      }
      rows[c] = b->data;
    }
    int st;
    {
      MSB_UNLOCK;
      st = mixstage_graph_process_planar($self, rows, ch, frames);
      MSB_LOCK;
    }
    if (st == MIXSTAGE_ENUMERIC) return true;
    msb_check(st, $self);
    return false;
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
    int st;
    {
      MSB_UNLOCK;
      st = mixstage_graph_process($self, out->data, frames);
      MSB_LOCK;
    }
    if (st == MIXSTAGE_ENUMERIC) return true;
    msb_check(st, $self);
    return false;
  }
}

%extend mixstage_bounce {
  /** A copy of output @p key (a name) as a Buffer. */
  mixstage_buffer *m__buffer(const char *key) {
    int i = msb_bounce_index($self, key);
    if (i < 0) return NULL;
    if (!mixstage_bounce_data($self, i)) {
      msb_check_msg(MIXSTAGE_ESTATE, "a streamed bounce (Graph:bounce_stream) holds no audio: its "
                                     "blocks went to the function");
      return NULL;
    }
    mixstage_buffer *b = msb_buffer_new(mixstage_bounce_frames($self), mixstage_bounce_channels($self));
    if (b) memcpy(b->data, mixstage_bounce_data($self, i),
                  (size_t)(b->frames * b->channels) * sizeof(float));
    return b;
  }
  const char *__tostring() {
    snprintf(msb_text, sizeof msb_text, "mixstage.Bounce('%s', %d outputs, %lld frames x %d ch)",
             mixstage_bounce_profile($self), mixstage_bounce_count($self),
             (long long)mixstage_bounce_frames($self), mixstage_bounce_channels($self));
    return msb_text;
  }
}
%newobject mixstage_bounce::m__buffer;
%extend mixstage_profile {
  const char *__getitem(const char *role) { return mixstage_profile_m_action($self, msb_role_arg(role)); }
  void __setitem(const char *role, const char *action) {
    char emsg[256];
    int a = msb_enum("action", msb_action_names, msb_action_values, action, emsg, sizeof emsg);
    if (a < 0) { msb_check_msg(a, emsg); return; }
    int r = msb_role_arg(role);
    if (r < 0) {
      msb_enum("role", NULL, NULL, role, emsg, sizeof emsg);
      msb_check_msg(r, emsg);
      return;
    }
    mixstage_profile_m_set_action($self, r, a);
  }
  const char *__tostring() {
    snprintf(msb_text, sizeof msb_text, "mixstage.Profile('%s'%s, stems %s)", mixstage_profile_name($self),
             msb_prof_builtin($self) ? ", built-in" : "", mixstage_profile_stems_get($self));
    return msb_text;
  }
}
%extend mixstage_manifest {
  msb_lua_pushed m_to_string(lua_State *L) {
    char *t = mixstage_manifest_to_string($self);
    if (!t) { msb_check(MIXSTAGE_ENOMEM, NULL); return 0; }
    lua_pushstring(L, t);
    mixstage_free(t);
    return 1;
  }
}

%inline %{
/* Files: Buffers in and out; stats as tables. */
msb_lua_pushed read_audio(lua_State *L, const char *path, double rate) {
  float *data = NULL;
  int64_t frames = 0;
  int ch = 0;
  double file_rate = 0;
  char err[512] = "";
  int st = mixstage_audio_read(path, rate, &data, &frames, &ch, &file_rate, err, sizeof err);
  if (st < 0) { msb_check_msg(st, err); return 0; }
  mixstage_buffer *b = msb_buffer_new(frames, ch);
  if (!b) { mixstage_free(data); return 0; }
  memcpy(b->data, data, (size_t)(frames * ch) * sizeof(float));
  mixstage_free(data);
  SWIG_NewPointerObj(L, b, SWIGTYPE_p_mixstage_buffer, 1);
  lua_pushnumber(L, rate > 0 ? rate : file_rate);
  return 2;
}
msb_lua_pushed _write_audio(lua_State *L, const char *path, mixstage_buffer *buf, double rate,
                            int format, int sample_type, bool dither, long long dither_seed,
                            double output_rate) {
  mixstage_write_config wc;
  mixstage_file_stats st;
  char err[512] = "";
  mixstage_write_config_init(&wc);
  wc.format = format;
  wc.sample_type = sample_type;
  wc.dither = dither ? 1 : 0;
  if (dither_seed >= 0) wc.dither_seed = (uint64_t)dither_seed;
  wc.output_rate = output_rate;
  int rc = mixstage_audio_write(path, buf->data, buf->frames, buf->channels, rate, &wc, &st, err, sizeof err);
  if (rc < 0) { msb_check_msg(rc, err); return 0; }
  msb_push_stats(L, &st);
  return 1;
}
msb_lua_pushed measure(lua_State *L, mixstage_buffer *buf, double rate) {
  mixstage_file_stats st;
  int rc = mixstage_measure(buf->data, buf->frames, buf->channels, rate, &st);
  if (rc < 0) {
    char emsg[128];
    snprintf(emsg, sizeof emsg, "measure: %lld frames x %d channels at %g Hz",
             (long long)buf->frames, buf->channels, rate);
    msb_check_msg(rc, emsg);
    return 0;
  }
  msb_push_stats(L, &st);
  return 1;
}
msb_lua_pushed measure_file(lua_State *L, const char *path) {
  mixstage_file_stats st;
  char err[512] = "";
  int rc = mixstage_measure_file(path, &st, err, sizeof err);
  if (rc < 0) { msb_check_msg(rc, err); return 0; }
  msb_push_stats(L, &st);
  return 1;
}
%}

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
  -- Profiles
  function M.profiles()
    local t, i = {}, 0
    while M.profile_builtin(i) do t[#t + 1] = M.profile_builtin(i); i = i + 1 end
    return t
  end
  method("Profile", "actions", function(self)
    local t = {}
    for i = 0, M.ROLE_COUNT - 1 do local r = M.role_name(i); t[r] = self:action(r) end
    return t
  end)
  -- Renders with an options table {frames=, tail=, threads=, progress=fn}
  local raw_bounce, raw_null, raw_deliver = fn("Graph", "_bounce"), fn("Graph", "_null_check"), fn("Graph", "_deliver")
  method("Graph", "bounce", function(self, profile, o)
    o = o or {}
    return raw_bounce(self, profile, o.frames or 0, o.tail or -1, o.threads or 1, o.progress)
  end)
  method("Graph", "null_check", function(self, profile, o)
    o = o or {}
    return raw_null(self, profile, o.frames or 0, o.tail or -1, o.threads or 1, o.progress)
  end)
  method("Graph", "deliver", function(self, profile, dir, o)
    o = o or {}
    raw_deliver(self, profile, dir, o.frames or 0, o.tail or -1, o.threads or 1,
                o.format or "wav", o.sample_type or "pcm24", o.dither ~= false,
                o.dither_seed or -1, o.output_rate or 0, o.tail_threshold_db or -90,
                o.manifest ~= false, o.progress)
  end)
  -- Bounce outputs by name or 1-based index
  local raw_buffer, raw_kind, raw_nulls, raw_note, raw_name =
    fn("Bounce", "_buffer"), fn("Bounce", "kind"), fn("Bounce", "nulls"), fn("Bounce", "note"), fn("Bounce", "name")
  local function key(self, k)
    if math.type(k) == "integer" then
      if k < 1 or k > self.count then error("output index " .. k .. " out of range (1 .. " .. self.count .. ")", 3) end
      return raw_name(self, k - 1)
    end
    return k
  end
  method("Bounce", "get", function(self, k) return raw_buffer(self, key(self, k)) end)
  method("Bounce", "kind", function(self, k) return raw_kind(self, key(self, k)) end)
  method("Bounce", "nulls", function(self, k) return raw_nulls(self, key(self, k)) end)
  method("Bounce", "note", function(self, k) return raw_note(self, key(self, k)) end)
  method("Bounce", "name", function(self, i) return raw_name(self, i - 1) end)
  method("Bounce", "names", function(self)
    local t = {}
    for i = 0, self.count - 1 do t[#t + 1] = raw_name(self, i) end
    return t
  end)
  -- for name, buffer in b:outputs() do ... end
  method("Bounce", "outputs", function(self)
    local i = 0
    return function()
      i = i + 1
      if i > self.count then return nil end
      local n = raw_name(self, i - 1)
      return n, raw_buffer(self, n)
    end
  end)
  -- Files
  local raw_read = M.read_audio
  function M.read_audio(path, rate) return raw_read(path, rate or 0) end
  function M.write_audio(path, buf, rate, o)
    o = o or {}
    return M._write_audio(path, buf, rate, o.format or "wav", o.sample_type or "pcm24",
                          o.dither ~= false, o.dither_seed or -1, o.output_rate or 0)
  end
  -- Unknown fields raise, naming the valid ones and the closest: a typo
  -- (strip.fadr_db = -3) must not pass silently.
  local function distance(a, b)
    a, b = a:lower(), b:lower()
    local prev, cur = {}, {}
    for j = 0, #b do prev[j] = j end
    for i = 1, #a do
      cur = { [0] = i }
      for j = 1, #b do
        local cost = a:sub(i, i) == b:sub(j, j) and 0 or 1
        cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
      end
      prev = cur
    end
    return prev[#b]
  end
  local function closest(word, names)
    local best, bd = nil, math.max(1, math.min(3, #word // 3)) + 1
    for _, n in ipairs(names) do
      local d = distance(word, n)
      if d < bd then best, bd = n, d end
    end
    return best and (" (did you mean '" .. best .. "'?)") or ""
  end
  local function keys_of(t)
    local out = {}
    for k in pairs(t or {}) do
      if type(k) == "string" and k:sub(1, 1) ~= "_" then out[#out + 1] = k end
    end
    table.sort(out)
    return out
  end
  local function strict(class)
    local mt = classes[class]
    local function settable() return keys_of(mt[".set"]) end
    local function readable()
      local out = keys_of(mt[".get"])
      for _, k in ipairs(keys_of(mt[".fn"])) do out[#out + 1] = k end
      table.sort(out)
      return out
    end
    -- classes that index by key (Profile: roles) keep their own
    if mt["__setitem"] then return end
    mt["__setitem"] = M._cwrap(function(self, k, v)
      local names = settable()
      if type(k) == "string" and mt[".fn"][k] then
        error(class .. "." .. k .. " is a method, not a field; settable: " .. table.concat(names, ", "), 3)
      end
      error(class .. " has no settable field '" .. tostring(k) .. "'" .. closest(tostring(k), names) ..
            "; settable: " .. table.concat(names, ", "), 3)
    end)
    if mt["__getitem"] then return end
    mt["__getitem"] = M._cwrap(function(self, k)
      error(class .. " has no field '" .. tostring(k) .. "'" .. closest(tostring(k), readable()), 3)
    end)
  end
  for _, class in ipairs({ "Graph", "Strip", "Bus", "Send", "Lane", "Profile", "Bounce",
                           "Manifest", "Meter", "GraphFile" }) do
    if classes[class] then strict(class) end
  end
  -- Node: parameters as fields; a choice parameter takes the name of a choice
  -- (eq.band1_type = "highpass"), a switch a boolean.
  do
    local raw_set, raw_set_choice, raw_get = fn("Node", "set"), fn("Node", "set_choice"), fn("Node", "get")
    local mt = classes["Node"]
    mt["__setitem"] = M._cwrap(function(self, k, v)
      local t = type(v)
      if t == "string" then return raw_set_choice(self, k, v)
      elseif t == "boolean" then return raw_set(self, k, v and 1 or 0)
      elseif t == "number" then return raw_set(self, k, v)
      end
      error("Node parameter '" .. tostring(k) .. "' takes a number, a boolean or a choice name, not a " .. t, 3)
    end)
    mt["__getitem"] = M._cwrap(function(self, k) return raw_get(self, k) end)
    method("Node", "set", function(self, k, v) return mt["__setitem"](self, k, v) end)
  end
  -- Manifests: values by Lua type; entries 1-based
  local function mset(self, idx, k, v)
    local t = type(v)
    local pre = idx and "manifest_file_set_" or "manifest_set_"
    local function call(kind, val)
      if idx then return M[pre .. kind](self, idx - 1, k, val) end
      return M[pre .. kind](self, k, val)
    end
    if t == "string" then return call("string", v)
    elseif math.type(v) == "integer" then return call("integer", v)
    elseif t == "number" then return call("number", v)
    elseif t == "boolean" then return call("json", tostring(v))
    else error("manifest values are strings, numbers or booleans (JSON text: set_json)", 2) end
  end
  method("Manifest", "set", function(self, k, v) return mset(self, nil, k, v) end)
  method("Manifest", "set_json", function(self, k, text) return M.manifest_set_json(self, k, text) end)
  method("Manifest", "set_file", function(self, i, k, v) return mset(self, i, k, v) end)
  local raw_add = fn("Manifest", "add_file_")
  method("Manifest", "add_file", function(self, path, kind, profile, stats, roles)
    roles = roles or {}
    if type(profile) ~= "string" then profile = profile.name end
    return raw_add(self, path, kind, profile, stats, table.concat(roles.on or {}, ","),
                   table.concat(roles.bypassed or {}, ","), table.concat(roles.muted or {}, ","),
                   roles.latency or 0) + 1
  end)
  function M.node_types()
    local t, i = {}, 0
    while M.node_type_name(i) do
      t[#t + 1] = { name = M.node_type_name(i), description = M.node_type_description(i) }
      i = i + 1
    end
    return t
  end
}

%{
/* SWIG's class lookup calls a metatable's __setitem/__getitem only when it
 * is a C function: a C closure that calls a Lua function (its upvalue) lets
 * the sugar below write them in Lua. */
static int msb_lua_call_upvalue(lua_State *L) {
  int n = lua_gettop(L);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, n, LUA_MULTRET);
  return lua_gettop(L);
}
static int msb_lua_cwrap(lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  lua_settop(L, 1);
  lua_pushcclosure(L, msb_lua_call_upvalue, 1);
  return 1;
}
%}
%native(_cwrap) int msb_lua_cwrap(lua_State *L);

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

/* ---- Shared-sugar support (section 7 of mixstage.i) ---------------------
 * The result builder of the shared wrappers: nested tables filled by key
 * or appended (key NULL: 1-based array), double arrays as Lua arrays, audio
 * as a Buffer. */
%{
typedef int msb_ret; /* values pushed */
#define MSB_RET_FAIL 0
typedef struct msb_b {
  lua_State *L;
  int base, top, fail;
  int n[8];
} msb_b;
static void msb_b_init(msb_b *b, lua_State *L) { b->L = L; b->base = lua_gettop(L); b->top = 0; b->fail = 0; }
/* Stores the value on the stack top in the innermost table. */
static void msb_b_store(msb_b *b, const char *key) {
  if (b->top == 0) return; /* the result */
  if (key) lua_setfield(b->L, -2, key);
  else lua_rawseti(b->L, -2, ++b->n[b->top - 1]);
}
static void msb_b_dict(msb_b *b) {
  lua_newtable(b->L);
  if (b->top < 8) b->n[b->top++] = 0; else b->fail = 1; /* result discarded by done() */
}
static void msb_b_list(msb_b *b) { msb_b_dict(b); }
static void msb_b_close(msb_b *b, const char *key) {
  if (b->top <= 1) return;
  b->top--;
  msb_b_store(b, key);
}
static void msb_b_num(msb_b *b, const char *k, double v) { lua_pushnumber(b->L, v); msb_b_store(b, k); }
static void msb_b_int(msb_b *b, const char *k, long long v) { lua_pushinteger(b->L, (lua_Integer)v); msb_b_store(b, k); }
static void msb_b_bool(msb_b *b, const char *k, int v) { lua_pushboolean(b->L, v); msb_b_store(b, k); }
static void msb_b_str(msb_b *b, const char *k, const char *v) {
  if (v) lua_pushstring(b->L, v); else lua_pushnil(b->L);
  msb_b_store(b, k);
}
static void msb_b_nums(msb_b *b, const char *k, const double *v, int64_t n) {
  lua_createtable(b->L, n < INT32_MAX ? (int)n : 0, 0);
  for (int64_t i = 0; i < n; i++) { lua_pushnumber(b->L, v[i]); lua_rawseti(b->L, -2, (lua_Integer)(i + 1)); }
  msb_b_store(b, k);
}
static void msb_b_ints(msb_b *b, const char *k, const int64_t *v, int64_t n) {
  lua_createtable(b->L, n < INT32_MAX ? (int)n : 0, 0);
  for (int64_t i = 0; i < n; i++) { lua_pushinteger(b->L, (lua_Integer)v[i]); lua_rawseti(b->L, -2, (lua_Integer)(i + 1)); }
  msb_b_store(b, k);
}
static float *msb_b_audio(msb_b *b, const char *k, int64_t frames, int channels) {
  mixstage_buffer *buf = msb_buffer_new(frames, channels);
  if (!buf) { b->fail = 1; return NULL; }
  SWIG_NewPointerObj(b->L, buf, SWIGTYPE_p_mixstage_buffer, 1);
  msb_b_store(b, k);
  return buf->data;
}
static msb_ret msb_b_done(msb_b *b) {
  if (b->fail) { lua_settop(b->L, b->base); return 0; }
  lua_settop(b->L, b->base + 1);
  return 1;
}
static msb_ret msb_b_abort(msb_b *b) { lua_settop(b->L, b->base); return 0; }
/* The result becomes the `report` of the error raised next (section 2). */
static void msb_b_stash(msb_b *b) {
  if (msb_b_done(b) != 1) return;
  if (msb_lua_reportref != LUA_NOREF) luaL_unref(b->L, LUA_REGISTRYINDEX, msb_lua_reportref);
  msb_lua_reportref = luaL_ref(b->L, LUA_REGISTRYINDEX);
}


typedef struct msb_audio {
  const float *data;
  int64_t frames;
  int channels;
} msb_audio;
typedef struct msb_audio_list {
  msb_audio *items;
  int count;
} msb_audio_list;
typedef struct msb_graph_list {
  mixstage_graph **items;
  int count;
} msb_graph_list;
static int msb_lua_buffer(lua_State *L, int i, msb_audio *a) {
  mixstage_buffer *buf = NULL;
  if (!SWIG_IsOK(SWIG_ConvertPtr(L, i, (void **)&buf, SWIGTYPE_p_mixstage_buffer, 0)) || !buf) return -1;
  a->data = buf->data;
  a->frames = buf->frames;
  a->channels = buf->channels;
  return 0;
}
/* A table of Buffers (or of Graphs): -1 if an element is of another type. */
static int msb_lua_audio_list(lua_State *L, int t, msb_audio_list *l) {
  int n = (int)lua_rawlen(L, t);
  l->count = 0;
  l->items = (msb_audio *)calloc(n > 0 ? (size_t)n : 1, sizeof *l->items);
  if (!l->items) return -2;
  for (int i = 0; i < n; i++) {
    lua_rawgeti(L, t, i + 1);
    int bad = msb_lua_buffer(L, lua_gettop(L), &l->items[i]);
    lua_pop(L, 1);
    if (bad) return -1;
  }
  l->count = n;
  return 0;
}
static int msb_lua_graph_list(lua_State *L, int t, msb_graph_list *l) {
  int n = (int)lua_rawlen(L, t);
  l->count = 0;
  l->items = (mixstage_graph **)calloc(n > 0 ? (size_t)n : 1, sizeof *l->items);
  if (!l->items) return -2;
  for (int i = 0; i < n; i++) {
    void *vp = NULL;
    lua_rawgeti(L, t, i + 1);
    int ok = SWIG_IsOK(SWIG_ConvertPtr(L, -1, &vp, SWIGTYPE_p_mixstage_graph, 0)) && vp;
    lua_pop(L, 1);
    if (!ok) return -1;
    l->items[i] = (mixstage_graph *)vp;
  }
  l->count = n;
  return 0;
}
%}
%typemap(out) msb_ret { SWIG_arg += $1; }
%typemap(in, checkfn="lua_isuserdata") const msb_audio * (msb_audio tmp) {
  if (msb_lua_buffer(L, $input, &tmp) < 0) SWIG_fail_ptr("$symname", $argnum, SWIGTYPE_p_mixstage_buffer);
  $1 = &tmp;
}
%typemap(in, checkfn="lua_istable") const msb_audio_list * (msb_audio_list tmp, void *owned = NULL) {
  int rc_ = msb_lua_audio_list(L, $input, &tmp);
  owned = tmp.items;
  if (rc_ == -2) MSB_FAIL_MSG(MIXSTAGE_ENOMEM, "buffer list");
  if (rc_ < 0) { lua_pushstring(L, "$symname: expected a table of Buffers"); SWIG_fail; }
  $1 = &tmp;
}
%typemap(freearg) const msb_audio_list * { free(owned$argnum); }
%typemap(in, checkfn="lua_istable") const msb_graph_list * (msb_graph_list tmp, void *owned = NULL) {
  int rc_ = msb_lua_graph_list(L, $input, &tmp);
  owned = tmp.items;
  if (rc_ == -2) MSB_FAIL_MSG(MIXSTAGE_ENOMEM, "graph list");
  if (rc_ < 0) { lua_pushstring(L, "$symname: expected a table of Graphs"); SWIG_fail; }
  $1 = &tmp;
}
%typemap(freearg) const msb_graph_list * { free(owned$argnum); }

/* ---- s5-stream: a bounce written as a delivery, without rendering again ---- */
%extend mixstage_graph {
  void m__deliver_bounce(lua_State *L, const mixstage_bounce *bounce, const mixstage_profile *profile,
                         const char *dir, long long frames, long long tail, int threads, int format,
                         int sample_type, bool dither, long long dither_seed, double output_rate,
                         double tail_threshold_db, bool manifest, msb_lua_func progress) {
    mixstage_deliver_config dc;
    msb_luaprog lp;
    msb_deliver_config(&dc, frames, tail, threads, format, sample_type, dither, dither_seed,
                       output_rate, tail_threshold_db, manifest);
    msb_lua_progress_init(&lp, &dc.render, L, progress, $self);
    int st;
    {
      MSB_UNLOCK;
      st = mixstage_bounce_deliver($self, bounce, profile, dir, &dc);
      MSB_LOCK;
    }
    if (st != MIXSTAGE_ENUMERIC) msb_check(st, $self);
  }
}
%luacode {
  -- Graph:deliver_bounce(bounce, profile, dir, {options as Graph:deliver})
  local classes = debug.getregistry()["SW" .. "IG"]
  local raw = classes["Graph"][".fn"]["_deliver_bounce"]
  classes["Graph"][".fn"]["deliver_bounce"] = function(self, bounce, profile, dir, o)
    o = o or {}
    raw(self, bounce, profile, dir, o.frames or 0, o.tail or -1, o.threads or 1,
        o.format or "wav", o.sample_type or "pcm24", o.dither ~= false,
        o.dither_seed or -1, o.output_rate or 0, o.tail_threshold_db or -90,
        o.manifest ~= false, o.progress)
  end
}
/* ---- end s5-stream ---- */

/* ---- s6-stream: several profiles delivered in one pass ---- */
%extend mixstage_graph {
  void m__deliver_profiles(lua_State *L, msb_lua_table profiles, msb_lua_table dirs, long long frames,
                           long long tail, int threads, int format, int sample_type, bool dither,
                           long long dither_seed, double output_rate, double tail_threshold_db, bool manifest,
                           msb_lua_func progress) {
    int n = (int)lua_rawlen(L, profiles);
    char emsg[512];
    if ((int)lua_rawlen(L, dirs) != n) {
      msb_check_msg(MIXSTAGE_EINVAL, "deliver_profiles: as many folders as profiles");
      return;
    }
    const mixstage_profile **pv = calloc((size_t)n + 1, sizeof *pv);
    const char **dv = calloc((size_t)n + 1, sizeof *dv);
    if (!pv || !dv) {
      free(pv);
      free(dv);
      msb_check_msg(MIXSTAGE_ENOMEM, "deliver_profiles: out of memory");
      return;
    }
    int bad = 0;
    for (int i = 0; i < n && !bad; i++) {
      lua_rawgeti(L, profiles, i + 1);
      if (lua_type(L, -1) == LUA_TSTRING) {
        pv[i] = msb_profile_named(lua_tostring(L, -1), emsg, sizeof emsg);
        if (!pv[i]) bad = MIXSTAGE_ENOTFOUND;
      } else {
        void *vp = NULL;
        if (SWIG_IsOK(SWIG_ConvertPtr(L, -1, &vp, SWIGTYPE_p_mixstage_profile, 0)) && vp) {
          pv[i] = (const mixstage_profile *)vp;
        } else {
          snprintf(emsg, sizeof emsg, "deliver_profiles: profile %d is not a Profile or a profile name", i + 1);
          bad = MIXSTAGE_EINVAL;
        }
      }
      lua_pop(L, 1);
      lua_rawgeti(L, dirs, i + 1);
      /* the string stays alive: the table holds it */
      if (!bad && lua_type(L, -1) != LUA_TSTRING) {
        snprintf(emsg, sizeof emsg, "deliver_profiles: folder %d is not a string", i + 1);
        bad = MIXSTAGE_EINVAL;
      }
      if (!bad) dv[i] = lua_tostring(L, -1);
      lua_pop(L, 1);
    }
    if (bad) {
      free(pv);
      free(dv);
      msb_check_msg(bad, emsg);
      return;
    }
    mixstage_deliver_config dc;
    msb_luaprog lp;
    msb_deliver_config(&dc, frames, tail, threads, format, sample_type, dither, dither_seed, output_rate,
                       tail_threshold_db, manifest);
    msb_lua_progress_init(&lp, &dc.render, L, progress, $self);
    int st;
    {
      MSB_UNLOCK;
      st = mixstage_graph_deliver_profiles($self, pv, dv, n, &dc);
      MSB_LOCK;
    }
    free(pv);
    free(dv);
    if (st != MIXSTAGE_ENUMERIC) msb_check(st, $self);
  }
}
%luacode {
  -- Graph:deliver_profiles({{profile, dir}, ...}, {options as Graph:deliver}):
  -- several profiles in one pass, each folder as deliver() writes it alone.
  local classes = debug.getregistry()["SW" .. "IG"]
  local raw = classes["Graph"][".fn"]["_deliver_profiles"]
  classes["Graph"][".fn"]["deliver_profiles"] = function(self, deliveries, o)
    o = o or {}
    local ps, ds = {}, {}
    for i, pair in ipairs(deliveries) do ps[i], ds[i] = pair[1], pair[2] end
    raw(self, ps, ds, o.frames or 0, o.tail or -1, o.threads or 1,
        o.format or "wav", o.sample_type or "pcm24", o.dither ~= false,
        o.dither_seed or -1, o.output_rate or 0, o.tail_threshold_db or -90,
        o.manifest ~= false, o.progress)
  end
}
/* ---- end s6-stream ---- */

/* ---- s5b-bstream: a bounce handed over block by block ---- */
%{
#include <math.h>
/* Graph:bounce_stream: mixstage_graph_bounce_stream calls msb_lua_block on
 * the calling thread for every block, under msb_lua_enter as the progress
 * trampoline.  fn(frame, blocks) gets one table (name -> Buffer) made at
 * the first block and reused: each Buffer is refilled with its output's
 * block (its frames set to the block's), so a Buffer kept past the call
 * holds the next block's samples.  An error is caught (lua_pcall: a longjmp
 * would strand the render's workers), stops the render and is re-raised
 * unchanged (msb_lua_errref, MSB_RAISE_FOREIGN). */
typedef struct msb_luablocks {
  lua_State *L;
  int fn;
  int tref; /* the blocks table, in the registry */
  mixstage_buffer **bufs;
  int count, channels, cap;
} msb_luablocks;

static int msb_lua_blocks_grow(msb_luablocks *s, const mixstage_bounce *b, int frames) {
  lua_State *L = s->L;
  if (s->tref == LUA_NOREF) {
    s->count = mixstage_bounce_count(b);
    s->channels = mixstage_bounce_channels(b);
    s->bufs = (mixstage_buffer **)calloc(s->count > 0 ? (size_t)s->count : 1, sizeof *s->bufs);
    if (!s->bufs) return -1;
    lua_createtable(L, 0, s->count);
    for (int k = 0; k < s->count; k++) {
      mixstage_buffer *buf = (mixstage_buffer *)calloc(1, sizeof *buf);
      if (!buf) { lua_pop(L, 1); return -1; }
      buf->channels = s->channels;
      SWIG_NewPointerObj(L, buf, SWIGTYPE_p_mixstage_buffer, 1); /* Lua owns it from here */
      lua_setfield(L, -2, mixstage_bounce_name(b, k));
      s->bufs[k] = buf;
    }
    s->tref = luaL_ref(L, LUA_REGISTRYINDEX);
  }
  if (frames <= s->cap) return 0;
  for (int k = 0; k < s->count; k++) {
    float *d = (float *)realloc(s->bufs[k]->data, sizeof(float) * (size_t)frames * (size_t)s->channels);
    if (!d) return -1;
    s->bufs[k]->data = d;
  }
  s->cap = frames;
  return 0;
}

static int msb_lua_block(void *user, const mixstage_bounce *b, int64_t frame, int frames,
                         const float *const *outputs) {
  msb_luablocks *s = (msb_luablocks *)user;
  lua_State *L = s->L;
  if (msb_lua_errref != LUA_NOREF) return MIXSTAGE_ECANCELLED;
  pthread_mutex_lock(&msb_lua_enter);
  msb_lua_held = 1;
  int rc = MIXSTAGE_OK;
  if (msb_lua_blocks_grow(s, b, frames) < 0) {
    rc = MIXSTAGE_ENOMEM;
  } else {
    for (int k = 0; k < s->count; k++) {
      memcpy(s->bufs[k]->data, outputs[k], sizeof(float) * (size_t)frames * (size_t)s->channels);
      s->bufs[k]->frames = frames;
    }
    lua_pushvalue(L, s->fn);
    lua_pushinteger(L, (lua_Integer)frame);
    lua_rawgeti(L, LUA_REGISTRYINDEX, s->tref);
    if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
      msb_lua_errref = luaL_ref(L, LUA_REGISTRYINDEX);
      rc = MIXSTAGE_ECANCELLED;
    }
  }
  msb_lua_held = 0;
  pthread_mutex_unlock(&msb_lua_enter);
  return rc;
}
%}
%typemap(in, checkfn="lua_isfunction") msb_lua_block_fn { $1 = $input; }
%{ typedef int msb_lua_block_fn; %}
typedef int msb_lua_block_fn;

%extend mixstage_graph {
  msb_lua_pushed m__bounce_stream(lua_State *L, const mixstage_profile *profile, msb_lua_block_fn fn,
                                  long long frames, long long tail, int threads, bool null_check,
                                  msb_lua_func progress) {
    mixstage_render_config rc;
    msb_luaprog lp;
    msb_luablocks blocks;
    msb_render_config2(&rc, frames, tail, threads);
    msb_lua_progress_init(&lp, &rc, L, progress, $self);
    memset(&blocks, 0, sizeof blocks);
    blocks.L = L;
    blocks.fn = fn;
    blocks.tref = LUA_NOREF;
    int st = 0;
    mixstage_bounce *b;
    {
      MSB_UNLOCK;
      b = mixstage_graph_bounce_stream($self, profile, &rc, null_check ? MIXSTAGE_BOUNCE_NULL_CHECK : 0,
                                       msb_lua_block, &blocks, &st);
      MSB_LOCK;
    }
    /* the Buffers stay with Lua (and whoever kept them) */
    luaL_unref(L, LUA_REGISTRYINDEX, blocks.tref);
    free(blocks.bufs);
    if (!b) {
      msb_check(st ? st : MIXSTAGE_ENOMEM, $self);
      return 0;
    }
    SWIG_NewPointerObj(L, b, SWIGTYPE_p_mixstage_bounce, 1);
    lua_pushboolean(L, st == MIXSTAGE_ENUMERIC);
    return 2;
  }
}
%extend mixstage_bounce {
  /** The null-check residual in dBFS of a bounce_stream with null_check
   *  (-math.huge for an exactly silent residual), nil otherwise. */
  msb_lua_pushed m__null_residual(lua_State *L) {
    double db = mixstage_bounce_null_residual($self);
    if (db != db) lua_pushnil(L);
    else lua_pushnumber(L, db <= -400.0 ? -HUGE_VAL : db);
    return 1;
  }
}
%luacode {
  local classes = debug.getregistry()["SW" .. "IG"]
  classes["Bounce"][".get"]["null_residual"] = classes["Bounce"][".fn"]["_null_residual"]
}
/* ---- end s5b-bstream ---- */
