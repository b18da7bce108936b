/* The node types, in the order mixstage_node_type_name() lists them.
 * Each class lives in lib/nodes/<name>.c. */
#include <string.h>
#include "node.h"

extern const mixstage__node_class mixstage__gain_class;
extern const mixstage__node_class mixstage__eq_class;
extern const mixstage__node_class mixstage__width_class;
extern const mixstage__node_class mixstage__tilt_eq_class;
extern const mixstage__node_class mixstage__compressor_class;
extern const mixstage__node_class mixstage__gate_class;
extern const mixstage__node_class mixstage__reverb_class;
extern const mixstage__node_class mixstage__delay_class;
extern const mixstage__node_class mixstage__multiband_class;
extern const mixstage__node_class mixstage__console_color_class;
extern const mixstage__node_class mixstage__bus_compressor_class;
extern const mixstage__node_class mixstage__limiter_class;
extern const mixstage__node_class mixstage__saturation_class;
/* REGISTRY-DECL */

const mixstage__node_class *const mixstage__node_classes[] = {
    &mixstage__gain_class,
    &mixstage__eq_class,
    &mixstage__width_class,
    &mixstage__tilt_eq_class,
    &mixstage__compressor_class,
    &mixstage__gate_class,
    &mixstage__reverb_class,
    &mixstage__delay_class,
    &mixstage__multiband_class,
    &mixstage__console_color_class,
    &mixstage__bus_compressor_class,
    &mixstage__limiter_class,
    &mixstage__saturation_class,
    /* REGISTRY-ENTRY */
    NULL,
};

const mixstage__node_class *mixstage__find_node_class(const char *name) {
  if (!name) return NULL;
  for (int i = 0; mixstage__node_classes[i]; i++)
    if (strcmp(mixstage__node_classes[i]->name, name) == 0) return mixstage__node_classes[i];
  return NULL;
}
