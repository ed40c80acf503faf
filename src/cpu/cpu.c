/* cpu.c — instruction-set detection: CPUID says what the core implements,
 * XGETBV says whether the OS saves the wider registers on a context switch.
 * Both are needed before an AVX/AVX-512 kernel may run. */
#include "cpu/kernels.h"

#include <string.h>

#if defined(WF_X86) && (defined(__x86_64__) || defined(__i386__))
#include <cpuid.h>

/* XGETBV(0) = XCR0: the register state components the OS enabled. Written as
 * inline asm so this file needs no -mxsave. Only valid when CPUID.1:ECX.OSXSAVE. */
static uint64_t read_xcr0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (uint64_t)hi << 32 | lo;
}

void wf_cpu_detect(wf_cpu_features *f) {
    memset(f, 0, sizeof *f);
    unsigned a, b, c, d;
    unsigned max_leaf = __get_cpuid_max(0, NULL);
    if (max_leaf < 1 || !__get_cpuid(1, &a, &b, &c, &d)) return;
    const bool osxsave = c >> 27 & 1;
    const bool avx = c >> 28 & 1;
    f->fma = c >> 12 & 1;
    f->f16c = c >> 29 & 1;
    if (osxsave && avx) {
        const uint64_t xcr0 = read_xcr0();
        f->os_avx = (xcr0 & 0x6) == 0x6;             /* XMM and YMM state     */
        f->os_avx512 = f->os_avx && (xcr0 & 0xe0) == 0xe0; /* opmask, ZMM_Hi256, Hi16_ZMM */
    }
    if (max_leaf >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        const unsigned sub_leaves = a;
        f->avx2 = b >> 5 & 1;
        f->avx512f = b >> 16 & 1;
        f->avx512dq = b >> 17 & 1;
        f->avx512bw = b >> 30 & 1;
        f->avx512vl = b >> 31 & 1;
        f->avx512vnni = c >> 11 & 1;
        if (sub_leaves >= 1) {
            __cpuid_count(7, 1, a, b, c, d);
            f->avx512bf16 = a >> 5 & 1;
        }
    }
    /* Without OS support the instructions fault: report them as absent. */
    if (!f->os_avx) f->avx2 = f->fma = f->f16c = false;
    if (!f->os_avx512)
        f->avx512f = f->avx512dq = f->avx512bw = f->avx512vl = f->avx512vnni = f->avx512bf16 = false;
}
#else
void wf_cpu_detect(wf_cpu_features *f) { memset(f, 0, sizeof *f); }
#endif

wf_isa wf_cpu_best_isa(const wf_cpu_features *f) {
    const bool avx2 = f->avx2 && f->fma && f->f16c && f->os_avx;
    /* The AVX-512 file is compiled with F/BW/VL/DQ (+VNNI/BF16 used only when
     * the flags below say so), so all four base subsets are required. */
    if (avx2 && f->os_avx512 && f->avx512f && f->avx512bw && f->avx512vl && f->avx512dq)
        return WF_ISA_AVX512;
    if (avx2) return WF_ISA_AVX2;
    return WF_ISA_SCALAR;
}

const char *wf_isa_name(wf_isa isa) {
    switch (isa) {
    case WF_ISA_SCALAR: return "scalar";
    case WF_ISA_AVX2: return "avx2";
    case WF_ISA_AVX512: return "avx512";
    }
    return "unknown";
}
