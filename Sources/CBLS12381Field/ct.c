#include "cbls12381_field.h"

#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define CBLS_HAVE_VALGRIND 1
#endif
#endif

#ifdef CBLS_HAVE_VALGRIND
void cbls_ct_poison(const void *p, size_t n) { (void)VALGRIND_MAKE_MEM_UNDEFINED(p, n); }
void cbls_ct_declassify(const void *p, size_t n) { (void)VALGRIND_MAKE_MEM_DEFINED(p, n); }
int cbls_ct_checks_compiled(void) { return 1; }
int cbls_ct_running_on_valgrind(void) { return (int)RUNNING_ON_VALGRIND; }
#else
void cbls_ct_poison(const void *p, size_t n) { (void)p; (void)n; }
void cbls_ct_declassify(const void *p, size_t n) { (void)p; (void)n; }
int cbls_ct_checks_compiled(void) { return 0; }
int cbls_ct_running_on_valgrind(void) { return 0; }
#endif
