/* Python extras: numpy audio, iteration, repr, Pythonic properties.
 * Audio is float32 shaped (frames, channels), C-contiguous. */
%include "numpy.i"
%init %{
  import_array();
%}

%apply (float *IN_ARRAY2, int DIM1, int DIM2) { (float *audio, int frames, int channels) };
%apply (float *INPLACE_ARRAY2, int DIM1, int DIM2) { (float *out, int frames, int channels) };

%{
/* A render or process call returned MIXSTAGE_ENUMERIC: the audio is valid,
 * so warn instead of raising.  Returns -1 if the warning became an error. */
static int msb_numeric_warn(mixstage_graph *g) {
  char msg[1024];
  msb_format(msg, sizeof msg, MIXSTAGE_ENUMERIC, mixstage_graph_last_error(g));
  return PyErr_WarnEx(msb_numeric_warning, msg, 2);
}
%}

%extend mixstage_graph {
  /* Offline render into a new (frames, mix_channels) float32 array. */
  PyObject *_render(long long frames, long long tail, bool remove_latency, int threads) {
    mixstage_render_config rc;
    msb_render_config(&rc, frames, tail, remove_latency, threads);
    int64_t n = mixstage_graph_render_frames($self, &rc);
    if (n < 0) { msb_raise((int)n, $self); return NULL; }
    npy_intp dims[2] = {(npy_intp)n, mixstage_bus_channels(mixstage_graph_mix_bus($self))};
    PyObject *arr = PyArray_SimpleNew(2, dims, NPY_FLOAT32);
    if (!arr) return NULL;
    int st = mixstage_graph_render($self, &rc, (float *)PyArray_DATA((PyArrayObject *)arr), n);
    if (st == MIXSTAGE_ENUMERIC) {
      if (msb_numeric_warn($self) < 0) { Py_DECREF(arr); return NULL; }
    } else if (st < 0) {
      Py_DECREF(arr);
      msb_raise(st, $self);
      return NULL;
    }
    return arr;
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
    def render(self, frames=0, tail=None, remove_latency=True, threads=1):
        """Renders the graph offline from frame 0.

        frames: program length (0 = the longest source); tail: cap on the
        ring-out in frames (None = the library default, 30 s); threads: worker
        threads (the result is bit-identical for any count).
        Returns float32 numpy array shaped (frames, mix_channels)."""
        return self._render(int(frames), -1 if tail is None else int(tail),
                            bool(remove_latency), int(threads))

    def process(self, frames):
        """Processes the next `frames` frames (prepare() first) and returns
        them as a new (frames, mix_channels) float32 array."""
        import numpy
        out = numpy.zeros((int(frames), self.mix_channels), dtype=numpy.float32)
        self.process_into(out)
        return out

    def add_return(self, name, channels=2):
        """Adds an FX return (a bus fed by sends)."""
        return self.add_bus(name, "return", channels)

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
  %pythoncode %{
    def _source_get(self):
        raise AttributeError("Strip.source is write-only (the library keeps a copy); "
                             "see Strip.source_frames")

    def _source_set(self, audio):
        import numpy
        a = numpy.asarray(audio, dtype=numpy.float32)
        if a.ndim == 1:
            a = a.reshape(-1, 1)
        self._set_source(a)

    source = property(_source_get, _source_set, doc=
        "Audio played by the strip: a (frames, channels) or 1-D (mono) array, "
        "copied by the library.")

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
        self.set(self._param_id(key), float(value))

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

    def sidechain(self, key, tap="pre"):
        """Keys the node's detector from a Strip's or Bus's audio, tapped
        "pre" or "post" fader (only dynamics nodes accept a key)."""
        if isinstance(key, Bus):
            node_set_sidechain_bus(self, key, tap)
        else:
            node_set_sidechain_strip(self, key, tap)

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
    def __len__(self):
        return self.point_count

    def __repr__(self):
        return "<mixstage.Lane %d points>" % self.point_count

    def __eq__(self, other):
        return isinstance(other, Lane) and int(self.this) == int(other.this)

    def __hash__(self):
        return int(self.this)
  %}
}

%pythoncode %{
import collections as _collections

# The exception classes are made by the C module (one per status code).
Error = _mixstage.Error
NumericWarning = _mixstage.NumericWarning
for _name in dir(_mixstage):
    _obj = getattr(_mixstage, _name)
    if isinstance(_obj, type) and issubclass(_obj, Error):
        globals()[_name] = _obj
del _name, _obj

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
%}
