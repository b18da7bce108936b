/* libmixstage internal: the body of lib/dsp/mixer.c's kernels, included
 * there once per form with
 *   MIX_NAME(x)  the form's name for x
 *   MIX_ATTR     its target attribute (or nothing)
 *   MIX_VT, MIX_W  its vector of MIX_W floats (float and 1: the scalar form)
 *   MIX_SET1(x)  MIX_VT with every lane x
 *   MIX_ANY_NAN(z)  whether a lane of z (each +0 or NaN) is NaN
 * Each vector lane does what the scalar remainder loops below do to one
 * sample (mixer.h), which is what keeps the forms' bits equal. */

static MIX_ATTR inline MIX_VT MIX_NAME(load)(const float *p) {
  MIX_VT v;
  memcpy(&v, p, sizeof v);
  return v;
}

static MIX_ATTR inline void MIX_NAME(store)(float *p, MIX_VT v) { memcpy(p, &v, sizeof v); }

static MIX_ATTR void MIX_NAME(scale)(float *y, const float *x, float g, int n) {
  int i = 0;
  MIX_VT vg = MIX_SET1(g);
  for (; i + MIX_W <= n; i += MIX_W) MIX_NAME(store)(y + i, MIX_NAME(load)(x + i) * vg);
  for (; i < n; i++) y[i] = x[i] * g;
}

static MIX_ATTR void MIX_NAME(add)(float *acc, const float *x, int n) {
  int i = 0;
  for (; i + MIX_W <= n; i += MIX_W) MIX_NAME(store)(acc + i, MIX_NAME(load)(acc + i) + MIX_NAME(load)(x + i));
  for (; i < n; i++) acc[i] += x[i];
}

/* Eight vectors of sums in flight per visit of an input: one pointer load
 * per 8 MIX_W frames, and the sums stay in registers across the inputs,
 * which are visited two a turn (each sum still adds them in order). */
static MIX_ATTR void MIX_NAME(sum)(float *acc, const float *const *x, int count, int n, int from_zero) {
  int k = 0;
  const MIX_VT zero = MIX_SET1(0.0f);
  for (; k + 8 * MIX_W <= n; k += 8 * MIX_W) {
    float *a = acc + k;
    MIX_VT s0 = from_zero ? zero : MIX_NAME(load)(a), s1 = from_zero ? zero : MIX_NAME(load)(a + MIX_W);
    MIX_VT s2 = from_zero ? zero : MIX_NAME(load)(a + 2 * MIX_W);
    MIX_VT s3 = from_zero ? zero : MIX_NAME(load)(a + 3 * MIX_W);
    MIX_VT s4 = from_zero ? zero : MIX_NAME(load)(a + 4 * MIX_W);
    MIX_VT s5 = from_zero ? zero : MIX_NAME(load)(a + 5 * MIX_W);
    MIX_VT s6 = from_zero ? zero : MIX_NAME(load)(a + 6 * MIX_W);
    MIX_VT s7 = from_zero ? zero : MIX_NAME(load)(a + 7 * MIX_W);
#define MIX_SUM_ADD8(y)                  \
  do {                                   \
    s0 += MIX_NAME(load)(y);             \
    s1 += MIX_NAME(load)(y + MIX_W);     \
    s2 += MIX_NAME(load)(y + 2 * MIX_W); \
    s3 += MIX_NAME(load)(y + 3 * MIX_W); \
    s4 += MIX_NAME(load)(y + 4 * MIX_W); \
    s5 += MIX_NAME(load)(y + 5 * MIX_W); \
    s6 += MIX_NAME(load)(y + 6 * MIX_W); \
    s7 += MIX_NAME(load)(y + 7 * MIX_W); \
  } while (0)
    int q = 0;
    for (; q + 2 <= count; q += 2) {
      const float *y0 = x[q] + k, *y1 = x[q + 1] + k;
      MIX_SUM_ADD8(y0);
      MIX_SUM_ADD8(y1);
    }
    if (q < count) {
      const float *y0 = x[q] + k;
      MIX_SUM_ADD8(y0);
    }
#undef MIX_SUM_ADD8
    MIX_NAME(store)(a, s0);
    MIX_NAME(store)(a + MIX_W, s1);
    MIX_NAME(store)(a + 2 * MIX_W, s2);
    MIX_NAME(store)(a + 3 * MIX_W, s3);
    MIX_NAME(store)(a + 4 * MIX_W, s4);
    MIX_NAME(store)(a + 5 * MIX_W, s5);
    MIX_NAME(store)(a + 6 * MIX_W, s6);
    MIX_NAME(store)(a + 7 * MIX_W, s7);
  }
  /* a cell (32 frames) of a unit that runs cell by cell */
  for (; k + 4 * MIX_W <= n; k += 4 * MIX_W) {
    float *a = acc + k;
    MIX_VT s0 = from_zero ? zero : MIX_NAME(load)(a), s1 = from_zero ? zero : MIX_NAME(load)(a + MIX_W);
    MIX_VT s2 = from_zero ? zero : MIX_NAME(load)(a + 2 * MIX_W);
    MIX_VT s3 = from_zero ? zero : MIX_NAME(load)(a + 3 * MIX_W);
    for (int q = 0; q < count; q++) {
      const float *y = x[q] + k;
      s0 += MIX_NAME(load)(y);
      s1 += MIX_NAME(load)(y + MIX_W);
      s2 += MIX_NAME(load)(y + 2 * MIX_W);
      s3 += MIX_NAME(load)(y + 3 * MIX_W);
    }
    MIX_NAME(store)(a, s0);
    MIX_NAME(store)(a + MIX_W, s1);
    MIX_NAME(store)(a + 2 * MIX_W, s2);
    MIX_NAME(store)(a + 3 * MIX_W, s3);
  }
  for (; k + MIX_W <= n; k += MIX_W) {
    MIX_VT s = from_zero ? zero : MIX_NAME(load)(acc + k);
    for (int q = 0; q < count; q++) s += MIX_NAME(load)(x[q] + k);
    MIX_NAME(store)(acc + k, s);
  }
  for (; k < n; k++) {
    float s = from_zero ? 0.0f : acc[k];
    for (int q = 0; q < count; q++) s += x[q][k];
    acc[k] = s;
  }
}

/* pre, post, unity (mute gain 1: out is post) and ns are constants at each
 * call site, so every variant is a straight loop.  The sums a + b of the
 * frames are added up on the way (one add per vector): NaN and infinity
 * survive addition, so a finite total proves every input finite. */
static MIX_ATTR MIXSTAGE__MIX_INLINE int MIX_NAME(stereo_pass)(const mixstage__mix_stereo *t, int n, const int pre,
                                                               const int post, const int unity, const int ns) {
  const float *xl = t->xl, *xr = t->xr;
  float *ql = t->pre_l, *qr = t->pre_r, *pl = t->post_l, *pr = t->post_r, *ol = t->out_l, *or_ = t->out_r;
  /* the send pointers in locals: a store could otherwise alias *t */
  float *sl0 = ns > 0 ? t->send_l[0] : NULL, *sr0 = ns > 0 ? t->send_r[0] : NULL;
  float *sl1 = ns > 1 ? t->send_l[1] : NULL, *sr1 = ns > 1 ? t->send_r[1] : NULL;
  float gg = t->fader, gl = t->gl, gr = t->gr, w = t->width, mu = t->mute;
  float sg0 = ns > 0 ? t->send_g[0] : 0.0f, sg1 = ns > 1 ? t->send_g[1] : 0.0f;
  MIX_VT vgg = MIX_SET1(gg), vgl = MIX_SET1(gl), vgr = MIX_SET1(gr), vw = MIX_SET1(w), vmu = MIX_SET1(mu);
  MIX_VT half = MIX_SET1(0.5f), vs0 = MIX_SET1(sg0), vs1 = MIX_SET1(sg1);
  MIX_VT total = MIX_SET1(0.0f), total2 = MIX_SET1(0.0f);
  int i = 0;
  /* The frames at j, their a + b added to tot. */
#define MIX_STEREO_VEC(j, tot)                                              \
  do {                                                                      \
    MIX_VT a = MIX_NAME(load)(xl + (j)), b = MIX_NAME(load)(xr + (j));      \
    if (pre) {                                                              \
      MIX_NAME(store)(ql + (j), a);                                         \
      MIX_NAME(store)(qr + (j), b);                                         \
    }                                                                       \
    MIX_VT ab = a + b;                                                      \
    tot += ab;                                                              \
    MIX_VT mid = half * ab, side = half * (a - b) * vw;                     \
    MIX_VT l = (mid + side) * vgl * vgg, r = (mid - side) * vgr * vgg;      \
    if (post) {                                                             \
      MIX_NAME(store)(pl + (j), l);                                         \
      MIX_NAME(store)(pr + (j), r);                                         \
    }                                                                       \
    MIX_NAME(store)(ol + (j), unity ? l : l * vmu);                         \
    MIX_NAME(store)(or_ + (j), unity ? r : r * vmu);                        \
    if (ns > 0) {                                                           \
      MIX_NAME(store)(sl0 + (j), l * vs0);                                  \
      MIX_NAME(store)(sr0 + (j), r * vs0);                                  \
    }                                                                       \
    if (ns > 1) {                                                           \
      MIX_NAME(store)(sl1 + (j), l * vs1);                                  \
      MIX_NAME(store)(sr1 + (j), r * vs1);                                  \
    }                                                                       \
  } while (0)
  /* two vectors a turn (the loop's own instructions are a sixth of a
   * vector's work); the check's sums in two registers, as any order of
   * them proves the same */
  for (; i + 2 * MIX_W <= n; i += 2 * MIX_W) {
    MIX_STEREO_VEC(i, total);
    MIX_STEREO_VEC(i + MIX_W, total2);
  }
  if (i + MIX_W <= n) {
    MIX_STEREO_VEC(i, total);
    i += MIX_W;
  }
#undef MIX_STEREO_VEC
  total += total2;
  float rest = 0.0f;
  for (; i < n; i++) {
    float a = xl[i], b = xr[i];
    if (pre) {
      ql[i] = a;
      qr[i] = b;
    }
    float ab = a + b;
    rest += ab;
    float mid = 0.5f * ab, side = 0.5f * (a - b) * w;
    float l = (mid + side) * gl * gg, r = (mid - side) * gr * gg;
    if (post) {
      pl[i] = l;
      pr[i] = r;
    }
    ol[i] = unity ? l : l * mu;
    or_[i] = unity ? r : r * mu;
    if (ns > 0) {
      sl0[i] = l * sg0;
      sr0[i] = r * sg0;
    }
    if (ns > 1) {
      sl1[i] = l * sg1;
      sr1[i] = r * sg1;
    }
  }
  /* x - x is +0 for finite x, NaN for infinity and NaN */
  return MIX_ANY_NAN(total - total) || !(rest - rest == 0.0f);
}

/* One function per variant: v = (pre * 2 + post) * 2 + unity, k sends. */
#define MIX_VARIANT(v, k)                                                               \
  static MIX_ATTR int MIX_NAME(stereo_##v##_##k)(const mixstage__mix_stereo *t, int n) { \
    return MIX_NAME(stereo_pass)(t, n, (v) >> 2, ((v) >> 1) & 1, (v) & 1, k);          \
  }
#define MIX_VARIANTS(v) MIX_VARIANT(v, 0) MIX_VARIANT(v, 1) MIX_VARIANT(v, 2)
MIX_VARIANTS(0) MIX_VARIANTS(1) MIX_VARIANTS(2) MIX_VARIANTS(3)
MIX_VARIANTS(4) MIX_VARIANTS(5) MIX_VARIANTS(6) MIX_VARIANTS(7)
#undef MIX_VARIANTS
#undef MIX_VARIANT
#define MIX_ROW(v) MIX_NAME(stereo_##v##_0), MIX_NAME(stereo_##v##_1), MIX_NAME(stereo_##v##_2)
static mixstage__stereo_fn *const MIX_NAME(stereo_table)[24] = {MIX_ROW(0), MIX_ROW(1), MIX_ROW(2), MIX_ROW(3),
                                                               MIX_ROW(4), MIX_ROW(5), MIX_ROW(6), MIX_ROW(7)};
#undef MIX_ROW

static mixstage__stereo_fn *MIX_NAME(stereo_for)(const mixstage__mix_stereo *t) {
  int variant = ((t->pre_l ? 1 : 0) * 2 + (t->post_l ? 1 : 0)) * 2 + (t->mute == 1.0f);
  return MIX_NAME(stereo_table)[variant * 3 + (t->sends < 0 ? 0 : t->sends > 2 ? 2 : t->sends)];
}

static MIX_ATTR int MIX_NAME(stereo)(const mixstage__mix_stereo *t, int n) { return MIX_NAME(stereo_for)(t)(t, n); }
