#include "custos_build_info.h"

// A fixed-size, writable array in a section of its own: `make dist` writes the commit into the
// linked binary with `objcopy --update-section .custos_commit=…`, so stamping a release needs no
// rebuild and debug builds never see a changing compiler flag. Not const, so the compiler cannot
// fold the default text into its callers. scripts/dist.sh writes at most 63 bytes and NUL padding.
__attribute__((section(".custos_commit"), used))
char custos_commit[64] = "unknown (development build)";

const char *custos_build_commit(void) {
    return custos_commit;
}
