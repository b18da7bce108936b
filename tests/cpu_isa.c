/* Prints the instruction set the kernels use here (lib/dsp/cpu.h): the
 * CPU's, capped by MIXSTAGE_CPU.  tests/isa_sse2.sh checks that the cap
 * takes effect before it runs the audio suites under it. */
#include <stdio.h>

#include "dsp/cpu.h"

int main(void) {
  printf("%s\n", mixstage__cpu_isa_name());
  return 0;
}
