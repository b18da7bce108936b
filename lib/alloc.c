/* Allocation through the graph's allocator (mixstage_graph_config's alloc
 * and free), for every layer of the library.  Kept apart from the graph
 * model (graph.c) so that the files that only need memory do not depend on
 * it, and apart from the node host (node_host.c, which looks node classes
 * up) so that the nodes and kernels that allocate do not call back up into
 * it.  Edit-time only. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

void *mixstage__calloc(const mixstage__allocator *a, size_t n, size_t size) {
  if (size && n > SIZE_MAX / size) return NULL;
  size_t bytes = n * size;
  if (bytes == 0) bytes = 1;
  void *p = a && a->alloc ? a->alloc(a->user, bytes) : malloc(bytes);
  if (p) memset(p, 0, bytes);
  return p;
}

void mixstage__free(const mixstage__allocator *a, void *p) {
  if (!p) return;
  if (a && a->free) a->free(a->user, p);
  else free(p);
}

void *mixstage__galloc(mixstage_graph *g, size_t n, size_t size) {
  return mixstage__calloc(&g->alloc, n, size);
}

void mixstage__gfree(mixstage_graph *g, void *p) { mixstage__free(&g->alloc, p); }

int mixstage__grow(mixstage_graph *g, void **arr, int *cap, int need, size_t elem) {
  if (need <= *cap) return MIXSTAGE_OK;
  int ncap = *cap ? *cap * 2 : 8;
  while (ncap < need) ncap *= 2;
  void *n = mixstage__galloc(g, (size_t)ncap, elem);
  if (!n) return MIXSTAGE_ENOMEM;
  if (*arr) memcpy(n, *arr, (size_t)*cap * elem);
  mixstage__gfree(g, *arr);
  *arr = n;
  *cap = ncap;
  return MIXSTAGE_OK;
}
