/* Offline render to memory. */
#include <string.h>
#include "internal.h"

MIXSTAGE_EXPORT void mixstage_render_config_init(mixstage_render_config *cfg) {
  if (!cfg) return;
  memset(cfg, 0, sizeof *cfg);
  cfg->frames = 0;
  cfg->max_tail_frames = -1; /* resolved to 30 s at the graph's rate */
  cfg->remove_latency = 1;
}

static int64_t program_frames(mixstage_graph *g, const mixstage_render_config *cfg) {
  if (cfg->frames > 0) return cfg->frames;
  int64_t longest = 0;
  for (int i = 0; i < g->strip_count; i++) {
    const mixstage__source *s = &g->strips[i]->src;
    if (s->kind == 2 && s->frames < 0)
      return mixstage__fail(g, MIXSTAGE_EINVAL,
                            "strip '%s': its source callback has no known length; give the render a length",
                            g->strips[i]->u.name);
    if (s->kind && s->frames > longest) longest = s->frames;
  }
  return longest;
}

static void resolve(mixstage_graph *g, const mixstage_render_config *in, mixstage_render_config *out) {
  if (in) *out = *in;
  else mixstage_render_config_init(out);
  if (out->max_tail_frames < 0) out->max_tail_frames = (int64_t)(30.0 * g->sample_rate);
}

MIXSTAGE_EXPORT int64_t mixstage_graph_render_frames(mixstage_graph *g, const mixstage_render_config *cfg) {
  if (!g) return MIXSTAGE_ENULL;
  mixstage_render_config c;
  resolve(g, cfg, &c);
  if (c.frames < 0)
    return mixstage__fail(g, MIXSTAGE_ERANGE, "render: length %lld frames is negative", (long long)c.frames);
  if (!g->prepared) {
    int rc = mixstage_graph_prepare(g);
    if (rc != MIXSTAGE_OK) return rc;
  }
  int64_t prog = program_frames(g, &c);
  if (prog < 0) return prog;
  int64_t tail = g->tail < c.max_tail_frames ? g->tail : c.max_tail_frames;
  return prog + tail;
}

MIXSTAGE_EXPORT int mixstage_graph_render(mixstage_graph *g, const mixstage_render_config *cfg, float *out,
                                          int64_t capacity) {
  if (!g) return MIXSTAGE_ENULL;
  if (!out) return mixstage__fail(g, MIXSTAGE_ENULL, "render: output buffer is NULL");
  /* A render always starts from a fresh prepare, so that parameter values,
   * latencies and state are exactly as set: repeated renders are identical. */
  int rc = mixstage_graph_prepare(g);
  if (rc != MIXSTAGE_OK) return rc;
  int64_t total = mixstage_graph_render_frames(g, cfg);
  if (total < 0) return (int)total;
  if (capacity < total)
    return mixstage__fail(g, MIXSTAGE_ERANGE, "render: buffer holds %lld frames, the render needs %lld",
                          (long long)capacity, (long long)total);
  mixstage_render_config c;
  resolve(g, cfg, &c);
  int ch = g->buses[0]->u.channels;
  int64_t skip = c.remove_latency ? g->latency : 0;
  int faults = 0;
  /* Discard the latency at the start by rendering it into a small scratch. */
  float junk[MIXSTAGE__CELL * MIXSTAGE_MAX_CHANNELS];
  while (skip > 0) {
    int n = skip < MIXSTAGE__CELL ? (int)skip : MIXSTAGE__CELL;
    faults += mixstage__process_cells(g, NULL, ch, n, ch, junk);
    skip -= n;
  }
  int64_t done = 0;
  while (done < total) {
    int64_t left = total - done;
    int n = left < 4096 ? (int)left : 4096;
    faults += mixstage__process_cells(g, NULL, ch, n, ch, out + (size_t)done * (size_t)ch);
    done += n;
  }
  if (faults) {
    mixstage_graph_last_error(g);
    return MIXSTAGE_ENUMERIC;
  }
  return MIXSTAGE_OK;
}
