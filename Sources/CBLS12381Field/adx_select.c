// Which Montgomery product runs: MULX/ADCX/ADOX when CPUID reports BMI2 and ADX, unless a test
// or the constant-time check selects the other one.
#include "field_internal.h"

#ifdef CBLS_HAVE_ADX_PATH
#include <cpuid.h>

static int cpu_has_adx = 0;
int use_adx = 0;

__attribute__((constructor)) static void detect_adx(void) {
    unsigned eax, ebx, ecx, edx;
    if (__get_cpuid_max(0, 0) >= 7) {
        __cpuid_count(7, 0, eax, ebx, ecx, edx);
        // CPUID.(EAX=7,ECX=0):EBX bit 8 = BMI2 (MULX), bit 19 = ADX.
        cpu_has_adx = ((ebx >> 8) & 1) && ((ebx >> 19) & 1);
    }
    (void)eax; (void)ecx; (void)edx;
    __atomic_store_n(&use_adx, cpu_has_adx, __ATOMIC_RELAXED);
}

int cbls_fp_cpu_has_adx(void) { return cpu_has_adx; }
int cbls_fp_uses_adx(void) { return __atomic_load_n(&use_adx, __ATOMIC_RELAXED); }
void cbls_fp_select_adx(int enable) { __atomic_store_n(&use_adx, enable ? 1 : 0, __ATOMIC_RELAXED); }
#else
int cbls_fp_cpu_has_adx(void) { return 0; }
int cbls_fp_uses_adx(void) { return 0; }
void cbls_fp_select_adx(int enable) { (void)enable; }
#endif
