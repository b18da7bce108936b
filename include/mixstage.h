/* libmixstage: mixing graphs rendered the way producers and mix engineers
 * deliver music.  The umbrella header: include this one. */
#ifndef MIXSTAGE_H
#define MIXSTAGE_H

#include "mixstage/common.h"
#include "mixstage/graph.h"
#include "mixstage/profile.h"
#include "mixstage/io.h"
#include "mixstage/deliver.h"
#include "mixstage/assess.h"
#include "mixstage/graphfile.h"
#include "mixstage/master.h"
#include "mixstage/analysis.h"
#include "mixstage/translate.h"
#include "mixstage/demo.h"
#include "mixstage/edit.h"

#endif
