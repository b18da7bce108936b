/* libmixstage — gain staging, mix assessment and reference A/B, as data.
 *
 * Tutorial
 * --------
 * Gain staging: before any processing, engineers bring every source to a
 * working level (by default -18 dBFS RMS with peaks at or below -6 dBFS).
 *
 *     mixstage_gain_stage_config gc;
 *     mixstage_gain_stage_config_init(&gc);      // -18 dBFS RMS, -6 dBFS peak
 *     mixstage_gain_stage_report *rep;
 *     mixstage_graph_gain_stage(graph, &gc, 1, &rep);   // 1: apply clip gains
 *     for (int i = 0; i < rep->count; i++)
 *       printf("%s: %+.1f dB%s\n", rep->strips[i].name,
 *              rep->strips[i].result.clip_gain_db,
 *              rep->strips[i].result.clips ? " (clips)" : "");
 *     mixstage_gain_stage_report_free(rep);
 *
 * Mix assessment: mono compatibility of a mix, phase trouble between two
 * strips (a polarity flip or a time offset between strongly correlated
 * signals, such as two microphones on one drum) and masking (the 1/3-octave
 * bands where two strips compete most), from buffers or from a graph
 * (mixstage_graph_assess(), which bounces the per-strip stems as they sound
 * in the mix).
 *
 * Reference A/B: mixstage_ab_compare() compares two buffers loudness-matched
 * (integrated loudness per ITU-R BS.1770 through mixstage_measure());
 * mixstage_ab_write_pair() writes the matched pair for listening.
 *
 * Every call here is edit-time: it may allocate and (for file writing) do
 * I/O; never call it from an audio thread.  Buffers are interleaved 32-bit
 * float, counted in frames (one frame = one sample per channel).  Levels are
 * unweighted and in dBFS with full scale +-1.0 (a full-scale sine has an RMS
 * of -3.01 dBFS, as in mixstage_file_stats); silence reads -INFINITY.
 */
#ifndef MIXSTAGE_ASSESS_H
#define MIXSTAGE_ASSESS_H

#include "common.h"
#include "graph.h"
#include "io.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- frequency bands ----------------------------------------------------- */

/** 1/3-octave bands 31.5 Hz .. 16 kHz (IEC 61260 base-10 centres). */
#define MIXSTAGE_THIRD_OCTAVE_BANDS 28
/** Octave bands 31.5 Hz .. 16 kHz. */
#define MIXSTAGE_OCTAVE_BANDS 10

/** Nominal centre of 1/3-octave band @p band (0 = 31.5 Hz .. 27 = 16 kHz) in
 *  Hz, or 0 past the end. */
MIXSTAGE_EXPORT double mixstage_third_octave_hz(int band);
/** Nominal centre of octave band @p band (0 = 31.5 Hz .. 9 = 16 kHz) in Hz,
 *  or 0 past the end. */
MIXSTAGE_EXPORT double mixstage_octave_hz(int band);

/** Mean-square level of each band, in dBFS (all channels pooled, so a
 *  full-scale sine in a band reads -3.01), from a Hann-windowed Welch power
 *  spectrum (frames of 2^k samples, about 0.34 s, half overlap).  Each FFT bin
 *  belongs to the band holding its centre frequency; bands above Nyquist
 *  read -INFINITY.
 *  @param data          frames x channels interleaved
 *  @param third_octave  1: MIXSTAGE_THIRD_OCTAVE_BANDS bands; 0: MIXSTAGE_OCTAVE_BANDS
 *  @param levels_dbfs   receives one level per band
 *  @return MIXSTAGE_OK, MIXSTAGE_ENULL, MIXSTAGE_EINVAL (frames < 1,
 *          channels outside 1 .. 64, rate outside 8000 .. 768000),
 *          MIXSTAGE_ENOMEM. */
MIXSTAGE_EXPORT int mixstage_band_levels(const float *data, int64_t frames, int channels,
                                         double rate, int third_octave, double *levels_dbfs);

/* ---- gain staging -------------------------------------------------------- */

/** Targets of gain staging; fill with mixstage_gain_stage_config_init(). */
typedef struct mixstage_gain_stage_config {
  double target_rms_dbfs; /**< RMS target, default -18 dBFS */
  double max_peak_dbfs;   /**< sample peaks at or below this, default -6 dBFS */
  double quiet_dbfs;      /**< sources with an RMS below this are flagged too
                               quiet, default -50 dBFS */
} mixstage_gain_stage_config;

/** Fills @p cfg with the defaults; accepts NULL. */
MIXSTAGE_EXPORT void mixstage_gain_stage_config_init(mixstage_gain_stage_config *cfg);

/** Gain staging of one source. */
typedef struct mixstage_gain_stage_result {
  double rms_before_dbfs;  /**< RMS of the source at 0 dB clip gain */
  double peak_before_dbfs; /**< sample peak of the source at 0 dB clip gain */
  /** The clip gain: min(target_rms - rms, max_peak - peak), clamped to the
   *  strip clip-gain range -60 .. +36 dB; 0 for silence. */
  double clip_gain_db;
  double rms_after_dbfs;   /**< RMS with the clip gain */
  double peak_after_dbfs;  /**< sample peak with the clip gain */
  int peak_limited;        /**< 1 if the peak target, not the RMS, set the gain */
  int clips;               /**< 1 if the source peaks at or above 0 dBFS */
  int too_quiet;           /**< 1 if the source's RMS is below quiet_dbfs (or silent) */
  int clamped;             /**< 1 if the clip-gain range cut the suggested gain */
} mixstage_gain_stage_result;

/** Suggests the clip gain that brings a buffer to the targets.
 *  @param data      frames x channels interleaved
 *  @param cfg       targets, or NULL for the defaults
 *  @return MIXSTAGE_OK, MIXSTAGE_ENULL, MIXSTAGE_EINVAL (frames < 1, channels
 *          outside 1 .. 64, a non-finite target). */
MIXSTAGE_EXPORT int mixstage_gain_stage_buffer(const float *data, int64_t frames, int channels,
                                               const mixstage_gain_stage_config *cfg,
                                               mixstage_gain_stage_result *result);

/** One strip of a graph's gain staging. */
typedef struct mixstage_gain_stage_strip {
  int index;                         /**< strip index in the graph */
  char name[64];                     /**< strip name (truncated to 63 bytes) */
  int measured_channels;             /**< channels measured (1 if a routing folded
                                          a stereo strip to mono on its way to the mix) */
  mixstage_gain_stage_result result; /**< the figures */
} mixstage_gain_stage_strip;

/** The gain staging of a graph: one entry per strip with a source. */
typedef struct mixstage_gain_stage_report {
  int count;                         /**< entries in @p strips */
  mixstage_gain_stage_strip *strips; /**< owned by the report */
  int clipping;                      /**< strips flagged clips */
  int too_quiet;                     /**< strips flagged too quiet */
} mixstage_gain_stage_report;

/** Measures every strip's source and suggests (or with @p apply = 1 sets
 *  through mixstage_strip_set_clip_gain_db()) the clip gain that puts it at
 *  the targets.
 *
 *  Each strip is rendered soloed over its source length (no tail) with its
 *  inserts bypassed, its sends and every other send muted, clip gain 0 dB,
 *  fader 0 dB, every bus on the way neutral (fader 0 dB, inserts bypassed,
 *  unmuted), and a mono strip or bus feeding a wider one panned hard left,
 *  where the constant-power law has unity gain: so the measured signal is the
 *  source itself.  Everything changed is restored afterwards (bypass, solo,
 *  mute, clip gain, fader, pan, width and send mutes).
 *  Automation lanes on those controls override the neutral settings: a strip
 *  whose clip gain, fader or pan is automated is measured with its automation.
 *  Strips without a source (0 frames) are skipped.
 *
 *  @param cfg     targets, or NULL for the defaults
 *  @param apply   1 to set the clip gains, 0 to only suggest them
 *  @param report  receives a report to free with mixstage_gain_stage_report_free()
 *  @return MIXSTAGE_OK, MIXSTAGE_ENULL, MIXSTAGE_EINVAL (bad target),
 *          MIXSTAGE_ENOMEM, or any prepare or render error. */
MIXSTAGE_EXPORT int mixstage_graph_gain_stage(mixstage_graph *graph,
                                              const mixstage_gain_stage_config *cfg, int apply,
                                              mixstage_gain_stage_report **report);
/** Frees a report; accepts NULL. */
MIXSTAGE_EXPORT void mixstage_gain_stage_report_free(mixstage_gain_stage_report *report);

/* ---- mix assessment ------------------------------------------------------ */

/** Mono compatibility of a stereo signal (channels 0 and 1). */
typedef struct mixstage_mono_compat {
  /** sum(L R) / sqrt(sum(L^2) sum(R^2)): +1 mono, 0 unrelated, -1 opposite
   *  polarity (a correlation meter's reading over the whole buffer) */
  double correlation;
  /** Level lost when the mix folds to mono, in dB (>= 0 means quieter):
   *  -10 log10(sum((L+R)^2) / (2 (sum(L^2) + sum(R^2)))).  0 for identical
   *  channels, 3.01 for unrelated ones of equal level, +INFINITY for
   *  channels that cancel. */
  double mono_loss_db;
  /** 10 log10 of side over mid power, M = (L+R)/2, S = (L-R)/2: the stereo
   *  width (-INFINITY for mono). */
  double side_to_mid_db;
  /** Level of R over L in dB (0 balanced). */
  double balance_db;
} mixstage_mono_compat;

/** Mono compatibility of a buffer.  A mono buffer reads correlation 1 and
 *  no loss.  @return MIXSTAGE_OK, MIXSTAGE_ENULL, MIXSTAGE_EINVAL. */
MIXSTAGE_EXPORT int mixstage_mono_compat_buffer(const float *data, int64_t frames, int channels,
                                                mixstage_mono_compat *result);

/** Settings of the assessment; fill with mixstage_assess_config_init(). */
typedef struct mixstage_assess_config {
  double max_lag_ms;       /**< largest time offset searched, default 20 ms */
  double phase_threshold;  /**< |correlation| from which two strips count as
                                strongly correlated, default 0.5 */
  double masking_floor_dbfs; /**< bands quieter than this in either strip do
                                  not mask, default -70 dBFS */
} mixstage_assess_config;

/** Fills @p cfg with the defaults; accepts NULL. */
MIXSTAGE_EXPORT void mixstage_assess_config_init(mixstage_assess_config *cfg);

/** The relation in time and polarity of two signals. */
typedef struct mixstage_phase_result {
  /** Lag in frames at the cross-correlation peak: b(n) ~ sign * a(n - offset),
   *  so a positive offset means b arrives late. */
  int64_t offset_frames;
  int sign;                    /**< +1 or -1: the polarity at the peak */
  double correlation;          /**< normalised correlation at the peak (signed) */
  double zero_lag_correlation; /**< normalised correlation as they are */
  int correlated;              /**< |correlation| >= the threshold */
  int polarity_flip;           /**< correlated with sign -1 */
  int time_offset;             /**< correlated with offset_frames != 0 */
} mixstage_phase_result;

/** Cross-correlates two equally long buffers (channels summed to mono)
 *  over lags up to cfg->max_lag_ms, by FFT.
 *  @return MIXSTAGE_OK, MIXSTAGE_ENULL, MIXSTAGE_EINVAL, MIXSTAGE_ENOMEM. */
MIXSTAGE_EXPORT int mixstage_phase_pair(const float *a, const float *b, int64_t frames,
                                        int channels, double rate,
                                        const mixstage_assess_config *cfg,
                                        mixstage_phase_result *result);

/** How much two strips compete for the same frequencies. */
typedef struct mixstage_masking_pair {
  int a, b;          /**< the two strips (indices into the caller's list) */
  /** Masking score in dB: the largest band overlap. */
  double score_db;
  int band;          /**< 1/3-octave band of the largest overlap; -1 if the
                          two share no band above the floor (score -INFINITY) */
  double band_hz;    /**< its nominal centre (0 if band is -1) */
  /** Per 1/3-octave band: min(La, Lb) - 0.5 |La - Lb| (levels in dBFS): high
   *  where both are loud and close in level; -INFINITY where either is
   *  below the floor. */
  double overlap_db[MIXSTAGE_THIRD_OCTAVE_BANDS];
} mixstage_masking_pair;

/** Ranks all pairs among @p count equally long buffers by masking, highest
 *  first.  @p pairs receives up to @p capacity pairs; @p npairs the number
 *  written (count (count - 1) / 2 when it fits).
 *  @return MIXSTAGE_OK, MIXSTAGE_ENULL, MIXSTAGE_EINVAL (count < 2, ...),
 *          MIXSTAGE_ENOMEM. */
MIXSTAGE_EXPORT int mixstage_masking_rank(const float *const *strips, int count, int64_t frames,
                                          int channels, double rate,
                                          const mixstage_assess_config *cfg,
                                          mixstage_masking_pair *pairs, int capacity, int *npairs);

/** A flagged phase relation between two strips of a graph. */
typedef struct mixstage_phase_pair_entry {
  int a, b;                     /**< strip indices */
  mixstage_phase_result result; /**< the figures */
} mixstage_phase_pair_entry;

/** The assessment of a graph's mix. */
typedef struct mixstage_mix_assessment {
  mixstage_mono_compat mono;         /**< of the production mix */
  int strip_count;                   /**< strips assessed */
  char (*strip_names)[64];           /**< their names, by strip index */
  int phase_count;                   /**< strongly correlated pairs (flagged) */
  mixstage_phase_pair_entry *phase;  /**< those pairs */
  int masking_count;                 /**< every pair, ranked */
  mixstage_masking_pair *masking;    /**< ranked, highest first */
} mixstage_mix_assessment;

/** Assesses a graph: bounces the mix-stems profile (every strip as it sounds
 *  in the mix, sends muted) and the production mix, then reports the mix's
 *  mono compatibility, every strongly correlated pair of strips, and all pairs
 *  ranked by masking.
 *  @param cfg  settings, or NULL for the defaults
 *  @param out  receives the assessment; free with mixstage_mix_assessment_free()
 *  @return MIXSTAGE_OK, MIXSTAGE_ENULL, MIXSTAGE_ENOMEM, or any bounce error. */
MIXSTAGE_EXPORT int mixstage_graph_assess(mixstage_graph *graph, const mixstage_assess_config *cfg,
                                          mixstage_mix_assessment **out);
/** Frees an assessment; accepts NULL. */
MIXSTAGE_EXPORT void mixstage_mix_assessment_free(mixstage_mix_assessment *a);

/* ---- reference A/B ----------------------------------------------------------- */

/** A loudness-matched comparison of B (the mix) against A (the reference).
 *  Differences are B - A. */
typedef struct mixstage_ab_result {
  /** Gain in dB that brings B to A's integrated loudness (A - B). */
  double match_gain_db;
  double a_lufs, b_lufs;     /**< integrated loudness (BS.1770-4) */
  double loudness_diff_lu;   /**< b_lufs - a_lufs */
  double a_lra_lu, b_lra_lu, lra_diff_lu;       /**< EBU Tech 3342 loudness range */
  double a_crest_db, b_crest_db, crest_diff_db; /**< sample peak over RMS */
  double a_width_db, b_width_db, width_diff_db; /**< side over mid power (see
                                                     mixstage_mono_compat) */
  double a_correlation, b_correlation, correlation_diff; /**< L/R correlation */
  double band_hz[MIXSTAGE_OCTAVE_BANDS];          /**< octave centres 31.5 Hz .. 16 kHz */
  double a_band_dbfs[MIXSTAGE_OCTAVE_BANDS];      /**< band levels of A */
  double b_band_dbfs[MIXSTAGE_OCTAVE_BANDS];      /**< band levels of B as given */
  /** Tonal balance difference B - A as the buffers are (the tilt an EQ made). */
  double band_diff_db[MIXSTAGE_OCTAVE_BANDS];
  /** B - A after matching B's loudness to A's: what a matched A/B hears
   *  (band_diff_db + match_gain_db). */
  double band_diff_matched_db[MIXSTAGE_OCTAVE_BANDS];
} mixstage_ab_result;

/** Compares two buffers of the same rate.  Stereo figures use channels 0
 *  and 1 (mono buffers read correlation 1, width -INFINITY).
 *  @return MIXSTAGE_OK, MIXSTAGE_ENULL, MIXSTAGE_EINVAL (counts or rate),
 *          MIXSTAGE_ERANGE (either buffer is silent: nothing to match),
 *          MIXSTAGE_ENOMEM. */
MIXSTAGE_EXPORT int mixstage_ab_compare(const float *a, int64_t a_frames, int a_channels,
                                        const float *b, int64_t b_frames, int b_channels,
                                        double rate, mixstage_ab_result *result);

/** Writes "A.<ext>" and "B.<ext>" into the existing directory @p dir with
 *  mixstage_audio_write(): the louder of the two turned down to the quieter's
 *  integrated loudness (never up, so matching cannot clip).
 *  @param cfg          file settings, or NULL for WAV PCM24 with dither
 *  @param gain_a_db, gain_b_db  optional: receive the gains applied (<= 0)
 *  @param err,errlen   optional message buffer
 *  @return as mixstage_ab_compare() and mixstage_audio_write(). */
MIXSTAGE_EXPORT int mixstage_ab_write_pair(const float *a, int64_t a_frames, int a_channels,
                                           const float *b, int64_t b_frames, int b_channels,
                                           double rate, const char *dir,
                                           const mixstage_write_config *cfg, double *gain_a_db,
                                           double *gain_b_db, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
