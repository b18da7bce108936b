/* libmixstage — delivery: a profile rendered to files with a manifest.
 *
 * Tutorial
 * --------
 *     mixstage_deliver_config cfg;
 *     mixstage_deliver_config_init(&cfg);        // 24-bit WAV, TPDF dither
 *     cfg.write.format = MIXSTAGE_FORMAT_FLAC;
 *     int rc = mixstage_graph_deliver(graph, mixstage_profile_find("mix-stems"),
 *                                     "out/mix-stems", &cfg);
 *     if (rc < 0) fprintf(stderr, "%s\n", mixstage_graph_last_error(graph));
 *
 * writes one file per output of the profile (stems, FX stems, the mix, the
 * reference) into the directory, named after the strip, group or return
 * ("Bass.wav", "Plate.wav", "mix.wav", "reference.wav"), and manifest.json
 * describing each file: the profile, which roles were on, bypassed or muted,
 * the latency removed, length, rate, format, peak, true peak, integrated
 * loudness, whether the stem adds up with the others (and why not), and a
 * checksum.  For profiles that deliver stems the manifest's top level also
 * holds the null-check residual (mixstage_graph_null_check()).  The manifest
 * never contradicts it: when the residual is above -100 dBFS (the stem
 * rules' bound), no stem or FX stem says "adds_up": true.  A stem through a
 * nonlinear stage names that stage in its "adds_up_note"; the others say
 * "the stems do not add up as a set (null check R dBFS, above -100 dBFS): "
 * followed by the note of the stage responsible, or that no stage on their
 * paths is known to be nonlinear.
 *
 * File names: the output's name with path separators, control characters,
 * the characters  \ / : * ? " < > |  and a leading dot or trailing dot or
 * space replaced by '_'; names that would collide (compared without regard
 * to ASCII case, as on macOS and Windows volumes) get " 2", " 3"... appended.
 * The manifest's "path" of each file is that name; its "name" is the output's.
 *
 * Length: all outputs have the same length and start at the same sample
 * (latency removed).  A tail ends where every output has stayed below
 * tail_threshold_db (sample peak, all channels) for tail_window_seconds; the
 * files keep that window, so their last tail_window_seconds are below the
 * threshold.  Files are never shorter than the program, and never longer
 * than the program plus render.max_tail_frames; if the cap cut a tail that
 * was still above the threshold, the manifest says "tail_truncated": true.
 *
 * Dither: each file is dithered with its own seed (write.dither_seed mixed
 * with a hash of the file name), so the dither of the stems is uncorrelated
 * and sums like noise (+10 log10 N dB), not coherently (+20 log10 N dB); the
 * same delivery still gives the same bytes.
 *
 * One pass: the profile's outputs and, for profiles with stems, the null
 * check's forks come out of one render of the graph
 * (mixstage_graph_bounce_stream()); each output is written to its staged
 * file as its blocks are produced, and peak, true peak, loudness and
 * loudness range are measured on the way.  Tail frames after the program
 * that are below the threshold in every output wait in memory until a loud
 * frame or the end decides whether they are kept, so the files are exactly
 * those of the rule above.  Memory: a few blocks per output plus, at most,
 * the render's tail cap (render.max_tail_frames) per output, whatever the
 * length of the program.  With write.output_rate converting, every output
 * is held whole and converted at the end (the converter works on files).
 *
 * What is on disk after a delivery (the guarantee):
 *  - Every file is first written completely into a hidden staging
 *    directory in @p dir, ".mixstage-ID.stage", owned by the delivery through
 *    the flock()ed ".mixstage-ID.lock" (made before the stage, removed after
 *    it; ID is unique per delivery run).  The delivery id, written to
 *    manifest.json ("delivery_id") and to each file's entry, is a hash of
 *    the profile and of every file's name and checksum: the same delivery
 *    gives the same manifest, and a different one a different id.
 *  - The commit: the stage's journal ("names") lists the delivery id and the
 *    files and is fsynced; each final name that exists is hard-linked into the stage
 *    ("old"); the audio files are renamed over their final names; then
 *    manifest.json is renamed into place: that rename is the commit point.
 *    The directory is fsynced and the stage removed.
 *  - A delivery that fails or is cancelled puts back whatever it renamed and
 *    removes its stage: the directory is as before.
 *  - A delivery killed at any instant (or a crash): manifest.json is always
 *    one whole manifest, the previous or the new.  Before the commit point
 *    some audio files may already be the new ones; the next delivery into
 *    @p dir (or mixstage_deliver_recover()) settles the dead delivery's
 *    stage first: before the commit point it rolls back (the previous files
 *    return from "old", new files without a previous version go), after it
 *    it only removes the stage.  So once settled the folder holds the
 *    complete previous delivery or the complete new one, never a mix, and no
 *    hidden file.  A stage whose lock is held (a delivery still running, in
 *    this or another process) is never touched.  Until settled, a mix is
 *    detectable: each file's entry carries its checksum and delivery id.
 *  - Files in @p dir that are not part of this delivery are left alone.
 *
 * Progress: render.progress sees one scale for the whole delivery, total =
 * mixstage_graph_render_frames(graph, &cfg->render): done runs monotonically
 * 0 .. total while the pass renders and writes (the files are written during
 * the pass).  The last call is (total, total), made before the commit:
 * returning non-zero from any call cancels the delivery
 * (MIXSTAGE_ECANCELLED) and leaves the directory as it was.
 *
 * A mastered final (mixstage_deliver_config.master): the one render of the
 * graph is the capture of what enters the mastering limiter, and the same
 * scale covers it (0 .. total).  The search's passes over the capture (each
 * a small fraction of a render) then call progress with (total, total),
 * where they may cancel, and the file is written from the best pass.  When
 * the graph cannot be mastered from a capture (see master.h), each pass is
 * a full render and progress stays at its highest point while they run.
 * stage_fn reports "master" (output "mix") as the search starts, instead of
 * "render".
 */
#ifndef MIXSTAGE_DELIVER_H
#define MIXSTAGE_DELIVER_H

#include "common.h"
#include "graph.h"
#include "io.h"
#include "master.h"
#include "profile.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mixstage_deliver_config {
  mixstage_render_config render; /**< length, tail cap, threads, progress and cancellation */
  mixstage_write_config write;   /**< file format, sample type, dither, output rate */
  double tail_threshold_db;      /**< tails end when all outputs stay below this, dBFS,
                                      -200 .. 0; default -90 */
  int write_manifest;            /**< 1 (default): write manifest.json */
  /* added after the first draft (additive): */
  double tail_window_seconds;    /**< how long every output must stay below the threshold
                                      for the tail to end, kept in the files; 0 .. 10 s,
                                      default 0.1 */
  int null_check;                /**< 1 (default): for profiles with stems, measure
                                      the null check (mixstage_graph_null_check()) in
                                      the delivery's own pass and write the residual to
                                      the manifest */
  /** Optional report: after a successful commit, called once per delivered
   *  audio file in manifest order with its path (dir/name), the output's
   *  name, its kind (mixstage_output_kind) and its measurements. */
  void (*file_done)(void *user, const char *path, const char *name, int kind,
                    const mixstage_file_stats *stats);
  void *file_done_user;
  /** Optional: receives the null-check residual in dBFS (-400 for exactly
   *  zero), or NAN when the check did not run.  Written on success. */
  double *null_residual_out;
  /** Optional: what the delivery is doing, for a progress display, naming
   *  the profile: "render" as the pass starts (every output is written
   *  during it, @p output NULL), "file" as each output's file is finished
   *  (@p output: the output's name), "commit" before the commit and "done"
   *  after it.  Called on the caller's thread; informative only (cancel
   *  through render.progress). */
  void (*stage_fn)(void *user, const char *profile, const char *stage, const char *output);
  void *stage_user;
  /** Optional, with the built-in "final" profile only: master to this
   *  loudness target first (mixstage_graph_master()) and deliver the master
   *  found.  The mix is rendered once, up to the mastering limiter, and only
   *  the limiter and what follows it run per attempt; the file is written
   *  from the best attempt, without rendering again.  The file equals, byte
   *  for byte, a delivery of "final" made afterwards (the graph is left at
   *  the master's settings, as mixstage_graph_master() leaves it).  A search
   *  that does not converge delivers nothing and returns MIXSTAGE_ESTATE
   *  (the report still says how close it came).  NULL (default): no master. */
  const mixstage_master_config *master;
  /** Optional: receives the master's report when @c master is set (on
   *  success and on MIXSTAGE_ESTATE). */
  mixstage_master_report *master_report;
} mixstage_deliver_config;

/** Defaults: mixstage_render_config_init(), mixstage_write_config_init(),
 *  -90 dBFS tails held 0.1 s, manifest on, null check on, no report
 *  callbacks.  Accepts NULL. */
MIXSTAGE_EXPORT void mixstage_deliver_config_init(mixstage_deliver_config *cfg);

/** Renders @p profile and writes its outputs and manifest into @p dir (made,
 *  with its parents, if missing), as described above.  @p cfg may be NULL
 *  (defaults).
 *  @return MIXSTAGE_OK;
 *          MIXSTAGE_ENULL (graph, profile or dir NULL);
 *          MIXSTAGE_EINVAL (an empty dir, a config field out of range, a
 *          profile that delivers nothing);
 *          MIXSTAGE_EFORMAT (a format that cannot hold the sample type or
 *          channel count: FLAC with float32 or above 8 channels);
 *          MIXSTAGE_EIO (dir cannot be made or is not a writable directory,
 *          a write or rename fails; the message names the path);
 *          MIXSTAGE_ECANCELLED (the progress callback returned non-zero);
 *          MIXSTAGE_ENOMEM; any prepare or render error;
 *          MIXSTAGE_ENUMERIC if a node produced NaN/Inf during the render:
 *          the delivery is still written and the manifest says
 *          "numeric_faults": true.
 *  The message is in mixstage_graph_last_error().  Edit-time: allocates and
 *  does I/O. */
MIXSTAGE_EXPORT int mixstage_graph_deliver(mixstage_graph *graph, const mixstage_profile *profile,
                                           const char *dir, const mixstage_deliver_config *cfg);

/** Delivers @p n profiles, profiles[j] into dirs[j], from one render of the
 *  graph where their passes coincide: the production mix, the stems and
 *  their reference, the null check and any profile that differs from the
 *  production only in some stages (final: the mix bus's placeholder limiter
 *  and mastering chain) are forks of the same production pass, as within
 *  one delivery.  Each folder gets exactly the files and manifest.json that
 *  mixstage_graph_deliver() of that profile alone gives (byte for byte: the
 *  forks run the same operations on the same samples), so there is one
 *  manifest per delivery, and each folder is committed as that call commits
 *  it (stage, journal, manifest renamed last), one after the other, in the
 *  order given.  Every folder is checked and staged before the pass, so a
 *  failure before the commits (a bad folder, a render error, a cancel)
 *  leaves every folder as it was; a failure in a later folder's commit
 *  leaves the earlier ones delivered.
 *
 *  Not shared (each delivered afterwards with a pass of its own, in the
 *  order given): a final mastered to a target (@p cfg->master; its one
 *  render is the capture of the mastering chain's input), and any profile
 *  with stems after the first (one pass measures one null check).
 *  @p cfg applies to every profile; null_residual_out receives the first
 *  stems profile's residual; render.progress sees the shared pass on one
 *  scale (0 .. mixstage_graph_render_frames()), then each pass of its own
 *  on its own scale.  Folders must differ.
 *  @return as mixstage_graph_deliver() (the first error; MIXSTAGE_ENUMERIC
 *          once everything is delivered); MIXSTAGE_ENULL (a NULL array or
 *          entry); MIXSTAGE_EINVAL (n < 1, two profiles into one folder).
 *  Edit-time: allocates and does I/O. */
MIXSTAGE_EXPORT int mixstage_graph_deliver_profiles(mixstage_graph *graph, const mixstage_profile *const *profiles,
                                                    const char *const *dirs, int n,
                                                    const mixstage_deliver_config *cfg);

/** Writes a bounce already rendered (mixstage_graph_bounce() of @p graph
 *  under @p profile with the render part of @p cfg) as a delivery, without
 *  rendering again: the same files, names, tail and manifest as
 *  mixstage_graph_deliver() gives, and the same commit.  The null check
 *  needs forks of its own, so a delivery from a bounce has
 *  "null_check_residual_dbfs": null.  Progress runs over the bounce's frames.
 *  @return as mixstage_graph_deliver(); MIXSTAGE_ENULL (a NULL bounce);
 *          MIXSTAGE_EINVAL (the bounce's profile name, length or channels do
 *          not match @p profile and this graph under @p cfg; a streamed
 *          bounce, which holds no audio).  Edit-time. */
MIXSTAGE_EXPORT int mixstage_bounce_deliver(mixstage_graph *graph, const mixstage_bounce *bounce,
                                            const mixstage_profile *profile, const char *dir,
                                            const mixstage_deliver_config *cfg);

/** Settles what dead deliveries left in @p dir: a delivery killed before
 *  its commit point is rolled back (the previous files return, its new
 *  files go), one killed after it is completed; their staging directories
 *  and locks are removed.  A delivery still running (it holds its lock) is
 *  left alone.  mixstage_graph_deliver() does this first, so calling it is
 *  needed only to inspect a folder without delivering into it.
 *  @return MIXSTAGE_OK; MIXSTAGE_ENULL; MIXSTAGE_EIO (not a directory).
 *  Edit-time: does I/O. */
MIXSTAGE_EXPORT int mixstage_deliver_recover(const char *dir);

/** The file name (without directory) mixstage_graph_deliver() would give an
 *  output named @p name with extension @p ext ("wav"), before collisions are
 *  resolved: @p name sanitised as described above.  Writes at most @p size
 *  bytes including the terminating NUL.
 *  @return MIXSTAGE_OK; MIXSTAGE_ENULL; MIXSTAGE_ERANGE (@p size too small:
 *          the name is truncated).  Thread-safe, no allocation. */
MIXSTAGE_EXPORT int mixstage_deliver_file_name(const char *name, const char *ext, char *out, size_t size);

#ifdef __cplusplus
}
#endif
#endif
