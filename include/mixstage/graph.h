/* libmixstage — the mixing graph.
 *
 * Tutorial
 * --------
 * A graph holds channel strips, buses (group buses and FX returns) and exactly
 * one mix bus.  Strips play a source through clip gain, polarity, an ordered
 * insert chain of nodes, a fader, and a pan/balance stage into a bus.  Sends
 * tap a strip or bus before or after its fader into an FX return.  Any
 * dynamics node can take its detector key from another strip or bus.
 *
 *     mixstage_graph_config cfg;
 *     mixstage_graph_config_init(&cfg);          // 48 kHz, 1024-frame blocks
 *     int err;
 *     mixstage_graph *g = mixstage_graph_create(&cfg, &err);
 *     mixstage_strip *kick = mixstage_graph_add_strip(g, "Kick", 1, &err);
 *     mixstage_strip_set_source_buffer(kick, samples, 1, frames, 1);
 *     mixstage_node *eq = mixstage_strip_insert(kick, "eq", MIXSTAGE_ROLE_STRIP,
 *                                               -1, &err);
 *     mixstage_node_set_param_by_name(eq, "band1_gain", 3.0);
 *     int64_t n = mixstage_graph_render_frames(g, NULL);
 *     float *out = malloc(sizeof(float) * 2 * n);   // stereo interleaved
 *     mixstage_graph_render(g, NULL, out, n);
 *     mixstage_graph_destroy(g);                   // frees strips, nodes, ...
 *
 * Ownership: the graph owns every strip, bus, send, node and lane made in it;
 * their handles are borrowed and stay valid until mixstage_graph_destroy(),
 * or until the object is removed (edit.h: removing, moving and replacing,
 * and the serials that tell a removed object from a live one).
 *
 * Threads: "edit-time" calls (create, add, insert, connect, prepare, lanes)
 * may allocate and must not run while another thread processes the graph.
 * "Render-time" calls (mixstage_graph_process*, and every setter marked
 * control-safe) never allocate, lock, do I/O or look up strings; control-safe
 * setters may be called from any one control thread while the audio thread
 * processes, and take effect at a 32-frame control boundary: the next one
 * when the strip or bus is already changing (a ramp, a lane, an earlier
 * setter), otherwise the first one of the engine's next 256-frame block
 * (the engine asks once per block whether a unit has anything moving, so
 * that units at rest process the block in one pass); within 256 frames
 * either way.  Setters called between process calls take effect at the
 * next 32-frame boundary, whatever the host's block size.
 * Callbacks (source pulls, progress) run inside a render or process call:
 * from them, edit-time calls on the graph being rendered (adding, inserting,
 * removing, moving, replacing, routing, sources, sidechains, lanes and
 * points, tempo, prepare, locate, process, and renders, which prepare) fail
 * with MIXSTAGE_ESTATE and a message naming the object; control-safe
 * setters and other graphs work.
 *
 * Buffers are 32-bit float, counted in frames (one frame = one sample per
 * channel).  Each call says whether it takes interleaved or planar data.
 */
#ifndef MIXSTAGE_GRAPH_H
#define MIXSTAGE_GRAPH_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Largest channel count of a strip or bus (7.1.4 needs 12). */
#define MIXSTAGE_MAX_CHANNELS 16
/** Parameter values change at most once per this many frames, on a grid
 *  anchored at frame 0 (gains are interpolated sample by sample between).
 *  Automation: clip gain, fader and send-level lanes are evaluated at every
 *  sample (sample-accurate); pan, width and node-parameter lanes are read at
 *  each boundary of this grid (pan and width ramped across the cell), so a
 *  point between two boundaries takes effect at the next one. */
#define MIXSTAGE_CONTROL_FRAMES 32

typedef struct mixstage_graph mixstage_graph;
typedef struct mixstage_strip mixstage_strip;
typedef struct mixstage_bus mixstage_bus;
typedef struct mixstage_send mixstage_send;
typedef struct mixstage_node mixstage_node;
typedef struct mixstage_lane mixstage_lane;

/** Channel layouts by name, for strips and buses. */
typedef enum mixstage_layout {
  MIXSTAGE_LAYOUT_MONO = 1,
  MIXSTAGE_LAYOUT_STEREO = 2,
  MIXSTAGE_LAYOUT_5_1 = 6,
  MIXSTAGE_LAYOUT_7_1 = 8,
  MIXSTAGE_LAYOUT_7_1_4 = 12
} mixstage_layout;

/** Graph configuration; fill with mixstage_graph_config_init(). */
typedef struct mixstage_graph_config {
  double sample_rate;   /**< Hz, 8000 .. 384000; default 48000 */
  int max_block_frames; /**< largest block for process calls, 1 .. 65536; default 1024 */
  double tempo_bpm;     /**< tempo for tempo-synced effects, 20 .. 999; default 120 */
  int mix_channels;     /**< channels of the mix bus, 1 .. MIXSTAGE_MAX_CHANNELS; default 2 */
  /** Optional allocator hook (all three NULL for malloc/free).  Used for
   *  every allocation the graph makes, so failures can be tested. */
  void *(*alloc)(void *user, size_t bytes);
  void (*free)(void *user, void *ptr);
  void *alloc_user;
} mixstage_graph_config;

/** Fills @p cfg with defaults.  Edit-time. */
MIXSTAGE_EXPORT void mixstage_graph_config_init(mixstage_graph_config *cfg);

/** Creates an empty graph with its mix bus (named "Mix").
 *  @param cfg    configuration, or NULL for defaults
 *  @param error  receives MIXSTAGE_OK, MIXSTAGE_ERANGE (a field out of range)
 *                or MIXSTAGE_ENOMEM; may be NULL
 *  @return the graph, or NULL on error.  Edit-time. */
MIXSTAGE_EXPORT mixstage_graph *mixstage_graph_create(const mixstage_graph_config *cfg, int *error);
/** Destroys the graph and everything it owns.  Accepts NULL.  Edit-time. */
MIXSTAGE_EXPORT void mixstage_graph_destroy(mixstage_graph *graph);

/** The last error recorded by any call on this graph or its objects, naming
 *  the object at fault ("strip 'Bass': ..."); "" if none.  Never NULL (a NULL
 *  graph gives a fixed message).  Valid until the next call on the graph.
 *  Like errno, a successful call leaves it as it was: read it after a call
 *  that returned an error (failing calls set it, naming the object). */
MIXSTAGE_EXPORT const char *mixstage_graph_last_error(const mixstage_graph *graph);

MIXSTAGE_EXPORT double mixstage_graph_sample_rate(const mixstage_graph *graph);
MIXSTAGE_EXPORT int mixstage_graph_max_block(const mixstage_graph *graph);
MIXSTAGE_EXPORT double mixstage_graph_tempo(const mixstage_graph *graph);
/** Sets the tempo (20 .. 999 BPM); tempo-synced nodes follow after the next
 *  prepare.  Errors: MIXSTAGE_ENULL, MIXSTAGE_ERANGE.  Edit-time. */
MIXSTAGE_EXPORT int mixstage_graph_set_tempo(mixstage_graph *graph, double bpm);

/** The graph's mix bus (borrowed; never NULL for a valid graph). */
MIXSTAGE_EXPORT mixstage_bus *mixstage_graph_mix_bus(mixstage_graph *graph);

/* ---- Strips ------------------------------------------------------------ */

/** Adds a strip with @p channels channels (1 .. MIXSTAGE_MAX_CHANNELS), routed
 *  to the mix bus.  Names are unique among strips and buses.
 *  Errors: MIXSTAGE_ENULL, MIXSTAGE_ERANGE, MIXSTAGE_EEXIST, MIXSTAGE_ENOMEM.
 *  Edit-time. */
MIXSTAGE_EXPORT mixstage_strip *mixstage_graph_add_strip(mixstage_graph *graph, const char *name,
                                                         int channels, int *error);
MIXSTAGE_EXPORT int mixstage_graph_strip_count(const mixstage_graph *graph);
/** The @p index-th strip, or NULL past the end. */
MIXSTAGE_EXPORT mixstage_strip *mixstage_graph_strip(mixstage_graph *graph, int index);
/** The strip named @p name, or NULL. */
MIXSTAGE_EXPORT mixstage_strip *mixstage_graph_find_strip(mixstage_graph *graph, const char *name);

MIXSTAGE_EXPORT const char *mixstage_strip_name(const mixstage_strip *strip);
MIXSTAGE_EXPORT int mixstage_strip_channels(const mixstage_strip *strip);
MIXSTAGE_EXPORT mixstage_graph *mixstage_strip_graph(mixstage_strip *strip);

/** Plays @p frames frames of interleaved audio with @p channels channels
 *  (1 .. the strip's channels; a mono source on a stereo strip feeds both).
 *  With @p copy = 1 the library keeps its own copy; with 0 the caller keeps
 *  the buffer alive and unchanged while the graph exists.
 *  Errors: MIXSTAGE_ENULL, MIXSTAGE_ECHANNELS, MIXSTAGE_ERANGE, MIXSTAGE_ENOMEM.
 *  Edit-time. */
MIXSTAGE_EXPORT int mixstage_strip_set_source_buffer(mixstage_strip *strip, const float *interleaved,
                                                     int channels, int64_t frames, int copy);

/** How a file source is played (mixstage_strip_set_source_file_mode()). */
typedef enum mixstage_source_mode {
  /** Read block by block while rendering, in memory that does not grow with
   *  the file's length (about 1.4 s of prefetch ring per source plus the
   *  converter).  Offline renders read synchronously on the thread that runs
   *  the strip.  In real time (mixstage_graph_process) the graph's reader
   *  thread fills a lock-free ring ahead of the audio thread, which does no
   *  I/O; data that is not there in time is played as silence and counted
   *  (mixstage_strip_source_underruns()). */
  MIXSTAGE_SOURCE_STREAM = 0,
  /** Decode and convert the whole file into memory now, and play it as a
   *  buffer: no reader thread and no underruns, at the cost of channels x
   *  frames floats (useful for short files, or a real-time host that cannot
   *  afford to wait for a disk). */
  MIXSTAGE_SOURCE_PRELOAD = 1
} mixstage_source_mode;

/** Plays an audio file (anything libsndfile reads: WAV, AIFF, FLAC, ...),
 *  converted to the graph's rate with libsamplerate at best quality when the
 *  file's rate differs.  Same as mixstage_strip_set_source_file_mode() with
 *  MIXSTAGE_SOURCE_STREAM: the file is opened and its header read now, and
 *  streamed while rendering.  A file with more channels than the strip is
 *  refused, as are FIFOs and devices.  Errors: MIXSTAGE_ENULL,
 *  MIXSTAGE_ENOTFOUND, MIXSTAGE_EFORMAT, MIXSTAGE_EIO, MIXSTAGE_ECHANNELS,
 *  MIXSTAGE_EINVAL (a rate libsamplerate cannot convert), MIXSTAGE_ENOMEM;
 *  the message names the strip and the file.  Edit-time. */
MIXSTAGE_EXPORT int mixstage_strip_set_source_file(mixstage_strip *strip, const char *path);

/** As mixstage_strip_set_source_file(), choosing how the file is played
 *  (a mixstage_source_mode; else MIXSTAGE_EINVAL).  Both modes play the same
 *  samples: a streamed file that needs no rate conversion is bit-identical
 *  to the preloaded one, and so is a converted one rendered from its start;
 *  a converted file started mid-file (a locate) restarts its converter on a
 *  pre-roll, where input and output frames coincide, and matches continuous
 *  playback within 1e-5 (-100 dBFS; identical in the tests, from 22.05,
 *  44.1 and 96 kHz to 48 kHz).
 *
 *  A streamed file must stay as it was opened: if it is deleted, replaced,
 *  truncated or rewritten, the next render fails with MIXSTAGE_EIO and a
 *  message naming the strip and the file (never audio made of what is left),
 *  and in real time the strip plays silence and reports the error through
 *  mixstage_strip_source_error() and mixstage_strip_source_message().  The length reported by
 *  mixstage_strip_source_frames() comes from the file's header (and the
 *  rate ratio), as for a preloaded file.  Edit-time. */
MIXSTAGE_EXPORT int mixstage_strip_set_source_file_mode(mixstage_strip *strip, const char *path, int mode);

/** Real-time underruns of the strip's streamed file: how many times the
 *  audio thread found the reader thread behind (each time the missing
 *  frames play as silence, never as old audio).  0 for other sources;
 *  MIXSTAGE_ENULL for NULL.  Control-safe (an atomic read). */
MIXSTAGE_EXPORT int64_t mixstage_strip_source_underruns(const mixstage_strip *strip);
/** The sum of mixstage_strip_source_underruns() over the graph's strips.
 *  Control-safe. */
MIXSTAGE_EXPORT int64_t mixstage_graph_source_underruns(const mixstage_graph *graph);
/** The state of the strip's streamed file: MIXSTAGE_OK, or the error that
 *  stopped it (MIXSTAGE_EIO: deleted, replaced, changed, truncated,
 *  unreadable); MIXSTAGE_OK for other sources, MIXSTAGE_ENULL for NULL.
 *  Control-safe (an atomic read). */
MIXSTAGE_EXPORT int mixstage_strip_source_error(const mixstage_strip *strip);
/** A sentence on the strip's streamed file: "" when all is well, else the
 *  error ("strip 'Vox': file 'vox.wav': was deleted or moved since it was
 *  opened") or the underruns so far ("strip 'Vox': file 'vox.wav': 3
 *  underruns in real time (1536 frames played as silence ...)").  Never
 *  NULL; "" for other sources.  The text lives in the strip until the next
 *  call for it or the next source change.  Call it from one control thread
 *  (no allocation, no locks). */
MIXSTAGE_EXPORT const char *mixstage_strip_source_message(const mixstage_strip *strip);

/** Freewheeling: with @p on = 1, mixstage_graph_process() reads streamed
 *  files synchronously on the calling thread, waiting for the disk, so that
 *  every block is complete and identical to an offline render (for programs
 *  that call process in a loop to render faster or slower than real time).
 *  That is I/O on the calling thread: not for a real-time audio callback.
 *  0 (the default) is real time: process only copies from the rings the
 *  reader thread fills, and plays an underrun as counted silence.  Offline
 *  renders always read synchronously, whatever this says.  Errors:
 *  MIXSTAGE_ENULL.  Edit-time. */
MIXSTAGE_EXPORT int mixstage_graph_set_freewheel(mixstage_graph *graph, int on);
/** 1 when freewheeling (mixstage_graph_set_freewheel()), else 0. */
MIXSTAGE_EXPORT int mixstage_graph_freewheel(const mixstage_graph *graph);

/** For real-time hosts, after prepare or locate and before the first
 *  process call: asks every streamed file for the audio at the play
 *  position and waits until each ring holds its prefetch (or the file has
 *  ended), at most @p timeout_ms milliseconds.  Without it the first blocks
 *  after a prepare or locate underrun while the reader catches up.
 *  Errors: MIXSTAGE_ENULL, MIXSTAGE_ERANGE (negative timeout), MIXSTAGE_EIO
 *  (a file failed, or was not buffered in time; the message names the strip
 *  and the file).  Edit-time (it sleeps). */
MIXSTAGE_EXPORT int mixstage_graph_wait_sources(mixstage_graph *graph, int timeout_ms);

/** The path given to the last successful mixstage_strip_set_source_file(),
 *  exactly as given (relative paths stay relative), or NULL when the strip
 *  plays a buffer, a callback or nothing.  The strip keeps its own copy,
 *  valid until the source changes or the graph is destroyed.  NULL for a
 *  NULL strip.  Edit-time (safe from any thread that may edit the graph). */
MIXSTAGE_EXPORT const char *mixstage_strip_source_path(const mixstage_strip *strip);

/** A pull source: fill @p planar[0 .. channels-1][0 .. frames-1] with the audio
 *  that starts at @p position (frames since render start).  Called on the
 *  audio thread: it must be real-time safe.  Return 0, or non-zero to signal
 *  the end of the source (the rest of the block must still be filled). */
typedef int (*mixstage_pull_fn)(void *user, float *const *planar, int channels, int frames,
                                int64_t position);

/** Makes the strip pull its source from @p fn (channels as for buffers).
 *  @p length_frames is the source length for offline renders, or -1 if
 *  unknown (then renders need an explicit length).
 *  Errors: MIXSTAGE_ENULL, MIXSTAGE_ECHANNELS.  Edit-time. */
MIXSTAGE_EXPORT int mixstage_strip_set_source_callback(mixstage_strip *strip, mixstage_pull_fn fn,
                                                       void *user, int channels,
                                                       int64_t length_frames);
/** Source length in frames (0 without a source, -1 if unknown). */
MIXSTAGE_EXPORT int64_t mixstage_strip_source_frames(const mixstage_strip *strip);

/** Strip controls.  Setters marked control-safe may run during processing;
 *  values are smoothed (no zipper noise).  Errors: MIXSTAGE_ENULL,
 *  MIXSTAGE_ERANGE. */
MIXSTAGE_EXPORT int mixstage_strip_set_clip_gain_db(mixstage_strip *strip, double db); /* -60..+36, control-safe */
MIXSTAGE_EXPORT int mixstage_strip_set_fader_db(mixstage_strip *strip, double db);     /* -144..+12, control-safe */
MIXSTAGE_EXPORT int mixstage_strip_set_pan(mixstage_strip *strip, double pan);         /* -1..+1, control-safe */
MIXSTAGE_EXPORT int mixstage_strip_set_width(mixstage_strip *strip, double width);     /* 0..2, stereo only, control-safe */
MIXSTAGE_EXPORT int mixstage_strip_set_mute(mixstage_strip *strip, int mute);          /* control-safe */
MIXSTAGE_EXPORT int mixstage_strip_set_solo(mixstage_strip *strip, int solo);          /* control-safe */
MIXSTAGE_EXPORT int mixstage_strip_set_polarity(mixstage_strip *strip, int invert);    /* control-safe */
MIXSTAGE_EXPORT int mixstage_strip_set_color(mixstage_strip *strip, uint32_t rgb);
MIXSTAGE_EXPORT double mixstage_strip_clip_gain_db(const mixstage_strip *strip);
MIXSTAGE_EXPORT double mixstage_strip_fader_db(const mixstage_strip *strip);
MIXSTAGE_EXPORT double mixstage_strip_pan(const mixstage_strip *strip);
MIXSTAGE_EXPORT double mixstage_strip_width(const mixstage_strip *strip);
MIXSTAGE_EXPORT int mixstage_strip_mute(const mixstage_strip *strip);
MIXSTAGE_EXPORT int mixstage_strip_solo(const mixstage_strip *strip);
MIXSTAGE_EXPORT int mixstage_strip_polarity(const mixstage_strip *strip);
MIXSTAGE_EXPORT uint32_t mixstage_strip_color(const mixstage_strip *strip);
/** Routes the strip into @p bus (a group bus or the mix bus; not an FX
 *  return).  Errors: MIXSTAGE_ENULL, MIXSTAGE_EINVAL (other graph, or a
 *  return).  Cycles are found by mixstage_graph_prepare().  Edit-time. */
MIXSTAGE_EXPORT int mixstage_strip_set_output(mixstage_strip *strip, mixstage_bus *bus);
MIXSTAGE_EXPORT mixstage_bus *mixstage_strip_output(mixstage_strip *strip);

/* ---- Buses ------------------------------------------------------------- */

typedef enum mixstage_bus_kind {
  MIXSTAGE_BUS_GROUP = 0,  /**< a group (sub-mix) bus fed by strip outputs */
  MIXSTAGE_BUS_RETURN = 1, /**< an FX return fed by sends */
  MIXSTAGE_BUS_MIX = 2     /**< the one mix bus (made by the graph) */
} mixstage_bus_kind;

/** Adds a group bus or FX return, routed to the mix bus.
 *  Errors: MIXSTAGE_ENULL, MIXSTAGE_ERANGE, MIXSTAGE_EINVAL (kind),
 *  MIXSTAGE_EEXIST, MIXSTAGE_ENOMEM.  Edit-time. */
MIXSTAGE_EXPORT mixstage_bus *mixstage_graph_add_bus(mixstage_graph *graph, const char *name, int kind,
                                                     int channels, int *error);
MIXSTAGE_EXPORT int mixstage_graph_bus_count(const mixstage_graph *graph); /* includes the mix bus */
MIXSTAGE_EXPORT mixstage_bus *mixstage_graph_bus(mixstage_graph *graph, int index); /* 0 is the mix bus */
MIXSTAGE_EXPORT mixstage_bus *mixstage_graph_find_bus(mixstage_graph *graph, const char *name);
MIXSTAGE_EXPORT const char *mixstage_bus_name(const mixstage_bus *bus);
MIXSTAGE_EXPORT int mixstage_bus_kind_of(const mixstage_bus *bus);
MIXSTAGE_EXPORT int mixstage_bus_channels(const mixstage_bus *bus);
MIXSTAGE_EXPORT mixstage_graph *mixstage_bus_graph(mixstage_bus *bus);
MIXSTAGE_EXPORT int mixstage_bus_set_fader_db(mixstage_bus *bus, double db); /* control-safe */
MIXSTAGE_EXPORT int mixstage_bus_set_pan(mixstage_bus *bus, double pan);     /* balance, control-safe */
MIXSTAGE_EXPORT int mixstage_bus_set_width(mixstage_bus *bus, double width); /* control-safe */
MIXSTAGE_EXPORT int mixstage_bus_set_mute(mixstage_bus *bus, int mute);      /* control-safe */
MIXSTAGE_EXPORT double mixstage_bus_fader_db(const mixstage_bus *bus);
MIXSTAGE_EXPORT double mixstage_bus_pan(const mixstage_bus *bus);
MIXSTAGE_EXPORT double mixstage_bus_width(const mixstage_bus *bus);
MIXSTAGE_EXPORT int mixstage_bus_mute(const mixstage_bus *bus);
/** Routes a group bus or return into another group bus or the mix bus.
 *  The mix bus has no output.  Errors: MIXSTAGE_ENULL, MIXSTAGE_EINVAL. */
MIXSTAGE_EXPORT int mixstage_bus_set_output(mixstage_bus *bus, mixstage_bus *to);
MIXSTAGE_EXPORT mixstage_bus *mixstage_bus_output(mixstage_bus *bus);

/* ---- Sends --------------------------------------------------------------- */

typedef enum mixstage_tap {
  MIXSTAGE_TAP_PRE_FADER = 0, /**< after the inserts, before fader and pan */
  MIXSTAGE_TAP_POST_FADER = 1 /**< after fader and pan */
} mixstage_tap;

/** Adds a send from a strip (or bus) to the FX return @p to, at @p level_db
 *  (-144 .. +12), tapped pre- or post-fader, carrying @p role (normally
 *  MIXSTAGE_ROLE_MIX_FX).  Errors: MIXSTAGE_ENULL, MIXSTAGE_EINVAL (not a
 *  return, other graph, bad tap), MIXSTAGE_ERANGE, MIXSTAGE_ENOMEM.  Edit-time. */
MIXSTAGE_EXPORT mixstage_send *mixstage_strip_add_send(mixstage_strip *strip, mixstage_bus *to,
                                                       double level_db, int tap, int role,
                                                       int *error);
MIXSTAGE_EXPORT mixstage_send *mixstage_bus_add_send(mixstage_bus *bus, mixstage_bus *to,
                                                     double level_db, int tap, int role, int *error);
MIXSTAGE_EXPORT int mixstage_strip_send_count(const mixstage_strip *strip);
MIXSTAGE_EXPORT mixstage_send *mixstage_strip_send(mixstage_strip *strip, int index);
MIXSTAGE_EXPORT int mixstage_bus_send_count(const mixstage_bus *bus);
MIXSTAGE_EXPORT mixstage_send *mixstage_bus_send(mixstage_bus *bus, int index);
MIXSTAGE_EXPORT int mixstage_send_set_level_db(mixstage_send *send, double db); /* control-safe */
MIXSTAGE_EXPORT double mixstage_send_level_db(const mixstage_send *send);
MIXSTAGE_EXPORT int mixstage_send_set_mute(mixstage_send *send, int mute); /* control-safe */
MIXSTAGE_EXPORT int mixstage_send_mute(const mixstage_send *send);
MIXSTAGE_EXPORT int mixstage_send_tap(const mixstage_send *send);
MIXSTAGE_EXPORT int mixstage_send_role(const mixstage_send *send);
MIXSTAGE_EXPORT mixstage_bus *mixstage_send_target(mixstage_send *send);

/* ---- Nodes --------------------------------------------------------------- */

/** Node types are enumerated by index: the name of the @p index-th type
 *  ("eq", "compressor", ...), or NULL past the end. */
MIXSTAGE_EXPORT const char *mixstage_node_type_name(int index);
/** A one-line description of the @p index-th type, or NULL past the end. */
MIXSTAGE_EXPORT const char *mixstage_node_type_description(int index);

/** Inserts a node of type @p type into the strip's insert chain at
 *  @p position (0 = first; -1 = append) with @p role.
 *  Errors: MIXSTAGE_ENULL, MIXSTAGE_ENOTFOUND (no such type),
 *  MIXSTAGE_ERANGE (role or position), MIXSTAGE_ENOMEM.  Edit-time. */
MIXSTAGE_EXPORT mixstage_node *mixstage_strip_insert(mixstage_strip *strip, const char *type, int role,
                                                     int position, int *error);
MIXSTAGE_EXPORT mixstage_node *mixstage_bus_insert(mixstage_bus *bus, const char *type, int role,
                                                   int position, int *error);
MIXSTAGE_EXPORT int mixstage_strip_node_count(const mixstage_strip *strip);
MIXSTAGE_EXPORT mixstage_node *mixstage_strip_node(mixstage_strip *strip, int index);
MIXSTAGE_EXPORT int mixstage_bus_node_count(const mixstage_bus *bus);
MIXSTAGE_EXPORT mixstage_node *mixstage_bus_node(mixstage_bus *bus, int index);

/** The node's type name ("eq"); never NULL for a valid node. */
MIXSTAGE_EXPORT const char *mixstage_node_type(const mixstage_node *node);
/** "strip 'Bass' insert 2 (compressor)" style label used in messages. */
MIXSTAGE_EXPORT const char *mixstage_node_label(const mixstage_node *node);
MIXSTAGE_EXPORT int mixstage_node_role(const mixstage_node *node);
MIXSTAGE_EXPORT int mixstage_node_set_role(mixstage_node *node, int role);
/** Bypass passes audio through unchanged (latency stays compensated).
 *  Control-safe. */
MIXSTAGE_EXPORT int mixstage_node_set_bypass(mixstage_node *node, int bypass);
MIXSTAGE_EXPORT int mixstage_node_bypass(const mixstage_node *node);
MIXSTAGE_EXPORT mixstage_graph *mixstage_node_graph(mixstage_node *node);

MIXSTAGE_EXPORT int mixstage_node_param_count(const mixstage_node *node);
/** Introspection of the @p index-th parameter (0 .. count-1).
 *  Errors: MIXSTAGE_ENULL, MIXSTAGE_ERANGE. */
MIXSTAGE_EXPORT int mixstage_node_param_info(const mixstage_node *node, int index,
                                             mixstage_param_info *info);
/** The stable id of the parameter named @p name, or MIXSTAGE_ENOTFOUND. */
MIXSTAGE_EXPORT int mixstage_node_param_id(const mixstage_node *node, const char *name);
/** Sets parameter @p id.  Out-of-range values are refused (MIXSTAGE_ERANGE),
 *  as are NaN and infinities.  Control-safe (lock-free); smoothed where the
 *  parameter is continuous.  Parameters whose info says automatable = 0
 *  (structural ones such as oversampling or lookahead, which change latency
 *  or memory) take effect at the next mixstage_graph_prepare() (renders
 *  prepare by themselves).  Errors: MIXSTAGE_ENULL, MIXSTAGE_ENOTFOUND,
 *  MIXSTAGE_ERANGE. */
MIXSTAGE_EXPORT int mixstage_node_set_param(mixstage_node *node, int id, double value);
MIXSTAGE_EXPORT int mixstage_node_get_param(const mixstage_node *node, int id, double *value);
/** By name (edit-time convenience: it looks up the string). */
MIXSTAGE_EXPORT int mixstage_node_set_param_by_name(mixstage_node *node, const char *name, double value);
MIXSTAGE_EXPORT int mixstage_node_get_param_by_name(const mixstage_node *node, const char *name,
                                                    double *value);
/** Sets the choice parameter (unit MIXSTAGE_UNIT_ENUM) named @p name to the
 *  choice named @p choice, as graph files may:
 *  mixstage_node_set_param_choice(eq, "band1_type", "highpass").  The names
 *  are those of mixstage_param_info.choices, exact case.
 *  Errors: MIXSTAGE_ENULL; MIXSTAGE_ENOTFOUND (no such parameter or choice:
 *  the message lists the valid ones and suggests the closest);
 *  MIXSTAGE_EINVAL (the parameter is not a choice).  Edit-time convenience
 *  (it looks the names up); from a control thread while audio runs, set the
 *  choice's index with mixstage_node_set_param(). */
MIXSTAGE_EXPORT int mixstage_node_set_param_choice(mixstage_node *node, const char *name, const char *choice);
/** Copies the name of the current choice of the choice parameter @p name
 *  into @p out (@p size bytes with the terminating NUL).
 *  Errors: MIXSTAGE_ENULL, MIXSTAGE_ENOTFOUND, MIXSTAGE_EINVAL (not a choice
 *  parameter), MIXSTAGE_ERANGE (@p size too small). */
MIXSTAGE_EXPORT int mixstage_node_get_param_choice(const mixstage_node *node, const char *name, char *out,
                                                   size_t size);

/** Takes the node's detector key from another strip's or bus's audio at
 *  @p tap instead of the node's own input.  Only dynamics nodes accept a key
 *  (else MIXSTAGE_EUNSUPPORTED).  Cycles are refused by prepare.  Edit-time. */
MIXSTAGE_EXPORT int mixstage_node_set_sidechain_strip(mixstage_node *node, mixstage_strip *key, int tap);
MIXSTAGE_EXPORT int mixstage_node_set_sidechain_bus(mixstage_node *node, mixstage_bus *key, int tap);
MIXSTAGE_EXPORT int mixstage_node_clear_sidechain(mixstage_node *node);
/** The strip or bus that keys the node's detector (borrowed), or NULL when
 *  the node has no key of that kind (or @p node is NULL).  A node has at most
 *  one key: at most one of the two returns non-NULL.  Edit-time. */
MIXSTAGE_EXPORT mixstage_strip *mixstage_node_sidechain_strip(mixstage_node *node);
MIXSTAGE_EXPORT mixstage_bus *mixstage_node_sidechain_bus(mixstage_node *node);
/** Where the key is tapped: MIXSTAGE_TAP_PRE_FADER or MIXSTAGE_TAP_POST_FADER.
 *  Errors: MIXSTAGE_ENULL, MIXSTAGE_ENOTFOUND (the node has no key).
 *  Edit-time. */
MIXSTAGE_EXPORT int mixstage_node_sidechain_tap(const mixstage_node *node);

/** Latency the node adds, in frames (valid after prepare). */
MIXSTAGE_EXPORT int mixstage_node_latency(const mixstage_node *node);
/** How long the node rings after its input stops, in frames (after prepare). */
MIXSTAGE_EXPORT int64_t mixstage_node_tail(const mixstage_node *node);
/** Current gain reduction in dB (>= 0), for dynamics nodes; 0 otherwise.
 *  Readable from any thread while processing. */
MIXSTAGE_EXPORT double mixstage_node_gain_reduction_db(const mixstage_node *node);
/** Number of times the node produced NaN/Inf and was reset. */
MIXSTAGE_EXPORT int64_t mixstage_node_numeric_faults(const mixstage_node *node);

/* ---- Automation ---------------------------------------------------------- */

/** The automation lane of a node parameter (created empty on first use).
 *  Errors: MIXSTAGE_ENULL, MIXSTAGE_ENOTFOUND, MIXSTAGE_EUNSUPPORTED (the
 *  parameter is not automatable), MIXSTAGE_ENOMEM.  Edit-time. */
MIXSTAGE_EXPORT mixstage_lane *mixstage_node_lane(mixstage_node *node, int param_id, int *error);

/** Strip, bus and send parameters that take lanes. */
typedef enum mixstage_strip_param {
  MIXSTAGE_STRIP_CLIP_GAIN = 0,
  MIXSTAGE_STRIP_FADER = 1,
  MIXSTAGE_STRIP_PAN = 2,
  MIXSTAGE_STRIP_WIDTH = 3
} mixstage_strip_param;
MIXSTAGE_EXPORT mixstage_lane *mixstage_strip_lane(mixstage_strip *strip, int which, int *error);
/** which: MIXSTAGE_STRIP_FADER, _PAN or _WIDTH (buses have no clip gain). */
MIXSTAGE_EXPORT mixstage_lane *mixstage_bus_lane(mixstage_bus *bus, int which, int *error);
MIXSTAGE_EXPORT mixstage_lane *mixstage_send_lane(mixstage_send *send, int *error);

/** The lane that mixstage_node_lane() (or the strip, bus and send variants)
 *  made for this parameter, or NULL if none was made yet (or on a NULL
 *  handle, unknown id or @p which).  Unlike those calls these never create a
 *  lane, so they can be used to inspect a graph without changing it.  A
 *  lane that was cleared still exists, with 0 points.  Edit-time. */
MIXSTAGE_EXPORT mixstage_lane *mixstage_node_find_lane(mixstage_node *node, int param_id);
MIXSTAGE_EXPORT mixstage_lane *mixstage_strip_find_lane(mixstage_strip *strip, int which);
/** which: MIXSTAGE_STRIP_FADER, _PAN or _WIDTH. */
MIXSTAGE_EXPORT mixstage_lane *mixstage_bus_find_lane(mixstage_bus *bus, int which);
MIXSTAGE_EXPORT mixstage_lane *mixstage_send_find_lane(mixstage_send *send);

/** Adds a breakpoint: at @p frame the parameter is @p value, reached from the
 *  previous point along @p curve.  Points at an existing frame replace it.
 *  Gain lanes (clip gain, faders, send levels) are followed sample by
 *  sample; pan, width and node-parameter lanes on the 32-frame control grid
 *  (MIXSTAGE_CONTROL_FRAMES).
 *  Before the first point the first value holds; after the last, the last.
 *  Errors: MIXSTAGE_ENULL, MIXSTAGE_ERANGE (value outside the parameter's
 *  range, negative frame, bad curve), MIXSTAGE_ENOMEM.  Edit-time. */
MIXSTAGE_EXPORT int mixstage_lane_add_point(mixstage_lane *lane, int64_t frame, double value, int curve);
MIXSTAGE_EXPORT int mixstage_lane_clear(mixstage_lane *lane);
MIXSTAGE_EXPORT int mixstage_lane_point_count(const mixstage_lane *lane);
/** Reads the @p index-th breakpoint (0 .. count-1, in time order): its
 *  frame, its value in the parameter's unit and the MIXSTAGE_CURVE_* of the
 *  segment that ends at it, exactly as given to mixstage_lane_add_point().
 *  Any output may be NULL.  Errors: MIXSTAGE_ENULL (NULL lane),
 *  MIXSTAGE_ERANGE (index outside 0 .. count-1; outputs untouched).
 *  Edit-time. */
MIXSTAGE_EXPORT int mixstage_lane_point(const mixstage_lane *lane, int index, int64_t *frame,
                                        double *value, int *curve);
/** The lane's value at @p frame, as the engine applies it. */
MIXSTAGE_EXPORT double mixstage_lane_value_at(const mixstage_lane *lane, int64_t frame);

/* ---- Prepare and process --------------------------------------------------- */

/** Validates routing, orders the graph, allocates every buffer and state, and
 *  computes latency compensation.  Called by renders automatically; a real-
 *  time host calls it before its first process call and after any edit-time
 *  change.  Resets the play position to 0.
 *  Errors: MIXSTAGE_ENULL, MIXSTAGE_ECYCLE (the message names the loop),
 *  MIXSTAGE_ECHANNELS, MIXSTAGE_ENOMEM.  Edit-time. */
MIXSTAGE_EXPORT int mixstage_graph_prepare(mixstage_graph *graph);
/** 1 if the graph is prepared and unchanged since. */
MIXSTAGE_EXPORT int mixstage_graph_is_prepared(const mixstage_graph *graph);
/** Total latency of the mix bus output in frames (after prepare). */
MIXSTAGE_EXPORT int mixstage_graph_latency(const mixstage_graph *graph);
/** Clears all DSP state and sets the play position to @p frame.
 *  Errors: MIXSTAGE_ENULL, MIXSTAGE_ESTATE (not prepared), MIXSTAGE_ERANGE. */
MIXSTAGE_EXPORT int mixstage_graph_locate(mixstage_graph *graph, int64_t frame);
MIXSTAGE_EXPORT int64_t mixstage_graph_position(const mixstage_graph *graph);

/** Processes the next @p frames frames (1 .. max block) and writes the mix
 *  bus output, interleaved, to @p out (frames * mix channels floats).  The
 *  output is delayed by mixstage_graph_latency() frames.  Render-time: no
 *  allocation, locks or I/O; denormals are flushed and the caller's floating-
 *  point mode is restored.  Returns MIXSTAGE_OK, MIXSTAGE_ENUMERIC (a node
 *  produced NaN/Inf this block: its output was silenced and its state reset;
 *  the block is still valid), MIXSTAGE_ENULL, MIXSTAGE_EBLOCKSIZE,
 *  MIXSTAGE_ESTATE (not prepared). */
MIXSTAGE_EXPORT int mixstage_graph_process(mixstage_graph *graph, float *out, int frames)
    MIXSTAGE_NONBLOCKING;
/** As mixstage_graph_process(), writing planar output: @p out[c] for each of
 *  @p channels channels (must equal the mix bus channels). */
MIXSTAGE_EXPORT int mixstage_graph_process_planar(mixstage_graph *graph, float *const *out,
                                                  int channels, int frames) MIXSTAGE_NONBLOCKING;

/* ---- Offline render -------------------------------------------------------- */

/** Progress of an offline render: @p done of @p total frames.  Called on the
 *  rendering thread about every 100 ms of audio; return non-zero to cancel
 *  (the render then returns MIXSTAGE_ECANCELLED). */
typedef int (*mixstage_progress_fn)(void *user, int64_t done, int64_t total);

typedef struct mixstage_render_config {
  int64_t frames;          /**< program length; 0 = the longest source */
  int64_t max_tail_frames; /**< cap on the tail after the program; default 30 s
                                worth; 0 = no tail */
  int remove_latency;      /**< 1 (default): output frame 0 is input frame 0 */
  int threads;             /**< worker threads, 1 (default) .. 64: units that do not
                                depend on each other run in parallel; the result is
                                bit-identical for any count.  The graph keeps its
                                workers between renders (asleep when idle) and ends
                                them when a render asks for another count or in
                                mixstage_graph_destroy() */
  mixstage_progress_fn progress; /**< optional progress and cancellation */
  void *progress_user;
} mixstage_render_config;

MIXSTAGE_EXPORT void mixstage_render_config_init(mixstage_render_config *cfg);

/** Frames that mixstage_graph_render() will write with @p cfg (NULL =
 *  defaults): program length plus the graph's tail (capped).  Prepares the
 *  graph if needed.  Returns the count (>= 0) or a negative error:
 *  MIXSTAGE_ENULL, MIXSTAGE_EINVAL (no source has a known length and no
 *  length given), or any prepare error. */
MIXSTAGE_EXPORT int64_t mixstage_graph_render_frames(mixstage_graph *graph,
                                                     const mixstage_render_config *cfg);
/** Renders the graph offline from frame 0 into @p out, interleaved with the
 *  mix bus's channels, @p capacity frames long (at least
 *  mixstage_graph_render_frames()).  Results are identical for any block
 *  size and across repeated renders.  Errors: as above, plus
 *  MIXSTAGE_ERANGE (capacity too small); MIXSTAGE_ENUMERIC is reported as for
 *  process but the render completes. */
MIXSTAGE_EXPORT int mixstage_graph_render(mixstage_graph *graph, const mixstage_render_config *cfg,
                                          float *out, int64_t capacity);

#ifdef __cplusplus
}
#endif
#endif
