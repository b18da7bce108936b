/* libmixstage — the loudness-targeted final master, album mastering and the
 * streaming-normalisation report.
 *
 * Tutorial
 * --------
 * Put a true-peak limiter with role MIXSTAGE_ROLE_MASTERING on the mix bus
 * (after any mastering EQ), then:
 *
 *     mixstage_master_config mc;
 *     mixstage_master_config_init(&mc);                 // streaming: -14 LUFS, -1 dBTP
 *     mixstage_master_config_preset(&mc, "club");       // or any preset, or set fields
 *     mixstage_master_report rep;
 *     float *audio = NULL;
 *     int rc = mixstage_graph_master(graph, &mc, NULL, &rep, &audio);
 *     if (rc < 0) fprintf(stderr, "%s\n", mixstage_graph_last_error(graph));
 *     printf("%.2f LUFS, %.2f dBTP after %d passes\n", rep.integrated_lufs,
 *            rep.true_peak_dbtp, rep.iteration_count);
 *     for (int i = 0; i < MIXSTAGE_STREAMING_SERVICES; i++)
 *       printf("%s would play it at %+.1f dB\n", rep.streaming[i].service,
 *              rep.streaming[i].gain_db);
 *     mixstage_free(audio);
 *
 * How the master is found: the master is the "mix" of the built-in "final"
 * profile (mastering chain on, placeholder limiter bypassed), measured as
 * mixstage_measure() measures (ITU-R BS.1770-4 integrated loudness and true
 * peak, libebur128).  The last limiter of role mastering on the mix bus gets
 * the target ceiling with true-peak detection on, and its input gain g (dB)
 * is corrected until the loudness is within the tolerance of the target.
 *
 * Only that limiter, the inserts after it and the mix-bus fader change
 * from one measuring pass to the next, so the graph is rendered once: the
 * mix is captured where it enters the limiter (everything before it as the
 * final profile renders it), and each pass runs fresh copies of the limiter
 * and the inserts after it, then the mix bus's fader, pan and mute, over
 * the capture, on the engine's control grid.  A pass gives, sample for
 * sample, what a bounce of the final profile with its settings gives, and
 * the audio returned is the best pass itself (no render at the end).  The
 * capture is kept in memory up to 128 MiB (4 bytes per sample: 5.8 minutes
 * of stereo at 48 kHz; the passes' outputs then need twice that again) and
 * beyond that spilled, with the passes' outputs, to temporary files in
 * $TMPDIR (else /tmp), which are unlinked as soon as they are created:
 * nothing is left behind, whatever ends the call.  A graph where copies
 * cannot reproduce the render is mastered by bouncing the final profile for
 * every pass instead, with the same result at the cost of a render per pass:
 * a sidechain key or an automation lane on the limiter or an insert after
 * it, a lane on the mix bus's fader, pan or width, a placeholder or
 * mastering stage on a bus other than the mix bus, or NaN/infinity in the
 * mix.  The capture runs on the calling thread (render->threads is used by
 * those full bounces only).
 * Loudness L(g) rises with slope 1 below the limiter's threshold and ever
 * more slowly as it limits harder (L is concave).  Each step is a secant
 * step on the last two measurements, slope clamped to [0.05, 1], at most
 * 4 dB per LU still missing, aimed half the tolerance past the target (both
 * slope-1 and secant steps fall short on a concave curve):
 *   - from below, the secant under-steps, so it approaches the target
 *     without overshooting;
 *   - from above, while the measured true peak is more than 1 dB under the
 *     limiter's ceiling the limiter is idle and the slope is exactly 1;
 *     otherwise the root lies between the slope-1 and secant predictions
 *     and their mean is taken;
 *   - once gains known to be too quiet and too loud bracket the target,
 *     steps stay strictly inside the bracket (bisecting otherwise);
 *   - if more gain made the master quieter (BS.1770's relative gate admits
 *     quiet passages the limiter has raised, or the release pumps), the top
 *     of the range (+36 dB) is probed to bracket a crossing or prove the
 *     target out of reach.
 * If the measured true peak exceeds the ceiling (the limiter's detector and
 * the meter's interpolator differ slightly) the limiter's ceiling is lowered
 * by the excess plus 0.02 dB and the step repeated.  Nothing is restored:
 * the graph is left at the master reported (the best attempt if the search
 * did not converge).
 *
 * The master owns the mix-bus fader: it follows the inserts, so any setting
 * but 0 dB would move the true peak off the ceiling the limiter holds.  It is
 * set to 0 dB, or, for a target quieter than the material at -12 dB input
 * gain (the limiter's lowest), below 0 dB for the rest, which lowers
 * loudness and true peak together (only when
 * mixstage_master_config.use_bus_fader is 1, the default).  A target that
 * needs more than +36 dB fails with MIXSTAGE_ERANGE.  Other mix-bus stages
 * after the limiter (pan, width, further inserts) are measured as they are.
 *
 * Cost: one render of the graph (the capture; a little less than a
 * production render, the mastering chain being bypassed) plus, per pass,
 * the limiter and the inserts after it and one measurement; typical masters
 * take 2-4 passes, programmes whose loudness curve bends sharply (sparse
 * material pushed to club levels) 5-8.  Progress (render->progress) runs
 * over the capture as over a render, then stays at its end; it is called
 * before every pass too, so returning non-zero cancels between passes
 * (MIXSTAGE_ECANCELLED).
 *
 * Side effects beyond the limiter and fader: the graph is left unprepared
 * (as after a bounce), meters attached to its units are not fed by the
 * capture, and gain-reduction histories hold the capture's render.
 *
 * Every call here is edit-time: it renders offline, allocates, and must not
 * run while another thread processes the graph.
 */
#ifndef MIXSTAGE_MASTER_H
#define MIXSTAGE_MASTER_H

#include "common.h"
#include "graph.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Most measuring passes one master records (and may use). */
#define MIXSTAGE_MASTER_MAX_ITERATIONS 24
/** Number of streaming services in a report. */
#define MIXSTAGE_STREAMING_SERVICES 5

/** What to master to; fill with mixstage_master_config_init(). */
typedef struct mixstage_master_config {
  double target_lufs;   /**< integrated loudness target, LUFS, -40 .. -3; default -14 */
  double ceiling_dbtp;  /**< true-peak ceiling, dBTP, -12 .. 0; default -1 */
  double tolerance_lu;  /**< accepted |loudness - target|, LU, 0.05 .. 3; default 0.3 */
  int max_iterations;   /**< measuring passes allowed, 2 .. MIXSTAGE_MASTER_MAX_ITERATIONS;
                             default 12 */
  int use_bus_fader;    /**< 1 (default): reach targets below the limiter's input-gain
                             range with the mix-bus fader; 0: MIXSTAGE_ERANGE instead */
} mixstage_master_config;

/** Fills @p cfg with the "streaming" preset and the defaults above.
 *  Accepts NULL (does nothing). */
MIXSTAGE_EXPORT void mixstage_master_config_init(mixstage_master_config *cfg);

/** Presets by index: 0 "streaming" (-14 LUFS, -1 dBTP), 1 "apple-music"
 *  (-16, -1), 2 "ebu-r128" (-23, -1), 3 "club" (-8, -0.3).  The name of the
 *  @p index-th preset, or NULL past the end. */
MIXSTAGE_EXPORT const char *mixstage_master_preset_name(int index);
/** Sets the target and ceiling of @p cfg from the preset named @p name,
 *  leaving its other fields.  Errors: MIXSTAGE_ENULL, MIXSTAGE_ENOTFOUND. */
MIXSTAGE_EXPORT int mixstage_master_config_preset(mixstage_master_config *cfg, const char *name);
/** As mixstage_master_config_preset(), by index.  Errors: MIXSTAGE_ENULL,
 *  MIXSTAGE_ERANGE. */
MIXSTAGE_EXPORT int mixstage_master_config_preset_index(mixstage_master_config *cfg, int index);

/** What one streaming service's loudness normalisation would do to a master. */
typedef struct mixstage_streaming_gain {
  const char *service;   /**< "Spotify", "Apple Music", "YouTube", "Tidal", "Amazon Music" (static) */
  double reference_lufs; /**< the service's playback reference, LUFS */
  int turns_up;          /**< 1 if the service also raises quiet masters (Spotify, up to
                              a -1 dBTP true peak) */
  double gain_db;        /**< the playback gain it would apply, dB (negative: turned down) */
} mixstage_streaming_gain;

/** The streaming report for a master of @p integrated_lufs and
 *  @p true_peak_dbtp, written to @p out[0 .. MIXSTAGE_STREAMING_SERVICES-1].
 *
 *  The model, from the services' public descriptions (dates unknown, policies
 *  change; treat as documented assumptions): Spotify normalises to -14 LUFS
 *  ("normal") both ways, but raises a quiet master only as far as its true
 *  peak stays at or below -1 dBTP: gain = min(-14 - L, max(0, -1 - TP)) when
 *  L < -14, else -14 - L.  Apple Music (Sound Check, -16 LUFS), YouTube
 *  (-14), Tidal (-14) and Amazon Music (-14) are modelled as turning loud
 *  masters down only: gain = min(0, reference - L).  A silent master
 *  (L = -inf) gets 0 dB from every service.
 *  Errors: MIXSTAGE_ENULL. */
MIXSTAGE_EXPORT int mixstage_master_streaming_report(double integrated_lufs, double true_peak_dbtp,
                                                     mixstage_streaming_gain *out);

/** One measuring pass of the search. */
typedef struct mixstage_master_step {
  double input_gain_db;   /**< the limiter's input gain for this pass, dB */
  double bus_fader_db;    /**< the mix-bus fader for this pass, dB */
  double ceiling_db;      /**< the limiter's ceiling for this pass, dB */
  double integrated_lufs; /**< measured integrated loudness, LUFS */
  double true_peak_dbtp;  /**< measured true peak, dBTP */
} mixstage_master_step;

/** The report of a master. */
typedef struct mixstage_master_report {
  double target_lufs, ceiling_dbtp, tolerance_lu; /**< as asked */
  double integrated_lufs;   /**< of the final master, LUFS */
  double true_peak_dbtp;    /**< of the final master, dBTP */
  double loudness_range_lu; /**< of the final master, EBU Tech 3342 LU */
  double input_gain_db;     /**< limiter input gain left set, dB */
  double bus_fader_db;      /**< mix-bus fader left set, dB */
  double limiter_ceiling_db; /**< limiter ceiling left set, dB (the target ceiling, or
                                  lower if the measured true peak needed it) */
  int64_t frames;           /**< length of the master in frames */
  int converged;            /**< 1 if on target within tolerance and true-peak safe */
  int iteration_count;      /**< measuring passes made (also the entries used in @c steps) */
  mixstage_master_step steps[MIXSTAGE_MASTER_MAX_ITERATIONS];
  mixstage_streaming_gain streaming[MIXSTAGE_STREAMING_SERVICES];
} mixstage_master_report;

/** Masters @p graph to @p cfg (see the tutorial).
 *  @param graph      the graph; its mix bus must hold a limiter of role mastering
 *  @param cfg        target; NULL for the defaults (streaming)
 *  @param render     render settings (length, tail, latency removal, progress and
 *                    cancellation; threads for full bounces); NULL for the defaults
 *  @param out        receives the report; may be NULL
 *  @param audio_out  optional: receives the final master, interleaved with the
 *                    mix bus's channels, out->frames frames, allocated with
 *                    malloc (free with mixstage_free()); NULL on error
 *  @return MIXSTAGE_OK;
 *          MIXSTAGE_ENULL (graph);
 *          MIXSTAGE_EINVAL: no mastering limiter on the mix bus (the last-error
 *          message names the mix bus and says to add one), or a config field out
 *          of range;
 *          MIXSTAGE_ERANGE: the target needs an input gain beyond the limiter's
 *          range (message gives the figures), or the programme is silent;
 *          MIXSTAGE_ESTATE: not converged within max_iterations (the report and
 *          audio hold the best attempt; the graph is left at it);
 *          MIXSTAGE_ECANCELLED: the progress callback asked to stop;
 *          MIXSTAGE_EIO: a temporary file could not be created or written (the
 *          message names the folder);
 *          MIXSTAGE_ENOMEM, or any render error.  Edit-time. */
MIXSTAGE_EXPORT int mixstage_graph_master(mixstage_graph *graph, const mixstage_master_config *cfg,
                                          const mixstage_render_config *render,
                                          mixstage_master_report *out, float **audio_out);

/** Album mastering report. */
typedef struct mixstage_album_report {
  double album_gain_db;          /**< the loudness shift applied to every song, dB */
  double combined_before_lufs;   /**< integrated loudness of all songs concatenated,
                                      before, LUFS (limiters at the target ceiling) */
  double combined_lufs;          /**< the same, after mastering */
} mixstage_album_report;

/** Masters @p n graphs as one album: one album gain A = target - (combined
 *  loudness of all songs, measured as if concatenated, libebur128's
 *  ebur128_loudness_global_multiple), so every song's loudness moves by the
 *  same A and their relative loudness is kept; each song is then mastered to
 *  its own loudness + A with mixstage_graph_master() (to half the tolerance,
 *  so differences between songs stay within the tolerance), true-peak safe.
 *  Because limiting changes a song's dynamics, the combined loudness is
 *  re-measured and A corrected until it is within the tolerance too.  Each
 *  song's mix is captured once for all of this (see the tutorial; the 128 MiB
 *  in-memory budget is shared between the songs); the album's songs are
 *  held in memory while their combined loudness is measured.
 *  @param graphs  n graphs (sample rates may differ)
 *  @param cfg     target; NULL for the defaults
 *  @param render  render settings; NULL for the defaults
 *  @param album   optional: the album figures
 *  @param reports optional: n reports, one per song
 *  @return as mixstage_graph_master(); on error the last-error message is set
 *          on the graph at fault.  Edit-time. */
MIXSTAGE_EXPORT int mixstage_album_master(mixstage_graph *const *graphs, int n,
                                          const mixstage_master_config *cfg,
                                          const mixstage_render_config *render,
                                          mixstage_album_report *album,
                                          mixstage_master_report *reports);

#ifdef __cplusplus
}
#endif
#endif
