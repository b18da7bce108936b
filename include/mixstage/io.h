/* libmixstage — audio files, measurement and delivery manifests.
 *
 * Tutorial
 * --------
 * The building blocks for rendering and delivering stems: read a source file
 * at the graph's rate, write a render atomically with dither, measure it
 * (peak, true peak, loudness per ITU-R BS.1770 / EBU R128) and describe every
 * delivered file in a JSON manifest.
 *
 *     float *src; int64_t n; int ch; double file_rate; char err[256];
 *     int st = mixstage_audio_read("vox.flac", 48000, &src, &n, &ch,
 *                                  &file_rate, err, sizeof err);
 *     if (st < 0) { fprintf(stderr, "%s\n", err); ... }
 *     ...render...
 *     mixstage_write_config wc;
 *     mixstage_write_config_init(&wc);           // WAV, PCM24, TPDF dither
 *     mixstage_file_stats stats;
 *     st = mixstage_audio_write("stems/vox.wav", out, frames, 2, 48000, &wc,
 *                               &stats, err, sizeof err);
 *     mixstage_manifest *m = mixstage_manifest_create(&st);
 *     mixstage_manifest_set_string(m, "graph", "Song");
 *     const char *on[] = {"strip", "design", "bus-color", NULL};
 *     const char *byp[] = {"bus-dynamics", "placeholder-limiter", NULL};
 *     const char *mut[] = {"mix-fx", NULL};
 *     int i = mixstage_manifest_add_file(m, "stems/vox.wav", "stem", "mix-stems",
 *                                        &stats, on, byp, mut, 0);
 *     mixstage_manifest_file_set_number(m, i, "null_residual_dbfs", -140.2);
 *     mixstage_manifest_write(m, "stems/manifest.json", err, sizeof err);
 *     mixstage_manifest_destroy(m);
 *     mixstage_free(src);
 *
 * Every call in this module is edit-time: it may allocate and do I/O, and
 * must not be called from an audio thread.  Calls on different objects and
 * files may run concurrently from different threads (there is no global
 * state apart from an atomic counter used to name temporary files).
 *
 * Buffers are interleaved 32-bit float, counted in frames (one frame = one
 * sample per channel).  Full scale is +-1.0.
 *
 * Errors: functions return MIXSTAGE_OK (0) or a negative mixstage_status.
 * Those that take @p err / @p errlen also write a sentence naming the file at
 * fault there ("file 'x.wav': no such file"); @p err may be NULL.
 */
#ifndef MIXSTAGE_IO_H
#define MIXSTAGE_IO_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** File containers. */
typedef enum mixstage_file_format {
  MIXSTAGE_FORMAT_WAV = 0,  /**< RIFF WAVE; WAVE_FORMAT_EXTENSIBLE above 2
                                 channels, RF64 when the data exceeds 4 GiB */
  MIXSTAGE_FORMAT_AIFF = 1, /**< AIFF (AIFF-C for float) */
  MIXSTAGE_FORMAT_FLAC = 2  /**< FLAC, integer sample types only */
} mixstage_file_format;

/** Sample types as stored in a file. */
typedef enum mixstage_sample_type {
  MIXSTAGE_SAMPLE_PCM16 = 0,  /**< 16-bit integer */
  MIXSTAGE_SAMPLE_PCM24 = 1,  /**< 24-bit integer */
  MIXSTAGE_SAMPLE_FLOAT32 = 2 /**< IEEE-754 binary32, stored unclipped */
} mixstage_sample_type;

/** Name of a format ("wav", "aiff", "flac") or NULL if out of range. */
MIXSTAGE_EXPORT const char *mixstage_file_format_name(int format);
/** Name of a sample type ("pcm16", "pcm24", "float32") or NULL if out of range. */
MIXSTAGE_EXPORT const char *mixstage_sample_type_name(int sample_type);

/** Frees a buffer or string returned by this module (mixstage_audio_read(),
 *  mixstage_manifest_to_string()).  Accepts NULL. */
MIXSTAGE_EXPORT void mixstage_free(void *ptr);

/* ---- reading ------------------------------------------------------------ */

/** Reads a whole audio file in any format libsndfile understands (WAV, RF64,
 *  AIFF, FLAC, Ogg, CAF, ...), converting its sample rate to @p target_rate
 *  with libsamplerate's SRC_SINC_BEST_QUALITY when the rates differ.
 *  Integer samples are scaled so that full scale is +-1.0 (16-bit: 1/32768).
 *
 *  The converted length is round(frames * target_rate / file_rate) frames,
 *  time-aligned with the source (the converter's delay is compensated).
 *
 *  @param path          file to read
 *  @param target_rate   Hz, 0 to keep the file's rate; else such that the
 *                       ratio target/file lies within 1/256 .. 256
 *  @param out           receives a buffer of *frames x *channels interleaved
 *                       floats; free it with mixstage_free().  NULL on error.
 *                       A file with no frames gives a valid 1-sample buffer.
 *  @param frames        receives the frame count (after conversion)
 *  @param channels      receives the channel count
 *  @param file_rate     receives the file's own rate; may be NULL
 *  @param err,errlen    optional message buffer
 *  @return MIXSTAGE_OK;
 *          MIXSTAGE_ENULL if path, out, frames or channels is NULL;
 *          MIXSTAGE_EINVAL if target_rate is negative, not finite, or too far
 *          from the file's rate;
 *          MIXSTAGE_ENOTFOUND if the file does not exist;
 *          MIXSTAGE_EFORMAT if libsndfile cannot decode it;
 *          MIXSTAGE_EIO on a read error or permission denied;
 *          MIXSTAGE_ENOMEM if memory runs out. */
MIXSTAGE_EXPORT int mixstage_audio_read(const char *path, double target_rate, float **out,
                                        int64_t *frames, int *channels, double *file_rate,
                                        char *err, size_t errlen);

/* ---- measurement -------------------------------------------------------- */

/** Measurements of a buffer or a file.  Levels of silence are -INFINITY
 *  (written to a manifest as null). */
typedef struct mixstage_file_stats {
  int64_t frames;             /**< length in frames */
  double seconds;             /**< frames / sample_rate */
  double sample_rate;         /**< Hz */
  int channels;               /**< channel count */
  int format;                 /**< mixstage_file_format, or -1 for a buffer */
  int sample_type;            /**< mixstage_sample_type the checksum covers */
  double peak_dbfs;           /**< highest |sample|, dBFS (1.0 = 0 dBFS) */
  double true_peak_dbtp;      /**< BS.1770-4 Annex 2 true peak (the same 4x
                                   interpolator as the meters of analysis.h), dBTP */
  double integrated_lufs;     /**< gated integrated loudness, LUFS */
  double loudness_range_lu;   /**< EBU Tech 3342 loudness range, LU */
  double momentary_max_lufs;  /**< max momentary (400 ms) loudness, LUFS */
  double short_term_max_lufs; /**< max short-term (3 s) loudness, LUFS */
  double rms_dbfs;            /**< unweighted RMS over all samples, dBFS (a full-scale
                                   sine reads -3.01; no AES17 +3 dB offset) */
  int64_t clipped_samples;    /**< samples (not frames) clamped to full scale when
                                   converting to an integer type; for FLOAT32, samples
                                   beyond +-1.0 (stored unclipped) */
  /** 64-bit FNV-1a hash of the samples as stored: interleaved, each sample as
   *  little-endian two's complement of 2 bytes (PCM16) or 3 bytes (PCM24), or
   *  as little-endian IEEE-754 binary32 (FLOAT32), whatever the container's
   *  byte order.  The same audio thus hashes alike in WAV, AIFF and FLAC. */
  uint64_t checksum;
} mixstage_file_stats;

/** Measures an interleaved float buffer.  The momentary and short-term
 *  maxima are read every 100 ms (the 10 Hz of EBU Tech 3341) from full
 *  windows; a buffer shorter than a window reads once at its end, the window
 *  padded with silence.  Loudness channel weights follow BS.1770-4: 1-6
 *  channels in the order L R C LFE Ls Rs; 8 channels as 7.1 (L R C LFE Lrs
 *  Rrs Lss Rss); 12 as 7.1.4 (7.1 then Ltf Rtf Ltr Rtr).  The checksum treats
 *  the data as FLOAT32; clipped_samples counts samples beyond +-1.0.
 *  Frames, not samples.
 *  @param data      frames x channels interleaved floats (may be NULL if frames is 0)
 *  @param frames    frame count, >= 0
 *  @param channels  1 .. 64
 *  @param rate      Hz, 8000 .. 768000
 *  @param stats     receives the measurements
 *  @return MIXSTAGE_OK; MIXSTAGE_ENULL; MIXSTAGE_EINVAL for a bad count or
 *          rate; MIXSTAGE_ENOMEM. */
MIXSTAGE_EXPORT int mixstage_measure(const float *data, int64_t frames, int channels, double rate,
                                     mixstage_file_stats *stats);

/** Measures a file as stored: integer files are read as integers, so the
 *  checksum equals the one mixstage_audio_write() reported.  clipped_samples
 *  counts samples at integer full scale (positive or negative) for PCM files.
 *  @return as mixstage_audio_read(), plus MIXSTAGE_EFORMAT for a sample type
 *          other than PCM16, PCM24 or FLOAT32. */
MIXSTAGE_EXPORT int mixstage_measure_file(const char *path, mixstage_file_stats *stats, char *err,
                                          size_t errlen);

/* ---- writing ------------------------------------------------------------ */

/** How to write a file; fill with mixstage_write_config_init(). */
typedef struct mixstage_write_config {
  int format;         /**< mixstage_file_format; default WAV */
  int sample_type;    /**< mixstage_sample_type; default PCM24 */
  int dither;         /**< 1: TPDF dither of +-1 LSB before rounding to an
                           integer type (ignored for FLOAT32); default 1 */
  uint64_t dither_seed; /**< seed of the dither generator: the same seed and
                             audio give the same file; default 0x6d69787374616765 */
  double output_rate; /**< Hz; 0 (default) writes at the buffer's rate, else
                           converts with SRC_SINC_BEST_QUALITY first */
} mixstage_write_config;

/** Fills @p cfg with the defaults.  Accepts NULL (does nothing). */
MIXSTAGE_EXPORT void mixstage_write_config_init(mixstage_write_config *cfg);

/** Writes an interleaved float buffer to @p path atomically: the data goes
 *  to a temporary file ".NAME.XXXXXXXX.tmp" in the same directory, which is
 *  flushed to disk (fsync) and renamed over @p path only when complete.  On
 *  any failure the temporary file is removed and a previous file at @p path
 *  is left untouched.  A new file gets the mode 0666 less the umask; a
 *  replaced file keeps its mode.
 *
 *  Conversion to integers rounds to nearest after optional TPDF dither (the
 *  sum of two independent uniform +-0.5 LSB values: triangular, +-1 LSB) and
 *  clamps, never wraps, at full scale (-1.0 .. 1 - 1 LSB).
 *
 *  @param path        target file
 *  @param data        frames x channels interleaved floats (NULL allowed if frames is 0)
 *  @param frames      frame count, >= 0
 *  @param channels    1 .. 64 (FLAC: 1 .. 8)
 *  @param rate        Hz of @p data, 8000 .. 768000 (integer-valued unless converted)
 *  @param cfg         settings; NULL for the defaults
 *  @param stats_out   optional: measurements of the data as written (after
 *                     rate conversion and quantisation)
 *  @param err,errlen  optional message buffer
 *  @return MIXSTAGE_OK;
 *          MIXSTAGE_ENULL if path is NULL, or data is NULL with frames > 0;
 *          MIXSTAGE_EINVAL for a bad frame count, channel count, rate or
 *          config field;
 *          MIXSTAGE_EFORMAT for a combination the format cannot hold (FLAC
 *          with FLOAT32, FLAC above 8 channels);
 *          MIXSTAGE_EIO if the directory is missing or not writable, the disk
 *          is full, or a write, flush or rename fails;
 *          MIXSTAGE_ENOMEM if memory runs out. */
MIXSTAGE_EXPORT int mixstage_audio_write(const char *path, const float *data, int64_t frames,
                                         int channels, double rate,
                                         const mixstage_write_config *cfg,
                                         mixstage_file_stats *stats_out, char *err,
                                         size_t errlen);

/* ---- manifest ----------------------------------------------------------- */

/** A JSON description of a delivery: top-level information plus one entry
 *  per file.  Layout (keys in insertion order, no date, so the same render
 *  gives the same bytes):
 *
 *      { "manifest_version": 2, "generator": "libmixstage X.Y.Z",
 *        ...top-level keys set by the caller...,
 *        "files": [ { "path": "...", "kind": "stem", "profile": "mix-stems",
 *                     "format": "wav", "sample_type": "pcm24",
 *                     "sample_rate": 48000, "channels": 2, "frames": ...,
 *                     "seconds": ..., "latency_removed_frames": 0,
 *                     "roles": { "on": [...], "bypass": [...], "mute": [...] },
 *                     "peak_dbfs": ..., "true_peak_dbtp": ...,
 *                     "integrated_lufs": ..., "loudness_range_lu": ...,
 *                     "momentary_max_lufs": ..., "short_term_max_lufs": ...,
 *                     "rms_dbfs": ..., "clipped_samples": ...,
 *                     "checksum": "fnv1a64:0123456789abcdef",
 *                     ...keys set with mixstage_manifest_file_set_*... } ] }
 *
 *  Levels that are -INFINITY (silence) are written as null.  Numbers are
 *  written with 12 significant digits.
 *
 *  The roles of a file are listed under the actions' own words, "on",
 *  "bypass" and "mute", as profiles and graph files spell them (and so are
 *  the values of the "profile_actions" object a delivery writes): manifest
 *  version 2.  Version 1 manifests wrote "bypassed" and "muted" there; the
 *  bindings' read_manifest() reads both versions and returns the current
 *  form. */
typedef struct mixstage_manifest mixstage_manifest;

/** Creates an empty manifest.
 *  @param error  optional: receives MIXSTAGE_OK or MIXSTAGE_ENOMEM
 *  @return the manifest, or NULL. */
MIXSTAGE_EXPORT mixstage_manifest *mixstage_manifest_create(int *error);
/** Destroys a manifest; accepts NULL. */
MIXSTAGE_EXPORT void mixstage_manifest_destroy(mixstage_manifest *m);

/** Sets a top-level key (replacing a previous value).  The keys
 *  "manifest_version", "generator" and "files" are reserved.
 *  @return MIXSTAGE_OK; MIXSTAGE_ENULL; MIXSTAGE_EINVAL for a reserved or
 *          empty key, or a non-finite number; MIXSTAGE_ENOMEM. */
MIXSTAGE_EXPORT int mixstage_manifest_set_string(mixstage_manifest *m, const char *key,
                                                 const char *value);
/** As mixstage_manifest_set_string(), for a number. */
MIXSTAGE_EXPORT int mixstage_manifest_set_number(mixstage_manifest *m, const char *key,
                                                 double value);
/** As mixstage_manifest_set_string(), for an integer. */
MIXSTAGE_EXPORT int mixstage_manifest_set_integer(mixstage_manifest *m, const char *key,
                                                  int64_t value);
/** As mixstage_manifest_set_string(), for any JSON value given as text
 *  (an object describing a profile, an array...).
 *  @return also MIXSTAGE_EFORMAT if @p json is not valid JSON. */
MIXSTAGE_EXPORT int mixstage_manifest_set_json(mixstage_manifest *m, const char *key,
                                               const char *json);

/** Adds a file entry.
 *  @param path      path of the file relative to the manifest (not empty)
 *  @param kind      "stem", "mix", "reference" or "fx-return"
 *  @param profile   name of the render profile (not empty)
 *  @param stats     the file's measurements (from mixstage_audio_write())
 *  @param roles_on, roles_bypassed, roles_muted
 *                   NULL-terminated arrays of role names (mixstage_role_name());
 *                   NULL for none; written as "roles": {"on", "bypass", "mute"}
 *  @param latency_removed_frames  frames of latency compensated at the start (>= 0)
 *  @return the entry's index (>= 0); MIXSTAGE_ENULL; MIXSTAGE_EINVAL for an
 *          empty path or profile, an unknown kind, a negative latency;
 *          MIXSTAGE_ENOTFOUND for an unknown role name; MIXSTAGE_ENOMEM. */
MIXSTAGE_EXPORT int mixstage_manifest_add_file(mixstage_manifest *m, const char *path,
                                               const char *kind, const char *profile,
                                               const mixstage_file_stats *stats,
                                               const char *const *roles_on,
                                               const char *const *roles_bypassed,
                                               const char *const *roles_muted,
                                               int64_t latency_removed_frames);
/** Number of file entries (0 for NULL). */
MIXSTAGE_EXPORT int mixstage_manifest_file_count(const mixstage_manifest *m);

/** Sets (or replaces) a key of file entry @p index: the extension point for
 *  later fields such as a null-test residual.  Every key may be replaced
 *  except "path".
 *  @return MIXSTAGE_OK; MIXSTAGE_ENULL; MIXSTAGE_ERANGE for a bad index;
 *          MIXSTAGE_EINVAL for an empty key, "path", or a non-finite number;
 *          MIXSTAGE_ENOMEM. */
MIXSTAGE_EXPORT int mixstage_manifest_file_set_string(mixstage_manifest *m, int index,
                                                      const char *key, const char *value);
/** As mixstage_manifest_file_set_string(), for a number. */
MIXSTAGE_EXPORT int mixstage_manifest_file_set_number(mixstage_manifest *m, int index,
                                                      const char *key, double value);
/** As mixstage_manifest_file_set_string(), for an integer. */
MIXSTAGE_EXPORT int mixstage_manifest_file_set_integer(mixstage_manifest *m, int index,
                                                       const char *key, int64_t value);
/** As mixstage_manifest_file_set_string(), for JSON text; MIXSTAGE_EFORMAT if
 *  it does not parse. */
MIXSTAGE_EXPORT int mixstage_manifest_file_set_json(mixstage_manifest *m, int index,
                                                    const char *key, const char *json);

/** The manifest as indented JSON text ending in a newline; free with
 *  mixstage_free().  NULL if @p m is NULL or memory runs out. */
MIXSTAGE_EXPORT char *mixstage_manifest_to_string(const mixstage_manifest *m);

/** Writes the manifest to @p path atomically (temporary file, fsync, rename,
 *  as mixstage_audio_write()).
 *  @return MIXSTAGE_OK; MIXSTAGE_ENULL; MIXSTAGE_EIO; MIXSTAGE_ENOMEM. */
MIXSTAGE_EXPORT int mixstage_manifest_write(const mixstage_manifest *m, const char *path,
                                            char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
