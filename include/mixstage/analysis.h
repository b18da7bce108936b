/* libmixstage — analysis: meters.  (Further analysis sections may follow the meters section.)
 *
 * Meters tutorial
 * ---------------
 * Measure any interleaved float buffer (a render, a bounce, a file read with
 * mixstage_audio_read()) in one call:
 *
 *     mixstage_meter_config mc;
 *     mixstage_meter_config_init(&mc);          // stereo/auto map, true peak on
 *     mixstage_meter_report r;
 *     int st = mixstage_meter_analyse(buf, frames, 2, 48000, &mc, &r);
 *     if (st == MIXSTAGE_OK)
 *       printf("%.1f LUFS, LRA %.1f LU, %.1f dBTP, corr %.2f\n",
 *              r.integrated_lufs, r.loudness_range_lu, r.true_peak_max_dbtp,
 *              r.correlation);
 *     for (int64_t i = 0; i < r.series_count; i++)   // every 100 ms
 *       plot(0.1 * (i + 1), r.momentary_series[i], r.short_term_series[i]);
 *     mixstage_meter_report_clear(&r);          // frees the series
 *
 * A file: read it with mixstage_audio_read(path, 0, &buf, &frames, &ch,
 * &rate, ...) and analyse the buffer at the file's own rate.
 *
 * Or meter a stream inside a real-time host's audio callback:
 *
 *     mixstage_meter *m = mixstage_meter_create(2, 48000, 512, &mc, &st);
 *     ...audio thread: mixstage_meter_push(m, block, n);     // n <= 512
 *     ...after the audio thread has stopped pushing:
 *     mixstage_meter_get_report(m, &r); ...; mixstage_meter_report_clear(&r);
 *     mixstage_meter_destroy(m);
 *
 * Loudness, loudness range, sample peak and true peak come from libebur128
 * (ITU-R BS.1770-4, EBU R128, EBU Tech 3341 / 3342).  RMS, crest factor,
 * correlation, balance, mid/side ratio, DC offset and clipped samples are
 * computed here, in double precision, over every sample.
 *
 * Buffers are interleaved 32-bit float, counted in frames (one frame = one
 * sample per channel).  Full scale is +-1.0.  Levels of silence are
 * -INFINITY; a quantity that does not apply (a correlation with one channel,
 * or with a silent side) is NAN.
 *
 * Threads: calls on different meters may run concurrently.  One meter must
 * not be used from two threads at once.
 */
#ifndef MIXSTAGE_ANALYSIS_H
#define MIXSTAGE_ANALYSIS_H

#include "common.h"
#include "graph.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ======================== meters ========================================= */

/** Most channels a meter accepts. */
#define MIXSTAGE_METER_MAX_CHANNELS 16

/** Loudness role of a channel (ITU-R BS.1770-4 Table 4 weights). */
typedef enum mixstage_channel_role {
  MIXSTAGE_CHANNEL_UNUSED = 0,         /**< not counted in the loudness */
  MIXSTAGE_CHANNEL_LEFT = 1,           /**< front left, weight 1.0 */
  MIXSTAGE_CHANNEL_RIGHT = 2,          /**< front right, weight 1.0 */
  MIXSTAGE_CHANNEL_CENTRE = 3,         /**< centre, weight 1.0 */
  MIXSTAGE_CHANNEL_LFE = 4,            /**< low-frequency effects: excluded */
  MIXSTAGE_CHANNEL_LEFT_SURROUND = 5,  /**< weight 1.41 (+1.5 dB) */
  MIXSTAGE_CHANNEL_RIGHT_SURROUND = 6, /**< weight 1.41 (+1.5 dB) */
  MIXSTAGE_CHANNEL_DUAL_MONO = 7,      /**< a mono channel played on two
                                            speakers: counted twice (+3.01 dB) */
  MIXSTAGE_CHANNEL_OTHER = 8           /**< any other speaker (height, rear
                                            centre...), weight 1.0 */
} mixstage_channel_role;

/** Channel layouts for mixstage_meter_config.layout. */
typedef enum mixstage_meter_layout {
  /** By channel count: 1 = mono (one speaker, weight 1.0; use DUAL_MONO
   *  or explicit roles for a mono file meant for two speakers), 2 = L R,
   *  3..6 = L R C LFE Ls Rs (the WAVE / SMPTE order), more channels: L R C
   *  LFE Ls Rs and the rest weight 1.0. */
  MIXSTAGE_METER_LAYOUT_AUTO = 0,
  MIXSTAGE_METER_LAYOUT_DUAL_MONO = 1, /**< 1 channel counted twice, as it
                                            sounds on two speakers */
  MIXSTAGE_METER_LAYOUT_EXPLICIT = 2   /**< roles from channel_roles[] */
} mixstage_meter_layout;

/** How to meter; fill with mixstage_meter_config_init(). */
typedef struct mixstage_meter_config {
  int layout;           /**< a mixstage_meter_layout; default AUTO */
  /** For LAYOUT_EXPLICIT: a mixstage_channel_role per channel. */
  int channel_roles[MIXSTAGE_METER_MAX_CHANNELS];
  int true_peak;        /**< 1: measure true peak (BS.1770-4 Annex 2: 4x
                             interpolation by a 256-tap polyphase FIR with
                             peak refinement, within 0.2 dB of an ideal
                             interpolation to 20 kHz; about 70 vector
                             instructions per sample and channel); default 1 */
  int series;           /**< 1: keep the momentary and short-term series;
                             default 1 */
  /** Streaming meters: the longest series kept, in seconds (points after
   *  that are dropped and series_truncated is set); the series buffers are
   *  allocated at create.  Default 600.  mixstage_meter_analyse() sizes the
   *  series to the buffer and ignores this. */
  double series_max_seconds;
  /** A sample counts as clipped when |x| >= clip_level (linear, > 0).
   *  Default 1.0: a float render that a hard clipper or a converter pinned
   *  to full scale, and anything beyond it. */
  double clip_level;
  /** Streaming meters: 1 keeps every 100 ms gating block for exact
   *  integrated loudness and LRA, at the price of a small allocation in
   *  mixstage_meter_push() every 100 ms (not real-time safe; for offline
   *  streaming of long files).  Default 0 (histogram, real-time safe).
   *  mixstage_meter_analyse() always gates exactly. */
  int exact_gating;
  /** Channels (0-based) used for correlation, balance and mid/side;
   *  default 0 and 1.  Ignored for one channel. */
  int left_channel, right_channel;
} mixstage_meter_config;

/** Fills @p cfg with the defaults above.  Accepts NULL (does nothing). */
MIXSTAGE_EXPORT void mixstage_meter_config_init(mixstage_meter_config *cfg);

/** The measurements.  Per-channel arrays hold @p channels entries; the rest
 *  are zero. */
typedef struct mixstage_meter_report {
  int channels;          /**< channel count */
  double sample_rate;    /**< Hz */
  int64_t frames;        /**< frames measured */
  double seconds;        /**< frames / sample_rate */

  /* -- libebur128 -- */
  double integrated_lufs;     /**< gated integrated loudness (BS.1770-4), LUFS */
  double loudness_range_lu;   /**< EBU Tech 3342 loudness range, LU */
  double momentary_max_lufs;  /**< max momentary (400 ms) loudness from full
                                   windows read every 100 ms, LUFS */
  double short_term_max_lufs; /**< max short-term (3 s) loudness, LUFS */
  double momentary_lufs;      /**< momentary loudness at the end, LUFS */
  double short_term_lufs;     /**< short-term loudness at the end, LUFS */
  double sample_peak_dbfs[MIXSTAGE_METER_MAX_CHANNELS]; /**< per channel, dBFS */
  double sample_peak_max_dbfs; /**< highest over the channels, dBFS */
  /** Per channel BS.1770-4 Annex 2 true peak, dBTP; never below the sample
   *  peak; -INFINITY for every channel when config.true_peak is 0. */
  double true_peak_dbtp[MIXSTAGE_METER_MAX_CHANNELS];
  double true_peak_max_dbtp;  /**< highest over the channels, dBTP */

  /* -- written here -- */
  double rms_dbfs[MIXSTAGE_METER_MAX_CHANNELS]; /**< unweighted RMS per
                                   channel, dBFS (a full-scale sine reads -3.01) */
  double rms_total_dbfs;      /**< RMS over all samples of all channels, dBFS */
  double crest_db[MIXSTAGE_METER_MAX_CHANNELS]; /**< sample peak minus RMS per
                                   channel, dB (a sine: 3.01); NAN if silent */
  double crest_total_db;      /**< sample_peak_max_dbfs - rms_total_dbfs, dB */
  double dc_offset[MIXSTAGE_METER_MAX_CHANNELS]; /**< mean per channel,
                                   linear (full scale 1.0) */
  int64_t clipped_samples[MIXSTAGE_METER_MAX_CHANNELS]; /**< per channel */
  int64_t clipped_total;      /**< all channels (samples, not frames) */
  /** sum(L R) / sqrt(sum(L^2) sum(R^2)) over the whole signal, -1 .. +1
   *  (+1 mono-identical, 0 unrelated, -1 polarity-inverted); NAN for one
   *  channel or a silent side. */
  double correlation;
  /** RMS(L) / RMS(R) in dB: positive leans left; NAN for one channel or
   *  when both sides are silent (+-INFINITY when one side is). */
  double balance_db;
  double mid_rms_dbfs;        /**< RMS of (L + R) / 2, dBFS */
  double side_rms_dbfs;       /**< RMS of (L - R) / 2, dBFS */
  /** mid_rms_dbfs - side_rms_dbfs, dB: +INFINITY for dual mono, 0 for
   *  unrelated channels of equal level, -INFINITY for L = -R; NAN for one
   *  channel or silence. */
  double mid_side_ratio_db;

  /* -- series, owned by the report: free with mixstage_meter_report_clear() -- */
  /** Momentary loudness every 100 ms: point i is read at (i + 1) * 100 ms.
   *  Before the first 400 ms the window is padded with silence (as a meter
   *  rising from rest shows).  LUFS, -INFINITY for silence.  NULL if no
   *  series was kept. */
  double *momentary_series;
  double *short_term_series;  /**< short-term (3 s) loudness, same grid */
  int64_t series_count;       /**< points in each series */
  int series_truncated;       /**< 1 if points were dropped (streaming meter
                                   ran longer than series_max_seconds) */
} mixstage_meter_report;

/** Frees the report's series and zeroes it.  Accepts NULL. */
MIXSTAGE_EXPORT void mixstage_meter_report_clear(mixstage_meter_report *report);

/** The name of a channel role ("left", "lfe", ...), or NULL if out of range. */
MIXSTAGE_EXPORT const char *mixstage_channel_role_name(int role);

/** Measures a whole interleaved buffer.  Integrated loudness and loudness
 *  range are exact (every 100 ms block kept).  Edit-time: allocates.
 *  @param data      frames x channels interleaved floats (may be NULL if
 *                   frames is 0)
 *  @param frames    frame count, >= 0
 *  @param channels  1 .. MIXSTAGE_METER_MAX_CHANNELS
 *  @param rate      Hz, 8000 .. 768000, integer-valued
 *  @param cfg       settings; NULL for the defaults
 *  @param report    receives the measurements (zeroed first, so it can be
 *                   cleared even after an error)
 *  @return MIXSTAGE_OK;
 *          MIXSTAGE_ENULL if report is NULL, or data is NULL with frames > 0;
 *          MIXSTAGE_EINVAL for a negative frame count, a bad rate, a bad
 *          config field (layout, role, clip_level, left/right channel);
 *          MIXSTAGE_ECHANNELS for a channel count out of range, or a
 *          DUAL_MONO layout with more than one channel;
 *          MIXSTAGE_ENOMEM if memory runs out. */
MIXSTAGE_EXPORT int mixstage_meter_analyse(const float *data, int64_t frames, int channels,
                                           double rate, const mixstage_meter_config *cfg,
                                           mixstage_meter_report *report);

/** A streaming meter. */
typedef struct mixstage_meter mixstage_meter;

/** Creates a streaming meter.  Everything it needs is allocated here, so
 *  that mixstage_meter_push() never allocates (unless exact_gating is set).
 *  Integrated loudness and loudness range use libebur128's histogram mode (0.1 LU bins), which is
 *  what keeps memory fixed: they agree with mixstage_meter_analyse() within
 *  0.05 LU.  Edit-time.
 *  @param channels         1 .. MIXSTAGE_METER_MAX_CHANNELS
 *  @param rate             Hz, 8000 .. 768000, integer-valued
 *  @param max_block_frames the largest block mixstage_meter_push() will get,
 *                          1 .. 1048576
 *  @param cfg              settings; NULL for the defaults
 *  @param error            optional: receives MIXSTAGE_OK or the error as
 *                          for mixstage_meter_analyse(), plus
 *                          MIXSTAGE_EBLOCKSIZE for a bad max_block_frames
 *                          and MIXSTAGE_EINVAL for a series_max_seconds that
 *                          is negative, not finite or above 86400
 *  @return the meter, or NULL. */
MIXSTAGE_EXPORT mixstage_meter *mixstage_meter_create(int channels, double rate,
                                                      int max_block_frames,
                                                      const mixstage_meter_config *cfg,
                                                      int *error);

/** Destroys a meter; accepts NULL.  Edit-time. */
MIXSTAGE_EXPORT void mixstage_meter_destroy(mixstage_meter *meter);

/** Adds a block.  Real-time safe unless config.exact_gating is set: no
 *  allocation, lock, I/O or string look-up, and work linear in @p frames
 *  (libebur128 1.2's ebur128_add_frames_float() allocates only to keep
 *  exact gating blocks; in histogram mode its buffers are all made at
 *  create, which tests/check_meters.c verifies with glibc's mallinfo2()).
 *  Not marked MIXSTAGE_NONBLOCKING because libebur128 is not annotated.
 *  @param meter        the meter
 *  @param interleaved  frames x channels floats (may be NULL if frames is 0)
 *  @param frames       0 .. max_block_frames
 *  @return MIXSTAGE_OK; MIXSTAGE_ENULL; MIXSTAGE_EBLOCKSIZE for a negative
 *          or oversized block; MIXSTAGE_ENOMEM only with exact_gating, when
 *          a gating block cannot be kept (the measurement is then
 *          incomplete). */
MIXSTAGE_EXPORT int mixstage_meter_push(mixstage_meter *meter, const float *interleaved,
                                        int frames);

/** The current momentary (400 ms) and short-term (3 s) loudness, LUFS, for
 *  a live display.  Real-time safe; call from the thread that pushes.
 *  Either output may be NULL.
 *  @return MIXSTAGE_OK; MIXSTAGE_ENULL if meter is NULL. */
MIXSTAGE_EXPORT int mixstage_meter_loudness_now(mixstage_meter *meter, double *momentary_lufs,
                                                double *short_term_lufs);

/** The measurements of everything pushed since create.  Edit-time
 *  (allocates the series copies); call when no push is running.
 *  @return MIXSTAGE_OK; MIXSTAGE_ENULL; MIXSTAGE_ENOMEM. */
MIXSTAGE_EXPORT int mixstage_meter_get_report(mixstage_meter *meter,
                                              mixstage_meter_report *report);

/* ======================== end of meters ================================== */

/* ======================== meters inside the graph ========================= */
/*
 * A streaming meter can be attached to a strip or a bus (the mix bus too) at
 * a tap, and the graph pushes that unit's audio into it as it processes:
 * through mixstage_graph_process*() in a real-time host as through
 * mixstage_graph_render() offline (with render threads too: a unit, and so
 * its meters, is processed by one thread at a time).  Read the figures with
 * mixstage_meter_get_report() once no processing is running.  Dynamics nodes
 * can also keep a history of their gain reduction, one point per 32-frame
 * control cell:
 *
 *     mixstage_meter *m = mixstage_meter_create(2, 48000, 1024, NULL, &st);
 *     mixstage_bus_attach_meter(mixstage_graph_mix_bus(g), m,
 *                               MIXSTAGE_TAP_POST_FADER);
 *     mixstage_node_enable_gr_history(comp, 60.0);     // the last minute
 *     mixstage_graph_render(g, NULL, out, n);
 *     mixstage_meter_get_report(m, &r);                // the mix as rendered
 *     int64_t np = mixstage_node_gr_history(comp, NULL, 0, NULL, NULL);
 *     float *gr = malloc(sizeof(float) * np);
 *     int64_t first; int hop;
 *     mixstage_node_gr_history(comp, gr, np, &first, &hop);
 *     // gr[i]: reduction (dB) in frames first + i*hop .. first + (i+1)*hop - 1
 *     mixstage_bus_attach_meter(mixstage_graph_mix_bus(g), NULL,
 *                               MIXSTAGE_TAP_POST_FADER);  // detach
 *     mixstage_meter_destroy(m);
 *
 * What is measured: everything processed since the last prepare.
 * mixstage_graph_prepare() - which every render and bounce runs first -
 * restarts the attached meters (as if freshly created) and empties the
 * histories, so after a render they hold that render.  Only the graph's main
 * pass is measured: the forked passes of a stem bounce (and of the masters
 * and deliveries built on bounces, whose main pass is the production mix)
 * are not, so nothing is counted twice.
 *
 * Frames are graph frames: each unit is measured at its own place in the
 * latency-compensated graph.  A render with remove_latency drops the first
 * mixstage_graph_latency() frames of the mix-bus output; the mix-bus meter
 * also sees those (silent) frames, and the history counts them.  With no
 * latency in the graph, graph frame = rendered frame.
 */

/** Attaches @p meter to @p strip at @p tap: MIXSTAGE_TAP_PRE_FADER (after the
 *  insert chain: the strip's own channels) or MIXSTAGE_TAP_POST_FADER (after
 *  fader, pan and mute: what the strip sends to its output bus, in that
 *  bus's channels).  One meter per strip per tap: a new one replaces the old;
 *  @p meter NULL detaches.  A meter may be attached at one tap of one graph
 *  only (checked within the graph).  The graph borrows the meter and never
 *  destroys it: detach it (or destroy the graph) before destroying the
 *  meter.  Edit-time: takes effect at the next process call; not while
 *  another thread processes the graph.  The channel count is checked again
 *  by prepare (routing may change after the attach).  The engine feeds the
 *  meter through its own planar path, so the meter's max_block_frames does
 *  not limit the graph's block size.
 *  @param tap  MIXSTAGE_TAP_PRE_FADER or MIXSTAGE_TAP_POST_FADER
 *  @return MIXSTAGE_OK; MIXSTAGE_ENULL (strip NULL);
 *          MIXSTAGE_EINVAL (bad tap; a meter with exact_gating, which
 *          allocates while pushing; a meter at another sample rate than the
 *          graph's; a meter already attached at another tap);
 *          MIXSTAGE_ECHANNELS (the meter's channel count differs from the
 *          strip's at that tap).  The message names the strip. */
MIXSTAGE_EXPORT int mixstage_strip_attach_meter(mixstage_strip *strip, mixstage_meter *meter,
                                                int tap);

/** As mixstage_strip_attach_meter(), for a bus, the mix bus included:
 *  PRE = after the bus's inserts, POST = after its fader, pan and mute (for
 *  the mix bus, the graph's output).  The message names the bus. */
MIXSTAGE_EXPORT int mixstage_bus_attach_meter(mixstage_bus *bus, mixstage_meter *meter, int tap);

/** Keeps the gain reduction of a dynamics node (the node types that report
 *  one: compressor, gate, bus_compressor, limiter, multiband) per 32-frame
 *  control cell, in a ring holding @p seconds (rounded up to whole cells;
 *  when full, the oldest points are overwritten).  Each point is the
 *  reduction the node reports at the end of its cell, in dB >= 0, taken on
 *  the same grid whatever the host's block size; a bypassed or muted node
 *  records 0.  A point is written when its cell completes.  A jump in time
 *  (mixstage_graph_locate(), a new render) starts the history afresh.
 *  The ring is allocated here (0 frees it); calling again resizes and
 *  empties it.  Edit-time.
 *  @param seconds  0 .. 86400, at the graph's sample rate
 *  @return MIXSTAGE_OK; MIXSTAGE_ENULL; MIXSTAGE_ERANGE (seconds);
 *          MIXSTAGE_EUNSUPPORTED (the node type reports no gain reduction;
 *          the message names the node); MIXSTAGE_ENOMEM. */
MIXSTAGE_EXPORT int mixstage_node_enable_gr_history(mixstage_node *node, double seconds);

/** Copies the newest min(max_points, available) points of the history,
 *  oldest first, into @p out_db (dB of reduction, >= 0).  Edit-time read:
 *  not while the graph processes.
 *  @param out_db      receives the points; NULL to ask for the count only
 *  @param max_points  capacity of @p out_db in points, >= 0
 *  @param first_frame optional: the graph frame where the cell of the first
 *                     copied point starts (with @p out_db NULL: of the
 *                     oldest point available); 0 when none
 *  @param hop_frames  optional: frames per point, always 32
 *                     (MIXSTAGE_CONTROL_FRAMES)
 *  @return the number of points available (it may exceed max_points; then
 *          the newest max_points are copied), 0 when none or when history
 *          is off; MIXSTAGE_ENULL if @p node is NULL; MIXSTAGE_EINVAL for a
 *          negative max_points. */
MIXSTAGE_EXPORT int64_t mixstage_node_gr_history(const mixstage_node *node, float *out_db,
                                                 int64_t max_points, int64_t *first_frame,
                                                 int *hop_frames);

/** Empties the history (keeps the ring).  Edit-time.
 *  @return MIXSTAGE_OK; MIXSTAGE_ENULL. */
MIXSTAGE_EXPORT int mixstage_node_clear_gr_history(mixstage_node *node);

/* ======================== end of meters inside the graph ================== */

#ifdef __cplusplus
}
#endif
#endif
