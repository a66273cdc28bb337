#ifndef CUSTOS_BUILD_INFO_H
#define CUSTOS_BUILD_INFO_H

/// The git commit this binary was built from, NUL-terminated: "unknown (development build)"
/// unless `make dist` wrote the commit into the linked release binary (scripts/dist.sh).
const char *custos_build_commit(void);

#endif
