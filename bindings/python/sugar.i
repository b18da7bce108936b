/* Python extras: numpy audio, iteration, repr, Pythonic properties.
 * Audio is float32 shaped (frames, channels), C-contiguous. */
%include "numpy.i"
%init %{
  import_array();
%}

%apply (float *IN_ARRAY2, int DIM1, int DIM2) { (float *audio, int frames, int channels) };
%apply (float *INPLACE_ARRAY2, int DIM1, int DIM2) { (float *out, int frames, int channels) };
%apply (float *INPLACE_ARRAY2, int DIM1, int DIM2) { (float *out, int channels, int frames) };

%{
/* A render or process call returned MIXSTAGE_ENUMERIC: the audio is valid,
 * so warn instead of raising.  Returns -1 if the warning became an error. */
static int msb_numeric_warn(mixstage_graph *g) {
  char msg[1024];
  msb_format(msg, sizeof msg, MIXSTAGE_ENUMERIC, mixstage_graph_last_error(g));
  return PyErr_WarnEx(msb_numeric_warning, msg, 2);
}

/* Progress and cancellation.  Long calls (render, bounce, null check,
 * deliver, file I/O) run with the GIL released, so other Python threads
 * keep running; the library calls the trampoline from the calling thread
 * about every 100 ms of audio.  It takes the GIL, checks for signals (so
 * Ctrl-C cancels a render even without a callable) and calls progress(done,
 * total).  A truthy return cancels (CancelledError); an exception cancels
 * too and is re-raised unchanged once the library has unwound. */
typedef struct msb_pyprog {
  PyObject *fn;
  PyObject *et, *ev, *tb;
  mixstage_graph *g; /* whose source callbacks may fail */
} msb_pyprog;
static int msb_py_pull_failed(mixstage_graph *g);

static int msb_py_progress(void *user, int64_t done, int64_t total) {
  msb_pyprog *p = (msb_pyprog *)user;
  int stop = 0;
  PyGILState_STATE gs = PyGILState_Ensure();
  if (p->et || (msb_pulls && msb_py_pull_failed(p->g))) {
    stop = 1;
  } else if (PyErr_CheckSignals() < 0) {
    PyErr_Fetch(&p->et, &p->ev, &p->tb);
    stop = 1;
  } else if (p->fn) {
    PyObject *r = PyObject_CallFunction(p->fn, "LL", (long long)done, (long long)total);
    int t = r ? PyObject_IsTrue(r) : -1;
    Py_XDECREF(r);
    if (t < 0) {
      PyErr_Fetch(&p->et, &p->ev, &p->tb);
      stop = 1;
    } else if (t) {
      stop = 1;
    }
  }
  PyGILState_Release(gs);
  return stop;
}
static int msb_py_progress_init(msb_pyprog *p, mixstage_render_config *rc, PyObject *fn,
                                mixstage_graph *g) {
  memset(p, 0, sizeof *p);
  p->g = g;
  if (fn && fn != Py_None) {
    if (!PyCallable_Check(fn)) {
      PyErr_SetString(PyExc_TypeError, "progress must be callable: progress(done, total) -> cancel?");
      return -1;
    }
    p->fn = fn;
  }
  rc->progress = msb_py_progress;
  rc->progress_user = p;
  return 0;
}
/* After the call: -1 with the callback's exception restored, if it raised. */
static int msb_py_progress_done(msb_pyprog *p) {
  if (!p->et) return 0;
  PyErr_Restore(p->et, p->ev, p->tb);
  p->et = p->ev = p->tb = NULL;
  return -1;
}
/* Raises for a render status: ENUMERIC warns (the audio is valid), the
 * callback's own exception wins over the CancelledError it caused.
 * Returns -1 if an exception is set. */
static int msb_py_pull_raise(mixstage_graph *g);
static int msb_py_status(int st, mixstage_graph *g, msb_pyprog *p) {
  /* a source callback's exception caused the rest: it wins */
  if (msb_pulls && msb_py_pull_raise(g) < 0) {
    Py_CLEAR(p->et);
    Py_CLEAR(p->ev);
    Py_CLEAR(p->tb);
    return -1;
  }
  if (msb_py_progress_done(p) < 0) return -1;
  if (st == MIXSTAGE_ENUMERIC) return msb_numeric_warn(g) < 0 ? -1 : 0;
  if (st < 0) {
    msb_raise(st, g);
    return -1;
  }
  return 0;
}

/* Source callbacks: the library calls msb_py_pull on the rendering thread
 * (a render's worker threads too) for every chunk of at most max_block
 * frames.  It takes the GIL, hands the callable a (frames, channels)
 * float32 view of a scratch array made at set time, and copies the result
 * into the library's planar buffers; a truthy return says the source has
 * ended.  An exception silences the source and is kept on the context: the
 * call that rendered re-raises it (msb_py_pull_raise, from the %exception
 * wrapper) and the progress trampoline stops the render at its next
 * report. */
typedef struct msb_pypull {
  msb_pull base;   /* registry link (section 1) */
  PyObject *fn;
  PyObject *scratch; /* float32 (max_block, channels) */
  int channels, max_frames;
  PyObject *et, *ev, *tb;
} msb_pypull;

static void msb_pull_free(msb_pull *p) {
  msb_pypull *c = (msb_pypull *)p;
  PyGILState_STATE gs = PyGILState_Ensure();
  Py_XDECREF(c->fn);
  Py_XDECREF(c->scratch);
  Py_XDECREF(c->et);
  Py_XDECREF(c->ev);
  Py_XDECREF(c->tb);
  PyGILState_Release(gs);
  free(c);
}

static int msb_py_pull(void *user, float *const *planar, int channels, int frames, int64_t position) {
  msb_pypull *c = (msb_pypull *)user;
  int end = 1;
  PyGILState_STATE gs = PyGILState_Ensure();
  if (!c->et && frames <= c->max_frames && channels == c->channels) {
    float *d = (float *)PyArray_DATA((PyArrayObject *)c->scratch);
    memset(d, 0, (size_t)frames * (size_t)channels * sizeof(float));
    /* a view of the first `frames` rows: it keeps the scratch alive even if
     * the callable keeps it */
    npy_intp dims[2] = {frames, channels};
    PyObject *view = PyArray_New(&PyArray_Type, 2, dims, NPY_FLOAT32, NULL, d, 0,
                                 NPY_ARRAY_CARRAY, NULL);
    if (view) {
      Py_INCREF(c->scratch);
      if (PyArray_SetBaseObject((PyArrayObject *)view, c->scratch) < 0) Py_CLEAR(view);
    }
    PyObject *r = view ? PyObject_CallFunction(c->fn, "OL", view, (long long)position) : NULL;
    Py_XDECREF(view);
    if (!r) {
      PyErr_Fetch(&c->et, &c->ev, &c->tb);
    } else {
      int t = r == Py_None ? 0 : PyObject_IsTrue(r);
      Py_DECREF(r);
      if (t < 0) PyErr_Fetch(&c->et, &c->ev, &c->tb);
      else end = t;
      if (!c->et) {
        for (int ch = 0; ch < channels; ch++)
          for (int i = 0; i < frames; i++) planar[ch][i] = d[(size_t)i * (size_t)channels + (size_t)ch];
        PyGILState_Release(gs);
        return end;
      }
    }
  }
  PyGILState_Release(gs);
  for (int ch = 0; ch < channels; ch++) memset(planar[ch], 0, (size_t)frames * sizeof(float));
  return end;
}
/* Re-raises the first exception a source callback of @g (NULL: of any
 * graph) raised, dropping any others.  The exception objects are released
 * outside msb_lock: their tracebacks may hold proxies whose destructors
 * take it.  Returns -1 with the exception set, else 0. */
static int msb_py_pull_raise(mixstage_graph *g) {
  int rc = 0;
  for (;;) {
    PyObject *et = NULL, *ev = NULL, *tb = NULL;
    pthread_mutex_lock(&msb_lock);
    for (msb_pull *p = msb_pulls; p; p = p->next) {
      msb_pypull *c = (msb_pypull *)p;
      if ((g && p->graph != g) || !c->et) continue;
      et = c->et; ev = c->ev; tb = c->tb;
      c->et = c->ev = c->tb = NULL;
      break;
    }
    pthread_mutex_unlock(&msb_lock);
    if (!et) return rc;
    if (!rc) {
      PyErr_Restore(et, ev, tb);
      rc = -1;
    } else {
      Py_XDECREF(et);
      Py_XDECREF(ev);
      Py_XDECREF(tb);
    }
  }
}
/* True if a source callback of @g failed (the render should stop). */
static int msb_py_pull_failed(mixstage_graph *g) {
  int failed = 0;
  pthread_mutex_lock(&msb_lock);
  for (msb_pull *p = msb_pulls; p && !failed; p = p->next)
    failed = p->graph == g && ((msb_pypull *)p)->et != NULL;
  pthread_mutex_unlock(&msb_lock);
  return failed;
}

/* numpy array owning a buffer that io.h allocated. */
static void msb_capsule_free(PyObject *cap) { mixstage_free(PyCapsule_GetPointer(cap, "mixstage.buffer")); }
%}

%extend mixstage_graph {
  /* Offline render into a new (frames, mix_channels) float32 array. */
  PyObject *_render(long long frames, long long tail, bool remove_latency, int threads,
                    PyObject *progress) {
    mixstage_render_config rc;
    msb_pyprog pp;
    msb_render_config(&rc, frames, tail, remove_latency, threads);
    if (msb_py_progress_init(&pp, &rc, progress, $self) < 0) return NULL;
    int64_t n = mixstage_graph_render_frames($self, &rc);
    if (n < 0) { msb_raise((int)n, $self); return NULL; }
    npy_intp dims[2] = {(npy_intp)n, mixstage_bus_channels(mixstage_graph_mix_bus($self))};
    PyObject *arr = PyArray_SimpleNew(2, dims, NPY_FLOAT32);
    if (!arr) return NULL;
    float *out = (float *)PyArray_DATA((PyArrayObject *)arr);
    int st;
    Py_BEGIN_ALLOW_THREADS
    st = mixstage_graph_render($self, &rc, out, n);
    Py_END_ALLOW_THREADS
    if (msb_py_status(st, $self, &pp) < 0) { Py_DECREF(arr); return NULL; }
    return arr;
  }
  PyObject *_bounce(const mixstage_profile *profile, long long frames, long long tail,
                    int threads, PyObject *progress) {
    mixstage_render_config rc;
    msb_pyprog pp;
    msb_render_config2(&rc, frames, tail, threads);
    if (msb_py_progress_init(&pp, &rc, progress, $self) < 0) return NULL;
    int st = 0;
    mixstage_bounce *b;
    Py_BEGIN_ALLOW_THREADS
    b = mixstage_graph_bounce($self, profile, &rc, &st);
    Py_END_ALLOW_THREADS
    if (msb_py_status(b ? st : (st ? st : MIXSTAGE_ENOMEM), $self, &pp) < 0) {
      mixstage_bounce_destroy(b);
      return NULL;
    }
    return SWIG_NewPointerObj(SWIG_as_voidptr(b), SWIGTYPE_p_mixstage_bounce, SWIG_POINTER_OWN);
  }
  PyObject *_null_check(const mixstage_profile *profile, long long frames, long long tail,
                        int threads, PyObject *progress) {
    mixstage_render_config rc;
    msb_pyprog pp;
    msb_render_config2(&rc, frames, tail, threads);
    if (msb_py_progress_init(&pp, &rc, progress, $self) < 0) return NULL;
    double db = 0.0;
    int st;
    Py_BEGIN_ALLOW_THREADS
    st = mixstage_graph_null_check($self, profile, &rc, &db);
    Py_END_ALLOW_THREADS
    if (msb_py_status(st, $self, &pp) < 0) return NULL;
    return PyFloat_FromDouble(db);
  }
  PyObject *_deliver(const mixstage_profile *profile, const char *dir, long long frames,
                     long long tail, int threads, int format, int sample_type, bool dither,
                     long long dither_seed, double output_rate, double tail_threshold_db,
                     bool manifest, PyObject *progress) {
    mixstage_deliver_config dc;
    msb_pyprog pp;
    msb_deliver_config(&dc, frames, tail, threads, format, sample_type, dither, dither_seed,
                       output_rate, tail_threshold_db, manifest);
    if (msb_py_progress_init(&pp, &dc.render, progress, $self) < 0) return NULL;
    int st;
    Py_BEGIN_ALLOW_THREADS
    st = mixstage_graph_deliver($self, profile, dir, &dc);
    Py_END_ALLOW_THREADS
    if (msb_py_status(st, $self, &pp) < 0) return NULL;
    return SWIG_Py_Void();
  }
  /* Planar processing into a caller's (mix_channels, frames) C-contiguous
   * float32 array: row c is channel c. */
  void process_planar_into(float *out, int channels, int frames) {
    float *rows[MIXSTAGE_MAX_CHANNELS];
    if (channels < 1 || channels > MIXSTAGE_MAX_CHANNELS ||
        channels != mixstage_bus_channels(mixstage_graph_mix_bus($self))) {
      char emsg[128];
      snprintf(emsg, sizeof emsg, "process_planar: %d rows for a %d-channel mix bus (shape (channels, frames))",
               channels, mixstage_bus_channels(mixstage_graph_mix_bus($self)));
      msb_check_msg(MIXSTAGE_ECHANNELS, emsg);
      return;
    }
    for (int c = 0; c < channels; c++) rows[c] = out + (size_t)c * (size_t)frames;
    int st = mixstage_graph_process_planar($self, rows, channels, frames);
    if (st == MIXSTAGE_ENUMERIC) {
      if (msb_numeric_warn($self) < 0) msb_check(MIXSTAGE_ENUMERIC, $self);
    } else {
      msb_check(st, $self);
    }
  }
  /* Real-time style processing into a caller's (frames, mix_channels)
   * float32 array: no allocation per block. */
  void process_into(float *out, int frames, int channels) {
    if (channels != mixstage_bus_channels(mixstage_graph_mix_bus($self))) {
      msb_check(MIXSTAGE_ECHANNELS, NULL);
      return;
    }
    int st = mixstage_graph_process($self, out, frames);
    if (st == MIXSTAGE_ENUMERIC) {
      if (msb_numeric_warn($self) < 0) msb_check(MIXSTAGE_ENUMERIC, $self);
    } else {
      msb_check(st, $self);
    }
  }
  %pythoncode %{
    def render(self, frames=0, tail=None, remove_latency=True, threads=1, progress=None, *,
               seconds=None, tail_seconds=None):
        """Renders the graph offline from frame 0, under its active profile.

        frames: program length in frames (0 = the longest source), or
        seconds=: the same in seconds (rounded to the nearest frame); tail:
        cap on the ring-out in frames (None = the library default, 30 s), or
        tail_seconds=; frames are integers (a float raises TypeError: say
        seconds= for seconds); threads: worker
        threads (the result is bit-identical for any count); progress: an
        optional callable progress(done_frames, total_frames) called about
        every 100 ms of audio: return True to cancel (CancelledError), or
        raise (the render stops and the exception propagates).
        Returns float32 numpy array shaped (frames, mix_channels)."""
        frames = _frames_arg(self, "render", "frames", frames, seconds, 0)
        tail = _frames_arg(self, "render", "tail", tail, tail_seconds, None)
        return self._render(frames, -1 if tail is None else tail,
                            bool(remove_latency), int(threads), progress)

    def bounce(self, profile, frames=0, tail=None, threads=1, progress=None, *, seconds=None,
               tail_seconds=None):
        """Renders a profile ("production", "mix-stems", "final" or a
        Profile) in one pass: every output it delivers (stems, FX stems, its
        mix, the production reference), sample-aligned, latency removed.
        Returns a Bounce: a mapping output name -> float32 (frames, channels)
        array.  frames, tail, threads, progress: as for render()."""
        frames = _frames_arg(self, "bounce", "frames", frames, seconds, 0)
        tail = _frames_arg(self, "bounce", "tail", tail, tail_seconds, None)
        return self._bounce(profile, frames, -1 if tail is None else tail,
                            int(threads), progress)

    def null_check(self, profile=None, frames=0, tail=None, threads=1, progress=None, *,
                   seconds=None, tail_seconds=None):
        """The stem rules' null check: the stems (of `profile`, default
        "mix-stems") plus the FX stems, minus the production mix with the
        mix-bus stages bypassed.  Returns the residual's peak in dBFS,
        -inf for an exactly silent residual (the C call's -400)."""
        frames = _frames_arg(self, "null_check", "frames", frames, seconds, 0)
        tail = _frames_arg(self, "null_check", "tail", tail, tail_seconds, None)
        db = self._null_check(profile, frames, -1 if tail is None else tail,
                              int(threads), progress)
        return float("-inf") if db <= -400.0 else db

    def deliver(self, profile, directory, format="wav", sample_type="pcm24", dither=True,
                dither_seed=None, output_rate=0.0, tail_threshold_db=-90.0, manifest=True,
                frames=0, tail=None, threads=1, progress=None, *, seconds=None, tail_seconds=None):
        """Renders `profile` and writes each output as a file in `directory`
        (made if missing) with manifest.json: "Bass.wav", "Plate.wav",
        "mix.wav", "reference.wav"...  Files are written atomically: a failed
        or cancelled delivery leaves no partial file.  format: "wav", "aiff",
        "flac"; sample_type: "pcm16", "pcm24", "float32"; tails end when every
        output stays below tail_threshold_db.  Raises InputOutputError naming
        the file at fault.  Returns the manifest as a dict (None without)."""
        directory = _os.fspath(directory)
        frames = _frames_arg(self, "deliver", "frames", frames, seconds, 0)
        tail = _frames_arg(self, "deliver", "tail", tail, tail_seconds, None)
        self._deliver(profile, directory, frames, -1 if tail is None else tail,
                      int(threads), format, sample_type, bool(dither),
                      -1 if dither_seed is None else int(dither_seed), float(output_rate),
                      float(tail_threshold_db), bool(manifest), progress)
        if not manifest:
            return None
        return read_manifest(directory)

    def process(self, frames):
        """Processes the next `frames` frames (prepare() first) and returns
        them as a new (frames, mix_channels) float32 array."""
        import numpy
        out = numpy.zeros((int(frames), self.mix_channels), dtype=numpy.float32)
        self.process_into(out)
        return out

    def process_planar(self, frames, out=None):
        """As process(), planar: returns (or fills `out`, a C-contiguous
        float32 array) shaped (mix_channels, frames), one row per channel, so
        out[0] is the left channel as a contiguous array (the layout of
        mixstage_graph_process_planar; out.T is process()'s layout).  The
        samples equal process()'s bit for bit."""
        import numpy
        if out is None:
            out = numpy.zeros((self.mix_channels, int(frames)), dtype=numpy.float32)
        elif out.shape != (self.mix_channels, int(frames)):
            raise ChannelsError("the number of channels does not match: process_planar "
                                "wants out shaped (%d, %d), got %r"
                                % (self.mix_channels, int(frames), out.shape))
        self.process_planar_into(out)
        return out

    def add_return(self, name, channels=2):
        """Adds an FX return (a bus fed by sends)."""
        return self.add_bus(name, "return", channels)

    def seconds_to_frames(self, seconds):
        """round(seconds * sample_rate): the frame a time in seconds falls on."""
        return _round_frames(seconds, self.sample_rate)

    def frames_to_seconds(self, frames):
        """frames / sample_rate."""
        return _operator.index(frames) / self.sample_rate

    @property
    def strips(self):
        """The strips, in creation order."""
        return [self.strip_at(i) for i in range(self.strip_count())]

    @property
    def buses(self):
        """The buses; buses[0] is the mix bus."""
        return [self.bus_at(i) for i in range(self.bus_count())]

    def strip(self, key):
        """A strip by name or index; raises NotFoundError."""
        s = self.strip_at(key) if isinstance(key, int) else self.find_strip(key)
        if s is None:
            raise NotFoundError("no object, node type or parameter by that name or id: "
                                "no strip named %r" % (key,))
        return s

    def bus(self, key):
        """A bus by name or index; raises NotFoundError."""
        b = self.bus_at(key) if isinstance(key, int) else self.find_bus(key)
        if b is None:
            raise NotFoundError("no object, node type or parameter by that name or id: "
                                "no bus named %r" % (key,))
        return b

    def __repr__(self):
        return "<mixstage.Graph %g Hz, %d strips, %d buses, tempo %g>" % (
            self.sample_rate, self.strip_count(), self.bus_count(), self.tempo)

    def __eq__(self, other):
        return isinstance(other, Graph) and int(self.this) == int(other.this)

    def __hash__(self):
        return int(self.this)
  %}
}

%extend mixstage_strip {
  void _set_source(float *audio, int frames, int channels) {
    msb_check(mixstage_strip_set_source_buffer($self, audio, channels, frames, 1), msb_ctx);
  }
  /* Plays @arr, a read-only C-contiguous float32 (frames, channels) array
   * the binding made for this strip, without a copy: the registry keeps it
   * alive (as a source callback's context, fn NULL) until the strip's
   * source is replaced or the graph goes, so Strip.source can read it back. */
  void _set_source_kept(PyObject *arr) {
    mixstage_graph *g = mixstage_strip_graph($self);
    PyArrayObject *a = (PyArrayObject *)arr;
    if (!PyArray_Check(arr) || PyArray_TYPE(a) != NPY_FLOAT32 || PyArray_NDIM(a) != 2 ||
        !PyArray_IS_C_CONTIGUOUS(a)) {
      msb_check_msg(MIXSTAGE_EINVAL, "_set_source_kept: a C-contiguous float32 (frames, channels) array");
      return;
    }
    msb_pypull *c = (msb_pypull *)calloc(1, sizeof *c);
    if (!c) { msb_check(MIXSTAGE_ENOMEM, g); return; }
    Py_INCREF(arr);
    c->scratch = arr;
    c->channels = (int)PyArray_DIM(a, 1);
    c->base.graph = g;
    c->base.strip = $self;
    int st = mixstage_strip_set_source_buffer($self, (const float *)PyArray_DATA(a), c->channels,
                                              (int64_t)PyArray_DIM(a, 0), 0);
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
  /* The array given to _set_source_kept if the strip still plays it, else None. */
  PyObject *_source_kept() {
    mixstage_graph *g = mixstage_strip_graph($self);
    PyObject *r = NULL;
    if (!mixstage_strip_source_path($self)) {
      pthread_mutex_lock(&msb_lock);
      for (msb_pull *p = msb_pulls; p; p = p->next) {
        msb_pypull *c = (msb_pypull *)p;
        if (p->graph == g && p->strip == $self && !c->fn && c->scratch) { r = c->scratch; Py_INCREF(r); break; }
      }
      pthread_mutex_unlock(&msb_lock);
    }
    if (!r) { Py_INCREF(Py_None); r = Py_None; }
    return r;
  }
  void _set_source_callback(PyObject *fn, int channels, long long length) {
    mixstage_graph *g = mixstage_strip_graph($self);
    if (!PyCallable_Check(fn)) {
      msb_check_msg(MIXSTAGE_EINVAL, "set_source_callback: fn must be callable: fn(out, position)");
      return;
    }
    if (channels < 1 || channels > mixstage_strip_channels($self)) {
      /* let the library word the channel error, naming the strip */
      msb_check(mixstage_strip_set_source_callback($self, msb_py_pull, NULL, channels, length), g);
      return;
    }
    msb_pypull *c = (msb_pypull *)calloc(1, sizeof *c);
    npy_intp dims[2] = {mixstage_graph_max_block(g), channels};
    if (c) c->scratch = PyArray_ZEROS(2, dims, NPY_FLOAT32, 0);
    if (!c || !c->scratch) {
      free(c);
      PyErr_Clear();
      msb_check(MIXSTAGE_ENOMEM, g);
      return;
    }
    Py_INCREF(fn);
    c->fn = fn;
    c->channels = channels;
    c->max_frames = (int)dims[0];
    c->base.graph = g;
    c->base.strip = $self;
    int st = mixstage_strip_set_source_callback($self, msb_py_pull, c, channels, length);
    if (st < 0) {
      msb_pull_free(&c->base);
      msb_check(st, g);
      return;
    }
    /* the strip no longer calls the old context: drop it, keep the new */
    msb_pull *old = msb_pulls_take(g, $self);
    pthread_mutex_lock(&msb_lock);
    c->base.next = msb_pulls;
    msb_pulls = &c->base;
    pthread_mutex_unlock(&msb_lock);
    msb_pulls_free_list(old);
  }
  %pythoncode %{
    def _source_get(self):
        return self._source_kept()

    def _source_set(self, audio):
        self.set_source(audio)

    source = property(_source_get, _source_set, doc=
        "Audio played by the strip.  Set: a (frames, channels) or 1-D (mono) "
        "array of any type set_source() takes, copied once (later edits of "
        "your array do not reach the strip).  Read: that copy, as the strip "
        "plays it (float32, (frames, channels), scaled), read-only because the "
        "engine reads it while rendering; None for a file source (see "
        "source_path), a callback or no source.")

    def set_source(self, audio, channels_first=False):
        """Plays `audio`, copied once (the strip keeps the copy; Strip.source
        reads it back): a (frames, channels) or 1-D (mono) array; channels_first=True takes (channels, frames) as
        pedalboard and librosa use.  float arrays are converted to float32;
        int8/int16/int32 PCM (and uint8, offset 128) are scaled by their full
        scale (int16 16384 plays at -6 dBFS); other dtypes are refused.  An
        array with more channels than the strip, or more channels than
        frames, raises ChannelsError (resp. ValueError) showing the expected
        shape."""
        import numpy
        raw = numpy.asarray(audio) if not isinstance(audio, numpy.ndarray) else audio
        shape = tuple(raw.T.shape if channels_first and raw.ndim == 2 else raw.shape)
        if len(shape) == 2 and shape[1] > self.channels and shape[1] <= shape[0]:
            raise ChannelsError("strip %r has %d channel%s: expected audio shaped (frames, %d) or (frames,), "
                             "got %r" % (self.name, self.channels, "" if self.channels == 1 else "s",
                                         self.channels, shape))
        import numpy
        kept = _audio2(audio, channels_first)
        if isinstance(audio, numpy.ndarray) and numpy.may_share_memory(kept, audio):
            kept = kept.copy()  # the caller's own memory: the strip keeps a copy
        kept = numpy.ascontiguousarray(kept, dtype=numpy.float32)
        kept.flags.writeable = False
        self._set_source_kept(kept)

    def set_source_file(self, path):
        """Plays an audio file (WAV, AIFF, FLAC...), converted to the
        graph's rate; source_path then reads `path` as given.  Raises
        NotFoundError, FormatError or ChannelsError naming the strip."""
        _mixstage.Strip_set_source_file(self, _os.fspath(path))

    def set_source_callback(self, fn, channels=None, length=-1):
        """Makes the strip pull its audio from a Python callable, called as
        fn(out, position): fill `out`, a zeroed float32 numpy array shaped
        (frames, channels), with the audio that starts at frame `position`
        (frames since the render or the last locate); return None/False, or
        True once the source has ended.  channels: 1 .. the strip's (default
        the strip's; mono feeds every channel); length: the source length in
        frames, -1 if unknown (renders then need frames=).

        The callable runs on the rendering thread, a render's worker threads
        too, holding the GIL: it serialises Python work and is for offline
        renders and tests, not for a hard real-time host.  Keep `out` only for
        the call.  An exception in it silences the source, stops a render at
        its next progress report, and is raised by the call that rendered
        (render, bounce, process...), unchanged."""
        self._set_source_callback(fn, self.channels if channels is None else int(channels),
                                  int(length))

    @property
    def nodes(self):
        """The insert chain, in processing order."""
        return [self.node_at(i) for i in range(self.node_count())]

    @property
    def sends(self):
        return [self.send_at(i) for i in range(self.send_count())]

    def __repr__(self):
        return "<mixstage.Strip %r, %d ch, fader %.1f dB, %d inserts>" % (
            self.name, self.channels, self.fader_db, self.node_count())

    def __eq__(self, other):
        return isinstance(other, Strip) and int(self.this) == int(other.this)

    def __hash__(self):
        return int(self.this)
  %}
}

%extend mixstage_bus {
  %pythoncode %{
    @property
    def nodes(self):
        return [self.node_at(i) for i in range(self.node_count())]

    @property
    def sends(self):
        return [self.send_at(i) for i in range(self.send_count())]

    def __repr__(self):
        return "<mixstage.Bus %r (%s), %d ch, fader %.1f dB, %d inserts>" % (
            self.name, self.kind, self.channels, self.fader_db, self.node_count())

    def __eq__(self, other):
        return isinstance(other, Bus) and int(self.this) == int(other.this)

    def __hash__(self):
        return int(self.this)
  %}
}

%extend mixstage_send {
  %pythoncode %{
    def __repr__(self):
        return "<mixstage.Send to %r, %.1f dB %s-fader, role %s>" % (
            self.target.name, self.level_db, self.tap, self.role)

    def __eq__(self, other):
        return isinstance(other, Send) and int(self.this) == int(other.this)

    def __hash__(self):
        return int(self.this)
  %}
}

%extend mixstage_node {
  %pythoncode %{
    def _param_id(self, key):
        if isinstance(key, int):
            if not 0 <= key < self.param_count:
                raise RangeError("value out of range: %s has no parameter id %d"
                                 % (self.label, key))
            return str(key)
        return key

    def __getitem__(self, key):
        return self.get(self._param_id(key))

    def __setitem__(self, key, value):
        """node["band1_gain"] = 3.0; a choice parameter also takes the
        choice's name: node["band1_type"] = "highpass"."""
        if isinstance(value, str):
            self.set_choice(self.param_info(key)["name"] if isinstance(key, int) else key, value)
        elif isinstance(value, bool) or _is_number(value):
            _mixstage.Node_set(self, self._param_id(key), float(value))
        else:
            raise TypeError("%s: %s takes a number%s, not %s"
                            % (self.label, key, " or a choice name" if self._is_choice(key) else "",
                               type(value).__name__))

    def set(self, key, value):
        """Sets the parameter named `key` (or its id) to a number, or a choice
        parameter to the name of one of its choices; out-of-range values
        raise RangeError, unknown names NotFoundError.  Control-safe."""
        self[key] = value

    def _param_names(self):
        return [self.param_info(i)["name"] for i in range(self.param_count)]

    def _is_choice(self, key):
        for i in range(self.param_count):
            d = self.param_info(i)
            if d["name"] == key or str(d["id"]) == str(key):
                return bool(d["choices"])
        return False

    def __getattr__(self, name):
        # Only called when normal lookup fails: parameters read as attributes.
        if name.startswith("_") or name in ("this", "thisown"):
            raise AttributeError(name)
        names = self._param_names()
        if name in names:
            return self.get(name)
        raise _no_attribute(self, name, names + _attribute_names(type(self)))

    def __setattr__(self, name, value):
        if name in ("this", "thisown"):
            object.__setattr__(self, name, value)
            return
        attr = getattr(type(self), name, None)
        if isinstance(attr, property):
            _strict_setattr(self, name, value)
            return
        names = self._param_names()
        if name in names:
            self[name] = value
            return
        if attr is not None:
            raise AttributeError("Node.%s is a method, not a parameter; parameters: %s"
                                 % (name, ", ".join(names)))
        raise _no_attribute(self, name, names + ["role", "bypass"], "parameter")

    def __dir__(self):
        return sorted(set(object.__dir__(self)) | set(self._param_names()))

    def __contains__(self, key):
        return any(p.name == key for p in self.params())

    def params(self):
        """The parameters: Param(id, name, label, unit, min, max, default,
        automatable, choices) for each, in id order."""
        out = []
        for i in range(self.param_count):
            d = self.param_info(i)
            ch = d["choices"]
            out.append(Param(d["id"], d["name"], d["label"], d["unit"], d["min"], d["max"],
                             d["default"], d["automatable"], ch.split("|") if ch else None))
        return out

    def values(self):
        """{name: current value} for every parameter."""
        return {p.name: self.get(p.name) for p in self.params()}

    def sidechain(self, key=_NO_KEY, tap="pre"):
        """node.sidechain(key, tap="pre") keys the node's detector from a
        Strip's or Bus's audio, tapped "pre" or "post" fader (only dynamics
        nodes accept a key).  node.sidechain() returns the key as
        (strip_or_bus, "pre" | "post"), or None when the node has none."""
        if key is _NO_KEY:
            k = node_sidechain_strip(self) or node_sidechain_bus(self)
            if k is None:
                return None
            return (k, _TAP_NAMES[node_sidechain_tap(self)])
        if isinstance(key, Bus):
            node_set_sidechain_bus(self, key, tap)
        else:
            node_set_sidechain_strip(self, key, tap)

    def gr_history(self):
        """The gain-reduction history (see enable_gr_history()) as
        (reduction_db, first_frame, hop_frames): a float32 array of dB >= 0,
        oldest first, point i covering graph frames first_frame + i*hop ..
        first_frame + (i+1)*hop - 1 (hop is 32)."""
        arr, first, hop = self._gr_history()
        return arr.reshape(-1), first, hop

    def _role_set(self, role):
        if isinstance(role, int):
            role = str(role)
        _mixstage.Node_role_set(self, role)

    role = property(_mixstage.Node_role_get, _role_set,
                    doc="The node's role: a name (\"mix-fx\") or a ROLE_* constant.")

    def __repr__(self):
        return "<mixstage.Node %s, role %s%s>" % (self.label, self.role,
                                                  ", bypassed" if self.bypass else "")

    def __eq__(self, other):
        return isinstance(other, Node) and int(self.this) == int(other.this)

    def __hash__(self):
        return int(self.this)
  %}
}

%extend mixstage_lane {
  %pythoncode %{
    def add_point(self, frame=None, value=None, curve="linear", *, seconds=None):
        """At `frame` (an integer frame of the graph) or at `seconds=` (a
        time in seconds, rounded to the nearest frame) the parameter is
        `value` (in its unit: dB for faders, Hz, ...), reached along `curve`
        from the previous point ("linear", "exponential", "step").  A float
        frame raises TypeError: frames are not guessed from the type, so a
        time needs seconds=.  Clip gain, fader and send-level lanes are
        followed sample by sample; pan, width and node-parameter lanes are
        read at each boundary of the 32-frame control grid (anchored at frame
        0), so a point between two boundaries takes effect at the next one."""
        if value is None:
            raise TypeError("Lane.add_point: value is required (add_point(frame, value) or "
                            "add_point(seconds=s, value=v))")
        frame = _frames_arg(self, "Lane.add_point", "frame", frame, seconds, None)
        if frame is None:
            raise TypeError("Lane.add_point: give frame (frames) or seconds=")
        _mixstage.Lane_add_point(self, frame, float(value), curve)

    def value_at(self, frame=None, *, seconds=None):
        """The lane's value at `frame` (or `seconds=`), as the engine applies it."""
        frame = _frames_arg(self, "Lane.value_at", "frame", frame, seconds, None)
        if frame is None:
            raise TypeError("Lane.value_at: give frame (frames) or seconds=")
        return _mixstage.Lane_value_at(self, frame)

    def __len__(self):
        return self.point_count

    def point(self, index):
        """Breakpoint `index` (0-based, negative from the end) as (frame,
        value, curve), curve "linear", "exponential" or "step", exactly as
        added."""
        index = int(index)
        if index < 0:
            index += self.point_count
        frame, value, curve = lane_point(self, index)
        return (frame, value, _CURVE_NAMES[curve])

    @property
    def points(self):
        """Every breakpoint as (frame, value, curve), in time order."""
        return [self.point(i) for i in range(self.point_count)]

    def __iter__(self):
        return iter(self.points)

    def __getitem__(self, index):
        if not -self.point_count <= int(index) < self.point_count:
            raise IndexError("lane point index out of range")
        return self.point(index)

    def __repr__(self):
        return "<mixstage.Lane %d points>" % self.point_count

    def __eq__(self, other):
        return isinstance(other, Lane) and int(self.this) == int(other.this)

    def __hash__(self):
        return int(self.this)
  %}
}

%extend mixstage_profile {
  %pythoncode %{
    def __getitem__(self, role):
        """The action for a role: "on", "bypass" or "mute"."""
        return self.action(role)

    def __setitem__(self, role, action):
        self.set_action(role, action)

    def actions(self):
        """{role: action} for every role."""
        return {r: self.action(r) for r in ROLES}

    def __repr__(self):
        off = ", ".join("%s %s" % (r, a) for r, a in self.actions().items() if a != "on")
        out = [k for k, on in (("mix", self.mix), ("fx stems", self.fx_stems),
                               ("reference", self.reference)) if on]
        return "<mixstage.Profile %r%s: stems %s%s%s>" % (
            self.name, " (built-in)" if self.builtin else "", self.stems,
            "".join(", " + o for o in out), "; " + off if off else "")

    def __eq__(self, other):
        return isinstance(other, Profile) and int(self.this) == int(other.this)

    def __hash__(self):
        return int(self.this)
  %}
}

%extend mixstage_bounce {
  %pythoncode %{
    def _key(self, key):
        return str(key) if isinstance(key, int) and not isinstance(key, bool) else key

    def __getitem__(self, key):
        """The output named `key` (or its index) as a float32 (frames,
        channels) array: a writable view of the bounce's own memory (no
        copy), which keeps the bounce alive.  Like a dict of arrays, every
        lookup gives the same samples: writing to it (stem *= 0.5) changes
        the Bounce; take .copy() for an independent array.  kind(),
        adds_up() and note() describe the audio as rendered."""
        if isinstance(key, int) and not 0 <= key < self.count:
            raise RangeError("value out of range: the bounce has %d outputs" % self.count)
        return _mixstage._bounce_array(self, self.index(self._key(key)))

    def __len__(self):
        return self.count

    def __iter__(self):
        return iter(self.names)

    def __contains__(self, key):
        return key in self.names

    @property
    def names(self):
        """Output names, in delivery order."""
        return [self.name(i) for i in range(self.count)]

    def keys(self):
        return self.names

    def values(self):
        return [self[n] for n in self.names]

    def items(self):
        return [(n, self[n]) for n in self.names]

    def get(self, key, default=None):
        return self[key] if key in self.names else default

    def kind(self, key):
        """"mix", "stem", "fx-return" or "reference" (as the manifest's "kind")."""
        return _mixstage.Bounce_kind(self, self._key(key))

    def adds_up(self, key):
        """True if this stem adds up exactly with the others (the manifest's
        "adds_up")."""
        return _mixstage.Bounce_adds_up(self, self._key(key))

    def nulls(self, key):
        """Deprecated alias of adds_up() (the manifest's word)."""
        import warnings
        warnings.warn("Bounce.nulls() is deprecated: use Bounce.adds_up()", DeprecationWarning, 2)
        return _mixstage.Bounce_adds_up(self, self._key(key))

    def note(self, key):
        """Why the stem does not add up ("" when it does)."""
        return _mixstage.Bounce_note(self, self._key(key))

    def __repr__(self):
        return "<mixstage.Bounce %r: %d frames x %d ch, %s>" % (
            self.profile, self.frames, self.channels,
            ", ".join("%s (%s)" % (n, self.kind(n)) for n in self.names))
  %}
}

%extend mixstage_manifest {
  PyObject *m_to_string() {
    char *t = mixstage_manifest_to_string($self);
    if (!t) { msb_check(MIXSTAGE_ENOMEM, NULL); return NULL; }
    PyObject *r = PyUnicode_FromString(t);
    mixstage_free(t);
    return r;
  }
  %pythoncode %{
    def __setitem__(self, key, value):
        """Sets a top-level key: str, int, float, or anything JSON can hold."""
        _manifest_set(self, -1, key, value)

    def set_file(self, index, key, value):
        """Sets (or replaces) key of file entry `index`, e.g. a null residual."""
        _manifest_set(self, index, key, value)

    def add_file(self, path, kind, profile, stats, on=(), bypass=(), mute=(),
                 latency_removed_frames=0, *, bypassed=(), muted=()):
        """Adds an entry for a written file: kind "stem", "mix", "reference"
        or "fx-return" ("fx" is accepted); profile a name or Profile; stats
        as write_audio() returns them; the role names whose action was "on",
        "bypass" and "mute" (written to the entry's "roles" as "on",
        "bypassed", "muted"; the keywords bypassed= and muted= are
        deprecated aliases).  Returns the entry's index."""
        if isinstance(profile, Profile):
            profile = profile.name
        if kind == "fx":
            kind = "fx-return"
        return _mixstage.Manifest_add_file_(self, str(path), kind, profile, stats, ",".join(on),
                              ",".join(tuple(bypass) + tuple(bypassed)),
                              ",".join(tuple(mute) + tuple(muted)), int(latency_removed_frames))

    def __len__(self):
        return self.file_count

    def __str__(self):
        return self.to_string()

    def to_dict(self):
        import json
        return json.loads(self.to_string())

    def write(self, path):
        """Writes the manifest atomically; InputOutputError names the file."""
        _mixstage.Manifest_write(self, _os.fspath(path))
  %}
}

%ignore msb_py_audio_array; /* declared in the block below: not an API */
%inline %{
/* An output of a bounce as a writable numpy view whose base is the Bounce
 * proxy: the audio lives as long as any array of it does.  The bounce's
 * buffers are its own heap memory (the C accessor is const only because
 * the library never changes them after the render). */
PyObject *_bounce_array(PyObject *owner, int index) {
  void *vp = 0;
  if (!SWIG_IsOK(SWIG_ConvertPtr(owner, &vp, SWIGTYPE_p_mixstage_bounce, 0)) || !vp) {
    PyErr_SetString(PyExc_TypeError, "expected a Bounce");
    return NULL;
  }
  mixstage_bounce *b = (mixstage_bounce *)vp;
  const float *d = mixstage_bounce_data(b, index);
  if (!d && index >= 0 && index < mixstage_bounce_count(b)) {
    msb_check_msg(MIXSTAGE_ESTATE, "a streamed bounce (Graph.bounce_stream) holds no audio: its "
                                   "blocks went to the callable");
    return NULL;
  }
  if (!d) { msb_check(MIXSTAGE_ERANGE, NULL); return NULL; }
  npy_intp dims[2] = {(npy_intp)mixstage_bounce_frames(b), mixstage_bounce_channels(b)};
  PyObject *arr = PyArray_New(&PyArray_Type, 2, dims, NPY_FLOAT32, NULL, (void *)d, 0,
                              NPY_ARRAY_CARRAY, NULL);
  if (!arr) return NULL;
  Py_INCREF(owner);
  if (PyArray_SetBaseObject((PyArrayObject *)arr, owner) < 0) { Py_DECREF(arr); return NULL; }
  return arr;
}

PyObject *_read_audio(const char *path, double rate) {
  float *data = NULL;
  int64_t frames = 0;
  int ch = 0, st;
  double file_rate = 0;
  char err[512] = "";
  Py_BEGIN_ALLOW_THREADS
  st = mixstage_audio_read(path, rate, &data, &frames, &ch, &file_rate, err, sizeof err);
  Py_END_ALLOW_THREADS
  if (st < 0) { msb_check_msg(st, err); return NULL; }
  PyObject *cap = PyCapsule_New(data, "mixstage.buffer", msb_capsule_free);
  if (!cap) { mixstage_free(data); return NULL; }
  npy_intp dims[2] = {(npy_intp)frames, ch};
  PyObject *arr = PyArray_SimpleNewFromData(2, dims, NPY_FLOAT32, data);
  if (!arr || PyArray_SetBaseObject((PyArrayObject *)arr, cap) < 0) {
    Py_XDECREF(arr);
    if (!arr) Py_DECREF(cap);
    return NULL;
  }
  return Py_BuildValue("(Nd)", arr, rate > 0 ? rate : file_rate);
}

PyObject *_write_audio(const char *path, float *audio, int frames, int channels, double rate,
                       int format, int sample_type, bool dither, long long dither_seed,
                       double output_rate) {
  mixstage_write_config wc;
  mixstage_file_stats st;
  char err[512] = "";
  int rc;
  mixstage_write_config_init(&wc);
  wc.format = format;
  wc.sample_type = sample_type;
  wc.dither = dither ? 1 : 0;
  if (dither_seed >= 0) wc.dither_seed = (uint64_t)dither_seed;
  wc.output_rate = output_rate;
  Py_BEGIN_ALLOW_THREADS
  rc = mixstage_audio_write(path, audio, frames, channels, rate, &wc, &st, err, sizeof err);
  Py_END_ALLOW_THREADS
  if (rc < 0) { msb_check_msg(rc, err); return NULL; }
  return msb_stats_dict(&st);
}

PyObject *_measure(float *audio, int frames, int channels, double rate) {
  mixstage_file_stats st;
  int rc;
  Py_BEGIN_ALLOW_THREADS
  rc = mixstage_measure(audio, frames, channels, rate, &st);
  Py_END_ALLOW_THREADS
  if (rc < 0) {
    char emsg[128];
    snprintf(emsg, sizeof emsg, "measure: %d frames x %d channels at %g Hz", frames, channels, rate);
    msb_check_msg(rc, emsg);
    return NULL;
  }
  return msb_stats_dict(&st);
}

/* The audio-in policy (msb_py_audio_array, with the typemaps below) for
 * the Python-level calls. */
static PyObject *msb_py_audio_array(PyObject *o);
PyObject *_as_audio(PyObject *audio) { return msb_py_audio_array(audio); }

PyObject *_measure_file(const char *path) {
  mixstage_file_stats st;
  char err[512] = "";
  int rc;
  Py_BEGIN_ALLOW_THREADS
  rc = mixstage_measure_file(path, &st, err, sizeof err);
  Py_END_ALLOW_THREADS
  if (rc < 0) { msb_check_msg(rc, err); return NULL; }
  return msb_stats_dict(&st);
}
%}

%pythoncode %{
import collections as _collections
import collections.abc as _abc
import os as _os

# The exception classes are made by the C module (one per status code).
Error = _mixstage.Error
NumericWarning = _mixstage.NumericWarning
for _name in dir(_mixstage):
    _obj = getattr(_mixstage, _name)
    if isinstance(_obj, type) and issubclass(_obj, Error):
        globals()[_name] = _obj
del _name, _obj

def _is_number(x):
    import numbers
    return isinstance(x, numbers.Real)


import operator as _operator


def _round_frames(seconds, rate):
    import math
    s = float(seconds)
    if not math.isfinite(s):
        raise ValueError("seconds must be finite, got %r" % (seconds,))
    return int(math.floor(s * rate + 0.5))


def _frames_arg(obj, call, name, frames, seconds, default):
    """A frame count or position given in frames (an integer) or, through
    the seconds keyword, in seconds; never both, never guessed from type."""
    if seconds is not None:
        if frames not in (None, 0) and frames != default:
            raise TypeError("%s: give %s (frames) or seconds, not both" % (call, name))
        return _round_frames(seconds, obj.sample_rate)
    if frames is None:
        return default
    if isinstance(frames, bool):
        raise TypeError("%s: %s is a frame count, not a bool" % (call, name))
    try:
        return _operator.index(frames)
    except TypeError:
        raise TypeError("%s: %s is an integer number of frames, got %r; for a time in seconds "
                        "use the seconds keyword" % (call, name, frames)) from None


def _attribute_names(cls):
    return sorted(n for n in dir(cls) if not n.startswith("_") and n not in ("this", "thisown"))


def _no_attribute(obj, name, valid, what="attribute"):
    import difflib
    close = difflib.get_close_matches(name, valid, n=1)
    hint = " (did you mean %r?)" % close[0] if close else ""
    return AttributeError("%s has no %s %r%s; valid: %s"
                          % (type(obj).__name__, what, name, hint, ", ".join(valid)))


def _strict_setattr(self, name, value):
    """Sets properties only: an unknown name raises AttributeError naming the
    valid ones, and methods cannot be replaced by accident."""
    if name in ("this", "thisown"):
        object.__setattr__(self, name, value)
        return
    attr = getattr(type(self), name, None)
    if isinstance(attr, property):
        if attr.fset is None:
            raise AttributeError("%s.%s is read-only" % (type(self).__name__, name))
        attr.fset(self, value)
        return
    settable = [n for n in _attribute_names(type(self))
                if isinstance(getattr(type(self), n, None), property)
                and getattr(type(self), n).fset is not None]
    if attr is not None:
        raise AttributeError("%s.%s is a method, not a setting; settable: %s"
                             % (type(self).__name__, name, ", ".join(settable)))
    raise _no_attribute(self, name, settable, "settable attribute")


_NO_KEY = object()
_TAP_NAMES = ("pre", "post")
_CURVE_NAMES = ("linear", "exponential", "step")
_BUS_KIND_NAMES = ("group", "return", "mix")


def _enum_defaults_by_name(namespace):
    """SWIG writes an enum default as its constant (role=ROLE_STRIP), which
    help() and inspect show as the bare integer (role=2).  Every such
    argument also takes the name, so the defaults become the names: help()
    then reads role='strip', tap='post', and a call that omits them passes
    the same value as before."""
    import inspect
    # role and tap mean one thing everywhere; kind and curve only in these calls
    by_param = {"role": lambda v: role_name(v), "tap": lambda v: _TAP_NAMES[v]}
    by_call = {("add_bus", "kind"): lambda v: _BUS_KIND_NAMES[v],
               ("add_point", "curve"): lambda v: _CURVE_NAMES[v]}
    funcs = [f for f in namespace.values() if inspect.isfunction(f)]
    for cls in namespace.values():
        if isinstance(cls, type) and cls.__module__ == __name__:
            funcs += [f for f in vars(cls).values() if inspect.isfunction(f)]
    for f in funcs:
        if not f.__defaults__:
            continue
        code = f.__code__
        names = code.co_varnames[:code.co_argcount][-len(f.__defaults__):]
        new = list(f.__defaults__)
        for i, (param, value) in enumerate(zip(names, new)):
            name_of = by_param.get(param) or by_call.get((f.__name__, param))
            if name_of and type(value) is int:
                new[i] = name_of(value)
        f.__defaults__ = tuple(new)


def demo_song(sample_rate=0):
    """The built-in demo song (8 bars, 16 s, every role) as a new Graph,
    sources synthesised in memory at sample_rate (0: 48000 Hz)."""
    return demo_song_create(float(sample_rate))


def demo_song_write(directory, sample_rate=0):
    """Writes the demo song as DIRECTORY/demo-song.mixstage.json and
    DIRECTORY/sources/<strip>.wav (32-bit float: the file renders bit for
    bit as demo_song() at that rate).  Raises InputOutputError naming the
    file at fault."""
    _mixstage._demo_song_write(_os.fspath(directory), float(sample_rate))


_MANIFEST_V1_WORDS = {"bypassed": "bypass", "muted": "mute"}


def read_manifest(path):
    """Reads a delivery's manifest.json (`path`: the file, or the folder
    holding it) as a dict, in the current form (manifest_version 2): each
    file's "roles" lists under "on", "bypass" and "mute", and the
    "profile_actions" values "on", "bypass", "mute", as profiles spell them.
    A version 1 manifest (which wrote "bypassed" and "muted") is returned
    converted.  Raises InputOutputError if the file cannot be read,
    FormatError if it is not a manifest."""
    import json
    path = _os.fspath(path)
    if _os.path.isdir(path):
        path = _os.path.join(path, "manifest.json")
    try:
        with open(path, "rb") as f:
            doc = json.loads(f.read().decode("utf-8"))
    except OSError as e:
        raise InputOutputError("cannot read the manifest %s: %s" % (path, e.strerror or e)) from None
    except ValueError as e:
        raise FormatError("%s is not a manifest: %s" % (path, e)) from None
    version = doc.get("manifest_version") if isinstance(doc, dict) else None
    if version not in (1, 2) or not isinstance(doc.get("files"), list):
        raise FormatError("%s is not a manifest (manifest_version %r; this library reads 1 and 2)"
                          % (path, version))
    if version == 1:
        doc["manifest_version"] = 2
        actions = doc.get("profile_actions")
        if isinstance(actions, dict):
            for role, word in actions.items():
                actions[role] = _MANIFEST_V1_WORDS.get(word, word)
        for entry in doc["files"]:
            roles = entry.get("roles") if isinstance(entry, dict) else None
            if isinstance(roles, dict):
                entry["roles"] = {_MANIFEST_V1_WORDS.get(k, k): v for k, v in roles.items()}
    return doc


Param = _collections.namedtuple(
    "Param", "id name label unit min max default automatable choices")
Param.__doc__ = "A node parameter's introspection (unit is a display name such as 'dB')."

ROLES = tuple(role_name(i) for i in range(ROLE_COUNT))

def node_types():
    """[(name, description)] of every node type, in registry order."""
    out, i = [], 0
    while True:
        n = node_type_name(i)
        if n is None:
            return out
        out.append((n, node_type_description(i)))
        i += 1

__version__ = version_string()


def profiles():
    """The built-in profiles: production, mix-stems, final."""
    out, i = [], 0
    while profile_builtin(i) is not None:
        out.append(profile_builtin(i))
        i += 1
    return out


def _audio2(array, channels_first=False):
    """Audio in as a (frames, channels) float32 array, by the policy of the
    module docstring: float converted, int8/int16/int32/uint8 PCM scaled by
    full scale, anything else refused, transposed-looking shapes refused."""
    import numpy
    if channels_first:
        array = numpy.asarray(array)
        if array.ndim == 2:
            array = array.T
    a = _as_audio(array)
    if a.ndim == 1:
        a = a.reshape(-1, 1)
    return a


def read_audio(path, rate=None):
    """Reads a whole audio file (WAV, RF64, AIFF, FLAC, Ogg, CAF...), converted
    to `rate` Hz if given (libsamplerate, best quality, delay compensated).
    Returns (float32 array (frames, channels), rate).  Raises NotFoundError,
    FormatError or InputOutputError naming the file."""
    return _read_audio(_os.fspath(path), 0.0 if rate is None else float(rate))


def write_audio(path, array, rate, format="wav", sample_type="pcm24", dither=True,
                dither_seed=None, output_rate=0.0, channels_first=False):
    """Writes audio (frames,) or (frames, channels) to `path` atomically
    (temporary file, fsync, rename).  format "wav", "aiff" or "flac";
    sample_type "pcm16", "pcm24" or "float32"; TPDF dither before integer
    rounding.  Returns the stats of the data as written (dict: frames,
    seconds, sample_rate, channels, format, sample_type, peak_dbfs,
    true_peak_dbtp, integrated_lufs, loudness_range_lu, momentary_max_lufs,
    short_term_max_lufs, rms_dbfs, clipped_samples, checksum).  Raises
    InputOutputError naming the file."""
    return _write_audio(_os.fspath(path), _audio2(array, channels_first), float(rate), format, sample_type,
                        bool(dither), -1 if dither_seed is None else int(dither_seed),
                        float(output_rate))


def measure(array, rate, channels_first=False):
    """Peak, true peak, loudness (ITU-R BS.1770-4 / EBU R128) and RMS of a
    (frames,) or (frames, channels) array ((channels, frames) with
    channels_first=True), as a dict (see write_audio)."""
    return _measure(_audio2(array, channels_first), float(rate))


def measure_file(path):
    """The measurements of a file as stored (integers read as integers, so the
    checksum matches the one write_audio reported)."""
    return _measure_file(_os.fspath(path))


def _manifest_set(m, index, key, value):
    import json
    if index < 0:
        fns = (manifest_set_string, manifest_set_integer, manifest_set_number, manifest_set_json)
        args = (m, key)
    else:
        fns = (manifest_file_set_string, manifest_file_set_integer, manifest_file_set_number,
               manifest_file_set_json)
        args = (m, int(index), key)
    if isinstance(value, str):
        fns[0](*args, value)
    elif isinstance(value, bool) or value is None:
        fns[3](*args, json.dumps(value))
    elif isinstance(value, int):
        fns[1](*args, value)
    elif isinstance(value, float):
        fns[2](*args, value)
    else:
        fns[3](*args, json.dumps(value))
%}

/* ---- Shared-sugar support (section 7 of mixstage.i) ---------------------
 * The analysis, assessment, mastering, translation and graph-file wrappers
 * are written once for both languages against a tiny result builder: nested
 * containers filled by key (a dict) or appended (key NULL: a list), double
 * arrays as float64 numpy arrays, audio as float32 (frames, channels). */
%{
typedef struct lua_State lua_State; /* the shared sugar's Lua state: unused here */
typedef PyObject *msb_ret;
#define MSB_RET_FAIL NULL
typedef struct msb_b {
  PyObject *st[8];
  int top, fail;
} msb_b;
static void msb_b_init(msb_b *b, lua_State *L) { (void)L; b->top = 0; b->fail = 0; }
/* Stores the new reference @v in the innermost container (dict by @key,
 * list when key is NULL); with no container it becomes the result. */
static void msb_b_put(msb_b *b, const char *key, PyObject *v) {
  if (!v) { b->fail = 1; return; }
  if (b->top == 0) { b->st[b->top++] = v; return; }
  PyObject *c = b->st[b->top - 1];
  int rc = key ? PyDict_SetItemString(c, key, v) : PyList_Append(c, v);
  if (rc < 0) b->fail = 1;
  Py_DECREF(v);
}
static void msb_b_open(msb_b *b, PyObject *c) {
  if (!c || b->top >= 8) { Py_XDECREF(c); b->fail = 1; return; } /* result discarded by done() */
  b->st[b->top++] = c;
}
static void msb_b_dict(msb_b *b) { msb_b_open(b, PyDict_New()); }
static void msb_b_list(msb_b *b) { msb_b_open(b, PyList_New(0)); }
/* Closes the innermost container into its parent under @key. */
static void msb_b_close(msb_b *b, const char *key) {
  if (b->top <= 1) return; /* the result stays */
  PyObject *c = b->st[--b->top];
  msb_b_put(b, key, c);
}
static void msb_b_num(msb_b *b, const char *k, double v) { msb_b_put(b, k, PyFloat_FromDouble(v)); }
static void msb_b_int(msb_b *b, const char *k, long long v) { msb_b_put(b, k, PyLong_FromLongLong(v)); }
static void msb_b_bool(msb_b *b, const char *k, int v) { msb_b_put(b, k, PyBool_FromLong(v != 0)); }
static void msb_b_str(msb_b *b, const char *k, const char *v) {
  if (v) { msb_b_put(b, k, PyUnicode_FromString(v)); } else { Py_INCREF(Py_None); msb_b_put(b, k, Py_None); }
}
static void msb_b_nums(msb_b *b, const char *k, const double *v, int64_t n) {
  npy_intp d = (npy_intp)n;
  PyObject *a = PyArray_SimpleNew(1, &d, NPY_FLOAT64);
  if (a && n > 0) memcpy(PyArray_DATA((PyArrayObject *)a), v, (size_t)n * sizeof(double));
  msb_b_put(b, k, a);
}
static void msb_b_ints(msb_b *b, const char *k, const int64_t *v, int64_t n) {
  npy_intp d = (npy_intp)n;
  PyObject *a = PyArray_SimpleNew(1, &d, NPY_INT64);
  if (a && n > 0) memcpy(PyArray_DATA((PyArrayObject *)a), v, (size_t)n * sizeof(int64_t));
  msb_b_put(b, k, a);
}
/* A new float32 (frames, channels) array; NULL data if it could not be made. */
static float *msb_b_audio(msb_b *b, const char *k, int64_t frames, int channels) {
  npy_intp d[2] = {(npy_intp)frames, channels};
  PyObject *a = PyArray_ZEROS(2, d, NPY_FLOAT32, 0);
  float *p = a ? (float *)PyArray_DATA((PyArrayObject *)a) : NULL;
  msb_b_put(b, k, a);
  return b->fail ? NULL : p;
}
/* The result, or NULL with an exception set. */
static msb_ret msb_b_done(msb_b *b) {
  if (b->fail || b->top == 0) {
    while (b->top) Py_DECREF(b->st[--b->top]);
    if (!PyErr_Occurred()) PyErr_NoMemory();
    return NULL;
  }
  while (b->top > 1) Py_DECREF(b->st[--b->top]);
  return b->st[0];
}
/* The result becomes the `report` attribute of the exception raised next
 * (section 2); a result that could not be built is dropped. */
static void msb_b_stash(msb_b *b) {
  PyObject *r = msb_b_done(b);
  if (!r) { PyErr_Clear(); return; }
  Py_XDECREF(msb_err_report);
  msb_err_report = r;
}
/* Drops a half-built result after a library error (raised by msb_check). */
static msb_ret msb_b_abort(msb_b *b) {
  while (b->top) Py_DECREF(b->st[--b->top]);
  return NULL;
}
/* Long library calls run without the GIL. */
#define MSB_UNLOCK PyThreadState *msb_ts_ = PyEval_SaveThread()
#define MSB_LOCK PyEval_RestoreThread(msb_ts_)

/* Audio in: a (frames,) or (frames, channels) array-like as C-contiguous
 * float32 (no copy when it already is one).  The policy, the same for every
 * call that takes audio:
 *  - float arrays of any width are converted to float32;
 *  - integer PCM arrays (int8, int16, int32, and uint8 with its 128 offset)
 *    are scaled by the type's full scale, so int16 16384 is 0.5 (-6 dBFS),
 *    as libsndfile and soundfile read them;
 *  - other integer widths (int64: what numpy makes of a list of Python ints),
 *    booleans, complex numbers, strings and objects are refused: there is no
 *    full scale to read them by;
 *  - Python sequences of numbers are values, taken as they are;
 *  - an array with more channels than frames, or more than the library's
 *    channel limit, is refused as transposed, showing the expected shape. */
typedef struct msb_audio {
  const float *data;
  int64_t frames;
  int channels;
} msb_audio;
typedef struct msb_audio_list {
  msb_audio *items;
  int count;
} msb_audio_list;
static PyObject *msb_py_audio_array(PyObject *o) {
  double scale = 1.0, offset = 0.0;
  if (PyArray_Check(o)) {
    PyArray_Descr *d = PyArray_DESCR((PyArrayObject *)o);
    int t = d->type_num;
    if (PyTypeNum_ISFLOAT(t)) {
      /* converted below */
    } else if (t == NPY_INT8 || t == NPY_INT16 || t == NPY_INT32 || t == NPY_UINT8) {
      scale = t == NPY_INT8 ? 1.0 / 128.0 : t == NPY_INT16 ? 1.0 / 32768.0
            : t == NPY_INT32 ? 1.0 / 2147483648.0 : 1.0 / 128.0;
      offset = t == NPY_UINT8 ? -128.0 : 0.0;
    } else if (PyTypeNum_ISINTEGER(t)) {
      PyErr_Format(PyExc_TypeError,
                   "audio of dtype %s has no PCM full scale: pass float32 (or int8/int16/int32 PCM, "
                   "uint8 with offset 128), e.g. array.astype(numpy.float32) / full_scale",
                   d->typeobj->tp_name);
      return NULL;
    } else {
      PyErr_Format(PyExc_TypeError, "audio must be a float or PCM integer array, not dtype %s",
                   d->typeobj->tp_name);
      return NULL;
    }
  }
  PyObject *arr = PyArray_FROMANY(o, NPY_FLOAT32, 1, 2, NPY_ARRAY_IN_ARRAY | NPY_ARRAY_FORCECAST);
  if (!arr) {
    if (PyErr_ExceptionMatches(PyExc_ValueError) || PyErr_ExceptionMatches(PyExc_TypeError)) {
      /* a wrong shape stays a ValueError, a wrong kind of data a TypeError */
      PyObject *t, *v, *tb;
      PyErr_Fetch(&t, &v, &tb);
      PyErr_Format(t, "audio must be a (frames,) or (frames, channels) array of numbers (%S)",
                   v ? v : Py_None);
      Py_XDECREF(t);
      Py_XDECREF(v);
      Py_XDECREF(tb);
    }
    return NULL;
  }
  PyArrayObject *x = (PyArrayObject *)arr;
  if (PyArray_NDIM(x) == 2) {
    npy_intp fr = PyArray_DIM(x, 0), ch = PyArray_DIM(x, 1);
    if (ch > MIXSTAGE_MAX_CHANNELS || (ch > fr && fr > 0)) {
      PyErr_Format(PyExc_ValueError,
                   "audio shaped (%ld, %ld) looks transposed: the layout is (frames, channels), here "
                   "(%ld, %ld); pass array.T, or channels_first=True where the call offers it",
                   (long)fr, (long)ch, (long)ch, (long)fr);
      Py_DECREF(arr);
      return NULL;
    }
  }
  if (scale != 1.0) {
    /* FORCECAST made a new array: scale it in place */
    float *p = (float *)PyArray_DATA(x);
    npy_intp n = PyArray_SIZE(x);
    for (npy_intp i = 0; i < n; i++) p[i] = (float)(((double)p[i] + offset) * scale);
  }
  return arr;
}
static int msb_py_audio(PyObject *o, msb_audio *a, PyObject **keep) {
  PyObject *arr = msb_py_audio_array(o);
  if (!arr) return -1;
  *keep = arr;
  PyArrayObject *x = (PyArrayObject *)arr;
  a->data = (const float *)PyArray_DATA(x);
  a->frames = (int64_t)PyArray_DIM(x, 0);
  a->channels = PyArray_NDIM(x) == 2 ? (int)PyArray_DIM(x, 1) : 1;
  return 0;
}
/* A sequence of arrays; @keep (a list) holds the converted arrays. */
static int msb_py_audio_list(PyObject *o, msb_audio_list *l, PyObject **keep) {
  l->items = NULL;
  l->count = 0;
  PyObject *seq = PySequence_Fast(o, "expected a sequence of audio arrays");
  if (!seq) return -1;
  Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
  *keep = PyList_New(0);
  l->items = (msb_audio *)calloc(n > 0 ? (size_t)n : 1, sizeof *l->items);
  if (!*keep || !l->items) { Py_DECREF(seq); PyErr_NoMemory(); return -1; }
  for (Py_ssize_t i = 0; i < n; i++) {
    PyObject *arr = NULL;
    if (msb_py_audio(PySequence_Fast_GET_ITEM(seq, i), &l->items[i], &arr) < 0) { Py_DECREF(seq); return -1; }
    PyList_Append(*keep, arr);
    Py_DECREF(arr);
  }
  l->count = (int)n;
  Py_DECREF(seq);
  return 0;
}
/* A sequence of Graphs. */
typedef struct msb_graph_list {
  mixstage_graph **items;
  int count;
} msb_graph_list;
static int msb_py_graph_list(PyObject *o, msb_graph_list *l) {
  l->items = NULL;
  l->count = 0;
  PyObject *seq = PySequence_Fast(o, "expected a sequence of Graphs");
  if (!seq) return -1;
  Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
  l->items = (mixstage_graph **)calloc(n > 0 ? (size_t)n : 1, sizeof *l->items);
  if (!l->items) { Py_DECREF(seq); PyErr_NoMemory(); return -1; }
  for (Py_ssize_t i = 0; i < n; i++) {
    void *vp = NULL;
    if (!SWIG_IsOK(SWIG_ConvertPtr(PySequence_Fast_GET_ITEM(seq, i), &vp, SWIGTYPE_p_mixstage_graph, 0)) || !vp) {
      Py_DECREF(seq);
      PyErr_SetString(PyExc_TypeError, "expected a sequence of Graphs");
      return -1;
    }
    l->items[i] = (mixstage_graph *)vp;
  }
  l->count = (int)n;
  Py_DECREF(seq);
  return 0;
}
%}
%typemap(in, numinputs=0) lua_State *L { $1 = NULL; }
%typemap(out) msb_ret { $result = $1; }
%typemap(in) const msb_audio * (msb_audio tmp, PyObject *keep = NULL) {
  if (msb_py_audio($input, &tmp, &keep) < 0) SWIG_fail;
  $1 = &tmp;
}
%typemap(freearg) const msb_audio * { Py_XDECREF(keep$argnum); }
%typemap(in) const msb_audio_list * (msb_audio_list tmp, PyObject *keep = NULL, void *owned = NULL) {
  int rc_ = msb_py_audio_list($input, &tmp, &keep);
  owned = tmp.items;
  if (rc_ < 0) SWIG_fail;
  $1 = &tmp;
}
%typemap(freearg) const msb_audio_list * { Py_XDECREF(keep$argnum); free(owned$argnum); }
%typemap(in) const msb_graph_list * (msb_graph_list tmp, void *owned = NULL) {
  int rc_ = msb_py_graph_list($input, &tmp);
  owned = tmp.items;
  if (rc_ < 0) SWIG_fail;
  $1 = &tmp;
}
%typemap(freearg) const msb_graph_list * { free(owned$argnum); }


/* ---- s5-stream: a bounce written as a delivery, without rendering again ---- */
%extend mixstage_graph {
  PyObject *_deliver_bounce(const mixstage_bounce *bounce, const mixstage_profile *profile, const char *dir,
                            long long frames, long long tail, int threads, int format, int sample_type,
                            bool dither, long long dither_seed, double output_rate, double tail_threshold_db,
                            bool manifest, PyObject *progress) {
    mixstage_deliver_config dc;
    msb_pyprog pp;
    msb_deliver_config(&dc, frames, tail, threads, format, sample_type, dither, dither_seed,
                       output_rate, tail_threshold_db, manifest);
    if (msb_py_progress_init(&pp, &dc.render, progress, $self) < 0) return NULL;
    int st;
    Py_BEGIN_ALLOW_THREADS
    st = mixstage_bounce_deliver($self, bounce, profile, dir, &dc);
    Py_END_ALLOW_THREADS
    if (msb_py_status(st, $self, &pp) < 0) return NULL;
    return SWIG_Py_Void();
  }
  %pythoncode %{
    def deliver_bounce(self, bounce, profile, directory, format="wav", sample_type="pcm24", dither=True,
                       dither_seed=None, output_rate=0.0, tail_threshold_db=-90.0, manifest=True,
                       frames=0, tail=None, threads=1, progress=None):
        """Writes `bounce` (Graph.bounce(profile, frames=, tail=) of this
        graph) as deliver() would write the profile, without rendering
        again: the same files, names, tail, manifest and atomic commit.  A
        delivery from a bounce has no null check ("null_check_residual_dbfs":
        null).  frames and tail must be the bounce's (ValueError-like
        InvalidArgumentError otherwise).  Returns the manifest as a dict
        (None without)."""
        directory = _os.fspath(directory)
        self._deliver_bounce(bounce, profile, directory, int(frames), -1 if tail is None else int(tail),
                             int(threads), format, sample_type, bool(dither),
                             -1 if dither_seed is None else int(dither_seed), float(output_rate),
                             float(tail_threshold_db), bool(manifest), progress)
        if not manifest:
            return None
        return read_manifest(directory)
  %}
}
/* ---- end s5-stream ---- */

/* ---- s6-stream: several profiles delivered in one pass ---- */
%extend mixstage_graph {
  PyObject *_deliver_profiles(PyObject *profiles, PyObject *dirs, long long frames, long long tail, int threads,
                              int format, int sample_type, bool dither, long long dither_seed, double output_rate,
                              double tail_threshold_db, bool manifest, PyObject *progress) {
    PyObject *ps = PySequence_Fast(profiles, "deliver_profiles: the profiles must be a sequence");
    PyObject *ds = ps ? PySequence_Fast(dirs, "deliver_profiles: the folders must be a sequence") : NULL;
    if (!ds) {
      Py_XDECREF(ps);
      return NULL;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(ps);
    const mixstage_profile **pv = calloc((size_t)n + 1, sizeof *pv);
    const char **dv = calloc((size_t)n + 1, sizeof *dv);
    PyObject *ret = NULL;
    if (!pv || !dv) {
      PyErr_NoMemory();
      goto done;
    }
    if (PySequence_Fast_GET_SIZE(ds) != n) {
      PyErr_SetString(PyExc_ValueError, "deliver_profiles: as many folders as profiles");
      goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
      PyObject *o = PySequence_Fast_GET_ITEM(ps, i), *d = PySequence_Fast_GET_ITEM(ds, i);
      if (PyUnicode_Check(o)) {
        char emsg[512];
        pv[i] = msb_profile_named(PyUnicode_AsUTF8(o), emsg, sizeof emsg);
        if (!pv[i]) {
          msb_raise_msg(MIXSTAGE_ENOTFOUND, emsg);
          goto done;
        }
      } else {
        void *vp = 0;
        if (!SWIG_IsOK(SWIG_ConvertPtr(o, &vp, SWIGTYPE_p_mixstage_profile, 0))) {
          PyErr_Format(PyExc_TypeError, "deliver_profiles: item %zd: expected a Profile or a profile name", i);
          goto done;
        }
        pv[i] = (const mixstage_profile *)vp;
      }
      if (!PyUnicode_Check(d) || !(dv[i] = PyUnicode_AsUTF8(d))) {
        if (!PyErr_Occurred()) PyErr_Format(PyExc_TypeError, "deliver_profiles: folder %zd is not a string", i);
        goto done;
      }
    }
    {
      mixstage_deliver_config dc;
      msb_pyprog pp;
      msb_deliver_config(&dc, frames, tail, threads, format, sample_type, dither, dither_seed, output_rate,
                         tail_threshold_db, manifest);
      if (msb_py_progress_init(&pp, &dc.render, progress, $self) < 0) goto done;
      int st;
      Py_BEGIN_ALLOW_THREADS
      st = mixstage_graph_deliver_profiles($self, pv, dv, (int)n, &dc);
      Py_END_ALLOW_THREADS
      if (msb_py_status(st, $self, &pp) < 0) goto done;
    }
    ret = SWIG_Py_Void();
  done:
    free(pv);
    free(dv);
    Py_DECREF(ps);
    Py_DECREF(ds);
    return ret;
  }
  %pythoncode %{
    def deliver_profiles(self, deliveries, format="wav", sample_type="pcm24", dither=True,
                         dither_seed=None, output_rate=0.0, tail_threshold_db=-90.0, manifest=True,
                         frames=0, tail=None, threads=1, progress=None, *, seconds=None, tail_seconds=None):
        """Delivers several profiles in one pass over the graph:
        `deliveries` maps each profile (a name or a Profile) to its folder
        ({"production": "out/production", "mix-stems": "out/stems"}) or is a
        list of (profile, folder) pairs.  Each folder receives exactly the
        files and manifest deliver() would write for its profile alone, and
        commits as a delivery of its own; the profiles share one render (a
        second profile with stems gets a pass of its own: one pass measures
        one null check).  Options as deliver().  Returns the manifests as a
        list of dicts in the order given (None without manifest)."""
        pairs = list(deliveries.items()) if hasattr(deliveries, "items") else [tuple(x) for x in deliveries]
        profiles = [p for p, _ in pairs]
        dirs = [_os.fspath(d) for _, d in pairs]
        frames = _frames_arg(self, "deliver_profiles", "frames", frames, seconds, 0)
        tail = _frames_arg(self, "deliver_profiles", "tail", tail, tail_seconds, None)
        self._deliver_profiles(profiles, dirs, frames, -1 if tail is None else tail, int(threads), format,
                               sample_type, bool(dither), -1 if dither_seed is None else int(dither_seed),
                               float(output_rate), float(tail_threshold_db), bool(manifest), progress)
        if not manifest:
            return [None for _ in dirs]
        import json
        out = []
        for d in dirs:
            with open(_os.path.join(d, "manifest.json")) as f:
                out.append(json.load(f))
        return out
  %}
}
/* ---- end s6-stream ---- */

/* ---- s5b-bstream: a bounce handed over block by block ---- */
%{
/* Graph.bounce_stream: mixstage_graph_bounce_stream calls msb_py_block on
 * the calling thread (GIL released around the render) for every block.
 * Each output's block is copied into a float32 scratch array of the call
 * (made at the first block, remade larger if a block outgrows it) and the
 * callable gets read-only views of it: a view kept past the call stays
 * valid memory but holds the next block's samples.  An exception stops the
 * render (MIXSTAGE_ECANCELLED) and is kept on the progress context, which
 * msb_py_status re-raises unchanged in place of the CancelledError. */
typedef struct msb_pyblocks {
  msb_pyprog *prog;
  PyObject *fn;
  PyObject *names;   /* tuple of output names */
  PyObject **scratch; /* per output: float32 (cap, channels) */
  int count, channels, cap;
} msb_pyblocks;

static int msb_py_blocks_grow(msb_pyblocks *s, const mixstage_bounce *b, int frames) {
  if (!s->names) {
    s->count = mixstage_bounce_count(b);
    s->channels = mixstage_bounce_channels(b);
    s->names = PyTuple_New(s->count);
    s->scratch = (PyObject **)calloc(s->count > 0 ? (size_t)s->count : 1, sizeof *s->scratch);
    if (!s->names || !s->scratch) {
      if (!PyErr_Occurred()) PyErr_NoMemory();
      return -1;
    }
    for (int k = 0; k < s->count; k++) {
      PyObject *n = PyUnicode_FromString(mixstage_bounce_name(b, k));
      if (!n) return -1;
      PyTuple_SET_ITEM(s->names, k, n);
    }
  }
  if (frames <= s->cap) return 0;
  npy_intp dims[2] = {frames, s->channels};
  for (int k = 0; k < s->count; k++) {
    /* views the callable kept hold the old array */
    Py_XDECREF(s->scratch[k]);
    if (!(s->scratch[k] = PyArray_SimpleNew(2, dims, NPY_FLOAT32))) return -1;
  }
  s->cap = frames;
  return 0;
}

static int msb_py_block(void *user, const mixstage_bounce *b, int64_t frame, int frames,
                        const float *const *outputs) {
  msb_pyblocks *s = (msb_pyblocks *)user;
  int rc = MIXSTAGE_ECANCELLED;
  PyGILState_STATE gs = PyGILState_Ensure();
  PyObject *d = NULL, *r = NULL;
  if (s->prog->et) goto out; /* already stopping */
  if (msb_py_blocks_grow(s, b, frames) < 0 || !(d = PyDict_New())) goto fail;
  for (int k = 0; k < s->count; k++) {
    float *dst = (float *)PyArray_DATA((PyArrayObject *)s->scratch[k]);
    memcpy(dst, outputs[k], sizeof(float) * (size_t)frames * (size_t)s->channels);
    npy_intp dims[2] = {frames, s->channels};
    PyObject *v = PyArray_New(&PyArray_Type, 2, dims, NPY_FLOAT32, NULL, dst, 0,
                              NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_ALIGNED, NULL);
    if (!v) goto fail;
    Py_INCREF(s->scratch[k]);
    if (PyArray_SetBaseObject((PyArrayObject *)v, s->scratch[k]) < 0) {
      Py_DECREF(v);
      goto fail;
    }
    int st = PyDict_SetItem(d, PyTuple_GET_ITEM(s->names, k), v);
    Py_DECREF(v);
    if (st < 0) goto fail;
  }
  r = PyObject_CallFunction(s->fn, "LO", (long long)frame, d);
  if (!r) goto fail;
  rc = 0;
  goto out;
fail:
  PyErr_Fetch(&s->prog->et, &s->prog->ev, &s->prog->tb);
out:
  Py_XDECREF(r);
  Py_XDECREF(d);
  PyGILState_Release(gs);
  return rc;
}

static void msb_py_blocks_free(msb_pyblocks *s) {
  for (int k = 0; s->scratch && k < s->count; k++) Py_XDECREF(s->scratch[k]);
  free(s->scratch);
  Py_XDECREF(s->names);
}
%}

%extend mixstage_graph {
  PyObject *_bounce_stream(const mixstage_profile *profile, PyObject *fn, long long frames, long long tail,
                           int threads, bool null_check, PyObject *progress) {
    if (!PyCallable_Check(fn)) {
      PyErr_SetString(PyExc_TypeError, "bounce_stream: fn must be callable: fn(frame, blocks)");
      return NULL;
    }
    mixstage_render_config rc;
    msb_pyprog pp;
    msb_pyblocks blocks;
    msb_render_config2(&rc, frames, tail, threads);
    if (msb_py_progress_init(&pp, &rc, progress, $self) < 0) return NULL;
    memset(&blocks, 0, sizeof blocks);
    blocks.prog = &pp;
    blocks.fn = fn;
    int st = 0;
    mixstage_bounce *b;
    Py_BEGIN_ALLOW_THREADS
    b = mixstage_graph_bounce_stream($self, profile, &rc, null_check ? MIXSTAGE_BOUNCE_NULL_CHECK : 0,
                                     msb_py_block, &blocks, &st);
    Py_END_ALLOW_THREADS
    msb_py_blocks_free(&blocks);
    if (msb_py_status(b ? st : (st ? st : MIXSTAGE_ENOMEM), $self, &pp) < 0) {
      mixstage_bounce_destroy(b);
      return NULL;
    }
    return SWIG_NewPointerObj(SWIG_as_voidptr(b), SWIGTYPE_p_mixstage_bounce, SWIG_POINTER_OWN);
  }
  %pythoncode %{
    def bounce_stream(self, profile, fn, frames=0, tail=None, threads=1, progress=None, *,
                      null_check=False, seconds=None, tail_seconds=None):
        """Renders `profile` as bounce() does, in one pass, but hands every
        block to `fn` instead of keeping it: the memory needed does not grow
        with the length (write each block to a file, meter it, keep what
        you need).

        fn(frame, blocks) is called on the calling thread, in order, for
        consecutive blocks of the delivered timeline: `frame` is the first
        frame of the block (0 = the first delivered frame, latency removed),
        `blocks` a dict output name -> read-only float32 (n, channels)
        array, in the order of bounce()'s outputs.  The arrays are reused:
        they hold this block only until fn returns (take .copy() to keep
        one).  Concatenated, the blocks equal bounce() of the same profile,
        frames and tail, sample for sample.  fn's return value is ignored;
        an exception raised in fn stops the render and propagates
        unchanged.  The graph is busy (edits raise StateError) while fn
        runs, as in a progress callback.

        null_check=True also measures the null check (null_check()) in the
        same pass: the returned Bounce's null_residual.  Returns a Bounce
        that describes the outputs (names, kind(), adds_up(), note(),
        frames) and holds no audio.  frames, tail, threads, progress: as
        for render()."""
        frames = _frames_arg(self, "bounce_stream", "frames", frames, seconds, 0)
        tail = _frames_arg(self, "bounce_stream", "tail", tail, tail_seconds, None)
        return self._bounce_stream(profile, fn, frames, -1 if tail is None else tail,
                                   int(threads), bool(null_check), progress)

    def bounce_blocks(self, profile, frames=0, tail=None, threads=1, progress=None, *,
                      seconds=None, tail_seconds=None):
        """bounce_stream() as an iterator: yields (frame, {name: block})
        for every block, in order, each block a float32 (n, channels) array
        of its own (a copy: keep it if you like).  The render runs on a
        Python thread started by the first next() and stays at most two
        blocks ahead, so memory stays bounded; the graph is busy (edits
        raise StateError) until the iterator is exhausted or closed.
        Closing the iterator early (close(), or its collection after a
        break: use contextlib.closing when an exception may leave the loop,
        whose traceback keeps the iterator alive) stops the render; an error
        of the render is raised by the iterator."""
        import queue
        import threading
        frames = _frames_arg(self, "bounce_blocks", "frames", frames, seconds, 0)
        tail = _frames_arg(self, "bounce_blocks", "tail", tail, tail_seconds, None)
        q = queue.Queue(maxsize=2)
        stop = threading.Event()
        done = object()

        def put(item):
            while not stop.is_set():
                try:
                    q.put(item, timeout=0.05)
                    return True
                except queue.Full:
                    pass
            return False

        def fn(frame, blocks):
            if not put((frame, {n: a.copy() for n, a in blocks.items()})):
                raise _BlocksClosed()

        def run():
            try:
                self.bounce_stream(profile, fn, frames, tail, threads, progress)
                put(done)
            except _BlocksClosed:
                pass
            except BaseException as e:
                put((done, e))

        worker = threading.Thread(target=run, name="mixstage-bounce-blocks", daemon=True)
        worker.start()
        try:
            while True:
                item = q.get()
                if item is done:
                    return
                if item[0] is done:
                    raise item[1]
                yield item
        finally:
            stop.set()
            worker.join()
  %}
}

%pythoncode %{
class _BlocksClosed(Exception):
    """Graph.bounce_blocks: the iterator was closed, the render stops."""
%}
%extend mixstage_bounce {
  %pythoncode %{
    @property
    def null_residual(self):
        """The null-check residual in dBFS of a bounce_stream(...,
        null_check=True) (-inf for an exactly silent residual), else None."""
        db = _mixstage._bounce_null_residual(self)
        if db != db:
            return None
        return float("-inf") if db <= -400.0 else db
  %}
}
%inline %{
double _bounce_null_residual(const mixstage_bounce *b) { return mixstage_bounce_null_residual(b); }
%}
/* ---- end s5b-bstream ---- */
